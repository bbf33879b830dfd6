package check_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/replication"
	"github.com/pgmimeo/pgmimeo/replication/check"
)

const preflightDDL = `CREATE SCHEMA "Src Schema";
CREATE TABLE "Src Schema"."Orders" (id bigint PRIMARY KEY, updated timestamptz, seq int, note text);
CREATE TABLE "Src Schema".nokey (a int, b text);
CREATE TABLE "Src Schema".uniq (a int NOT NULL, b text, UNIQUE (a));
CREATE VIEW "Src Schema".v AS SELECT * FROM "Src Schema"."Orders";`

var srcOrders = replication.T("Src Schema", "Orders")

// preflightRole makes a role with everything any kind needs on
// "Src Schema"."Orders" except what lacking names, and returns it with a
// pool connected as it.
func preflightRole(t *testing.T, b *pgtest.Bundle, lacking string) (pgtest.Role, *preflightPool) {
	t.Helper()
	attrs := []string{"REPLICATION"}
	if lacking == "replication" {
		attrs = nil
	}
	r := b.CreateRole(attrs...)
	q := replication.QuoteIdent(r.Name)
	grants := map[string]string{
		"usage":       `GRANT USAGE ON SCHEMA "Src Schema" TO ` + q,
		"select":      `GRANT SELECT ON ALL TABLES IN SCHEMA "Src Schema" TO ` + q,
		"trigger":     `GRANT TRIGGER ON "Src Schema"."Orders" TO ` + q,
		"schema":      `CREATE SCHEMA "queue of ` + r.Name + `" AUTHORIZATION ` + q,
		"publication": `CREATE PUBLICATION pgmimeo FOR TABLE "Src Schema"."Orders"`,
	}
	for what, sql := range grants {
		if what != lacking {
			pgtest.MustExec(t, b.Source, sql)
		}
	}
	return r, &preflightPool{b: b, role: r}
}

type preflightPool struct {
	b    *pgtest.Bundle
	role pgtest.Role
}

func (p *preflightPool) run(t *testing.T, table replication.Table, cfg *check.PreflightConfig) *check.PreflightReport {
	t.Helper()
	pool := pgtest.Pool(t, p.b.DSN(p.b.SourceDB, p.role))
	rep, err := check.Preflight(context.Background(), pool, table, cfg)
	require.NoError(t, err)
	return rep
}

type kindKey struct {
	kind    replication.Kind
	logical bool
}

func impossible(rep *check.PreflightReport) map[kindKey][]check.Requirement {
	out := map[kindKey][]check.Requirement{}
	for _, k := range rep.Kinds {
		if !k.Possible {
			for _, m := range k.Missing {
				out[kindKey{k.Kind, k.Logical}] = append(out[kindKey{k.Kind, k.Logical}], m.Requirement)
			}
		}
	}
	return out
}

func allKinds(reqs ...check.Requirement) map[kindKey][]check.Requirement {
	out := map[kindKey][]check.Requirement{}
	for _, k := range []kindKey{{replication.KindSnapshot, false}, {replication.KindTableReload, false},
		{replication.KindInserterTime, false}, {replication.KindInserterSerial, false},
		{replication.KindUpdaterTime, false}, {replication.KindUpdaterSerial, false},
		{replication.KindDML, false}, {replication.KindLogDel, false}, {replication.KindDML, true}, {replication.KindLogDel, true}} {
		out[k] = reqs
	}
	return out
}

func checkOf(t *testing.T, rep *check.PreflightReport, req check.Requirement) check.Check {
	t.Helper()
	for _, c := range rep.Checks {
		if c.Requirement == req {
			return c
		}
	}
	t.Fatalf("no check %q", req)
	return check.Check{}
}

// A role lacking each privilege in turn: the kinds that need it become
// impossible, the fix is the exact statement, and running that statement
// (as a superuser) makes every kind possible again.
func TestPreflightRoleLackingEachPrivilege(t *testing.T) {
	t.Parallel()
	trig := []kindKey{{replication.KindDML, false}, {replication.KindLogDel, false}}
	logical := []kindKey{{replication.KindDML, true}, {replication.KindLogDel, true}}
	only := func(keys []kindKey, req check.Requirement) map[kindKey][]check.Requirement {
		out := map[kindKey][]check.Requirement{}
		for _, k := range keys {
			out[k] = []check.Requirement{req}
		}
		return out
	}
	for _, tc := range []struct {
		lacking string
		req     check.Requirement
		fix     func(role, db string) string
		want    map[kindKey][]check.Requirement
	}{
		{"usage", check.ReqSchemaUsage, func(r, _ string) string { return `GRANT USAGE ON SCHEMA "Src Schema" TO "` + r + `";` },
			allKinds(check.ReqSchemaUsage)},
		{"select", check.ReqSelect, func(r, _ string) string { return `GRANT SELECT ON "Src Schema"."Orders" TO "` + r + `";` },
			allKinds(check.ReqSelect)},
		{"trigger", check.ReqTrigger, func(r, _ string) string { return `GRANT TRIGGER ON "Src Schema"."Orders" TO "` + r + `";` },
			only(trig, check.ReqTrigger)},
		{"schema", check.ReqQueueSchema, func(r, db string) string { return `GRANT CREATE ON DATABASE "` + db + `" TO "` + r + `";` },
			only(trig, check.ReqQueueSchema)},
		{"replication", check.ReqReplication, func(r, _ string) string { return `ALTER ROLE "` + r + `" REPLICATION;` },
			only(logical, check.ReqReplication)},
		{"publication", check.ReqPublication, func(string, string) string {
			return `as the table's owner: CREATE PUBLICATION "pgmimeo" FOR TABLE "Src Schema"."Orders";`
		}, only(logical, check.ReqPublication)},
	} {
		t.Run(tc.lacking, func(t *testing.T) {
			t.Parallel()
			b := pgtest.Setup(t)
			pgtest.MustExec(t, b.Source, preflightDDL)
			role, p := preflightRole(t, b, tc.lacking)
			rep := p.run(t, srcOrders, nil)
			require.Equal(t, role.Name, rep.Role)
			require.Equal(t, []string{"id"}, rep.Key)
			require.Equal(t, []string{"updated"}, rep.TimeControls)
			require.Equal(t, []string{"id", "seq"}, rep.SerialControls)
			require.Equal(t, tc.want, impossible(rep))
			ch := checkOf(t, rep, tc.req)
			require.False(t, ch.OK)
			want := tc.fix(role.Name, b.SourceDB)
			require.Equal(t, want, ch.Fix)

			err := rep.Require(replication.KindDML, tc.req == check.ReqReplication || tc.req == check.ReqPublication)
			require.ErrorIs(t, err, replication.ErrPrivilege)
			var tabErr *replication.TableError
			require.ErrorAs(t, err, &tabErr)
			require.Equal(t, srcOrders, tabErr.Table)
			require.Contains(t, tabErr.Fix, want)
			require.Contains(t, err.Error(), string(tc.req))

			// The fix, run as it says, makes every kind possible.
			stmt := strings.TrimPrefix(want, "as the table's owner: ")
			stmt = stmt[:strings.Index(stmt, ";")]
			pgtest.MustExec(t, b.Source, stmt)
			rep = p.run(t, srcOrders, nil)
			require.Empty(t, impossible(rep))
			require.NoError(t, rep.Require(replication.KindDML, false))
			require.NoError(t, rep.Require(replication.KindLogDel, true))
		})
	}
}

// Keys, control columns, replica identity, views and a column filter.
func TestPreflightTableShapes(t *testing.T) {
	t.Parallel()
	b := pgtest.Setup(t)
	pgtest.MustExec(t, b.Source, preflightDDL)
	role, p := preflightRole(t, b, "")
	q := replication.QuoteIdent(role.Name)
	ctx := context.Background()

	// No key, no timestamp column: only full pulls and the serial inserter.
	nokey := replication.T("Src Schema", "nokey")
	rep := p.run(t, nokey, nil)
	require.Nil(t, rep.Key)
	require.Equal(t, map[kindKey][]check.Requirement{
		{replication.KindInserterTime, false}:  {check.ReqTimeControl},
		{replication.KindUpdaterTime, false}:   {check.ReqKey, check.ReqTimeControl},
		{replication.KindUpdaterSerial, false}: {check.ReqKey},
		{replication.KindDML, false}:           {check.ReqKey, check.ReqTrigger},
		{replication.KindLogDel, false}:        {check.ReqKey, check.ReqTrigger},
		{replication.KindDML, true}:            {check.ReqKey, check.ReqPublication, check.ReqReplicaIdentity},
		{replication.KindLogDel, true}:         {check.ReqKey, check.ReqPublication, check.ReqReplicaIdentity},
	}, impossible(rep))
	require.Equal(t, `as the table's owner: ALTER TABLE "Src Schema"."nokey" ADD PRIMARY KEY (<key columns>);`, checkOf(t, rep, check.ReqKey).Fix)
	err := rep.Require(replication.KindUpdaterTime, false)
	require.ErrorIs(t, err, replication.ErrNoKey)
	require.ErrorIs(t, err, replication.ErrColumnNotFound)
	require.NotErrorIs(t, err, replication.ErrPrivilege)

	// A unique index is a key, but logical decoding needs it as the
	// replica identity; the role owns this table, so it may publish it.
	uniq := replication.T("Src Schema", "uniq")
	pgtest.MustExec(t, b.Source, `ALTER TABLE "Src Schema".uniq OWNER TO `+q)
	rep = p.run(t, uniq, nil)
	require.Equal(t, []string{"a"}, rep.Key)
	require.Equal(t, map[kindKey][]check.Requirement{
		{replication.KindInserterTime, false}: {check.ReqTimeControl},
		{replication.KindUpdaterTime, false}:  {check.ReqTimeControl},
		{replication.KindDML, true}:           {check.ReqReplicaIdentity},
		{replication.KindLogDel, true}:        {check.ReqReplicaIdentity},
	}, impossible(rep))
	fix := checkOf(t, rep, check.ReqReplicaIdentity).Fix
	require.Equal(t, `as the table's owner: ALTER TABLE "Src Schema"."uniq" REPLICA IDENTITY USING INDEX "uniq_a_key";`, fix)
	fix = strings.TrimPrefix(fix, "as the table's owner: ")
	pgtest.MustExec(t, b.Source, fix[:strings.Index(fix, ";")])
	rep = p.run(t, uniq, nil)
	require.True(t, checkOf(t, rep, check.ReqReplicaIdentity).OK)
	require.True(t, checkOf(t, rep, check.ReqPublication).OK)

	// A view: no key, no triggers.
	rep = p.run(t, replication.T("Src Schema", "v"), nil)
	require.False(t, checkOf(t, rep, check.ReqTrigger).OK)
	require.False(t, checkOf(t, rep, check.ReqKey).OK)
	kr, ok := rep.Kind(replication.KindSnapshot, false)
	require.True(t, ok)
	require.True(t, kr.Possible)

	// A planned control column of the wrong type.
	rep = p.run(t, srcOrders, &check.PreflightConfig{Control: "note"})
	require.Equal(t, `column "note" is not of a usable type`, checkOf(t, rep, check.ReqTimeControl).Detail)
	require.False(t, checkOf(t, rep, check.ReqSerialControl).OK)
	rep = p.run(t, srcOrders, &check.PreflightConfig{Control: "updated"})
	require.True(t, checkOf(t, rep, check.ReqTimeControl).OK)
	require.False(t, checkOf(t, rep, check.ReqSerialControl).OK)

	// SELECT on some columns only serves a job that filters to them.
	other := b.CreateRole()
	oq := replication.QuoteIdent(other.Name)
	pgtest.MustExec(t, b.Source, `GRANT USAGE ON SCHEMA "Src Schema" TO `+oq+`; GRANT SELECT (id, note) ON "Src Schema"."Orders" TO `+oq)
	op := &preflightPool{b: b, role: other}
	require.False(t, checkOf(t, op.run(t, srcOrders, nil), check.ReqSelect).OK)
	require.True(t, checkOf(t, op.run(t, srcOrders, &check.PreflightConfig{Columns: []string{"id", "note"}}), check.ReqSelect).OK)

	// A planned queue schema that does not exist needs CREATE on the database.
	rep = op.run(t, srcOrders, &check.PreflightConfig{QueueSchema: "Queues"})
	require.Equal(t, fmt.Sprintf(`CREATE SCHEMA "Queues" AUTHORIZATION %s; (or GRANT CREATE ON DATABASE "%s" TO %s;)`, oq, b.SourceDB, oq),
		checkOf(t, rep, check.ReqQueueSchema).Fix)
	pgtest.MustExec(t, b.Source, `CREATE SCHEMA "Queues"`)
	rep = op.run(t, srcOrders, &check.PreflightConfig{QueueSchema: "Queues"})
	require.Equal(t, `GRANT CREATE ON SCHEMA "Queues" TO `+oq+`;`, checkOf(t, rep, check.ReqQueueSchema).Fix)

	_, err = check.Preflight(ctx, b.Source, replication.T("Src Schema", "gone"), nil)
	require.ErrorIs(t, err, replication.ErrTableNotFound)
	_, err = check.Preflight(ctx, b.Source, srcOrders, &check.PreflightConfig{Columns: []string{"nope"}})
	require.ErrorIs(t, err, replication.ErrColumnNotFound)
}

// With every replication slot taken, logical capture is impossible. The
// test fills the slots of the whole server, so it runs alone (not in
// parallel) and only on a server of this test binary's own.
func TestPreflightNoFreeSlot(t *testing.T) {
	b := pgtest.Setup(t)
	if b.Server.Source == "dsn" {
		t.Skip("fills every replication slot of the server; not on a shared server")
	}
	ctx := context.Background()
	pgtest.MustExec(t, b.Source, preflightDDL)
	_, p := preflightRole(t, b, "")
	var free int
	require.NoError(t, b.Source.QueryRow(ctx, `SELECT current_setting('max_replication_slots')::int - count(*) FROM pg_replication_slots`).Scan(&free))
	t.Cleanup(func() {
		pgtest.MustExec(t, b.Source, `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name LIKE 'preflight_fill_%'`)
	})
	pgtest.MustExec(t, b.Source, `SELECT pg_create_physical_replication_slot('preflight_fill_' || i) FROM generate_series(1, $1) i`, free)
	rep := p.run(t, srcOrders, nil)
	ch := checkOf(t, rep, check.ReqSlot)
	require.False(t, ch.OK)
	require.Contains(t, ch.Fix, "ALTER SYSTEM SET max_replication_slots = ")
	kr, _ := rep.Kind(replication.KindDML, true)
	require.False(t, kr.Possible)
	kr, _ = rep.Kind(replication.KindDML, false)
	require.True(t, kr.Possible)
	pgtest.MustExec(t, b.Source, `SELECT pg_drop_replication_slot('preflight_fill_1')`)
	require.True(t, checkOf(t, p.run(t, srcOrders, nil), check.ReqSlot).OK)
}

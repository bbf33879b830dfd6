package check_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/dml"
	"github.com/pgmimeo/pgmimeo/incremental"
	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/logdel"
	"github.com/pgmimeo/pgmimeo/replication"
	"github.com/pgmimeo/pgmimeo/replication/check"
	"github.com/pgmimeo/pgmimeo/snapshot"
)

const preflightDDL = `CREATE SCHEMA "Src Schema";
CREATE TABLE "Src Schema"."Orders" (id bigint PRIMARY KEY, updated timestamptz, seq int, note text);
CREATE TABLE "Src Schema".nokey (a int, b text);
CREATE TABLE "Src Schema".uniq (a int NOT NULL, b text, UNIQUE (a));
CREATE VIEW "Src Schema".v AS SELECT * FROM "Src Schema"."Orders";
ALTER TABLE "Src Schema"."Orders" REPLICA IDENTITY FULL;`

var srcOrders = replication.T("Src Schema", "Orders")

// preflightRole makes a role with everything any kind needs on
// "Src Schema"."Orders" except what lacking names, and returns it with a
// pool connected as it.
func preflightRole(t *testing.T, b *pgtest.Bundle, lacking ...string) (pgtest.Role, *preflightPool) {
	t.Helper()
	attrs := []string{"REPLICATION"}
	if slices.Contains(lacking, "replication") {
		attrs = nil
	}
	r := b.CreateRole(t, attrs...)
	q := replication.QuoteIdent(r.Name)
	grants := map[string]string{
		"usage":    `GRANT USAGE ON SCHEMA "Src Schema" TO ` + q,
		"select":   `GRANT SELECT ON ALL TABLES IN SCHEMA "Src Schema" TO ` + q,
		"trigger":  `GRANT TRIGGER ON "Src Schema"."Orders" TO ` + q,
		"schema":   `CREATE SCHEMA "queue of ` + r.Name + `" AUTHORIZATION ` + q,
		"owner":    `ALTER TABLE "Src Schema"."Orders" OWNER TO ` + q,
		"database": `GRANT CREATE ON DATABASE ` + replication.QuoteIdent(b.SourceDB) + ` TO ` + q,
	}
	for what, sql := range grants {
		if !slices.Contains(lacking, what) {
			pgtest.MustExec(t, b.Source, sql)
		}
	}
	return r, &preflightPool{b: b, role: r}
}

// methods are every kind, as a worker running them all passes them.
var methods = []replication.Method{snapshot.Method, snapshot.TableMethod, incremental.Method, dml.Method, logdel.Method}

type preflightPool struct {
	b    *pgtest.Bundle
	role pgtest.Role
}

func (p *preflightPool) run(t *testing.T, table replication.Table, cfg *check.PreflightConfig) *check.PreflightReport {
	t.Helper()
	pool := pgtest.Pool(t, p.b.DSN(p.b.SourceDB, p.role))
	c := check.PreflightConfig{}
	if cfg != nil {
		c = *cfg
	}
	if c.Methods == nil {
		c.Methods = methods
	}
	rep, err := check.Preflight(context.Background(), pool, table, &c)
	require.NoError(t, err)
	return rep
}

type kindKey struct {
	kind    replication.Kind
	logical bool
}

func impossible(rep *check.PreflightReport) map[kindKey][]replication.Requirement {
	out := map[kindKey][]replication.Requirement{}
	for _, k := range rep.Kinds {
		if !k.Possible {
			for _, m := range k.Missing {
				out[kindKey{k.Kind, k.Logical}] = append(out[kindKey{k.Kind, k.Logical}], m.Requirement)
			}
		}
	}
	return out
}

func allKinds(reqs ...replication.Requirement) map[kindKey][]replication.Requirement {
	out := map[kindKey][]replication.Requirement{}
	for _, k := range []kindKey{{replication.KindSnapshot, false}, {replication.KindTableReload, false},
		{replication.KindInserterTime, false}, {replication.KindInserterSerial, false},
		{replication.KindUpdaterTime, false}, {replication.KindUpdaterSerial, false},
		{replication.KindDML, false}, {replication.KindLogDel, false}, {replication.KindDML, true}, {replication.KindLogDel, true}} {
		out[k] = reqs
	}
	return out
}

func checkOf(t *testing.T, rep *check.PreflightReport, req replication.Requirement) check.Check {
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
// (as a superuser) makes those kinds possible again. (Owning the table
// implies SELECT and TRIGGER on it, so the role lacking those does not own
// it, and cannot publish it either.)
func TestPreflightRoleLackingEachPrivilege(t *testing.T) {
	t.Parallel()
	trig := []kindKey{{replication.KindDML, false}, {replication.KindLogDel, false}}
	logical := []kindKey{{replication.KindDML, true}, {replication.KindLogDel, true}}
	kinds := func(parts ...any) map[kindKey][]replication.Requirement {
		out := map[kindKey][]replication.Requirement{}
		for i := 0; i < len(parts); i += 2 {
			for _, k := range parts[i].([]kindKey) {
				out[k] = append(out[k], parts[i+1].(replication.Requirement))
			}
		}
		return out
	}
	var every []kindKey
	for k := range allKinds() {
		every = append(every, k)
	}
	for _, tc := range []struct {
		name    string
		lacking []string
		req     replication.Requirement
		fix     func(role, db string) string
		want    map[kindKey][]replication.Requirement
		after   map[kindKey][]replication.Requirement
	}{
		{"usage", []string{"usage"}, replication.ReqSchemaUsage,
			func(r, _ string) string { return `GRANT USAGE ON SCHEMA "Src Schema" TO "` + r + `";` },
			allKinds(replication.ReqSchemaUsage), kinds()},
		{"select", []string{"select", "owner"}, replication.ReqSelect,
			func(r, _ string) string { return `GRANT SELECT ON "Src Schema"."Orders" TO "` + r + `";` },
			kinds(every, replication.ReqSelect, logical, replication.ReqPublication), kinds(logical, replication.ReqPublication)},
		{"trigger", []string{"trigger", "owner"}, replication.ReqTrigger,
			func(r, _ string) string { return `GRANT TRIGGER ON "Src Schema"."Orders" TO "` + r + `";` },
			kinds(trig, replication.ReqTrigger, logical, replication.ReqPublication), kinds(logical, replication.ReqPublication)},
		{"schema", []string{"schema", "database"}, replication.ReqQueueSchema,
			func(r, db string) string { return `GRANT CREATE ON DATABASE "` + db + `" TO "` + r + `";` },
			kinds(trig, replication.ReqQueueSchema, logical, replication.ReqPublication), kinds()},
		{"replication", []string{"replication"}, replication.ReqReplication,
			func(r, _ string) string { return `ALTER ROLE "` + r + `" REPLICATION;` },
			kinds(logical, replication.ReqReplication), kinds()},
		{"owner", []string{"owner"}, replication.ReqPublication,
			func(r, _ string) string { return `ALTER TABLE "Src Schema"."Orders" OWNER TO "` + r + `";` },
			kinds(logical, replication.ReqPublication), kinds()},
		{"database", []string{"database"}, replication.ReqPublication,
			func(r, db string) string { return `GRANT CREATE ON DATABASE "` + db + `" TO "` + r + `";` },
			kinds(logical, replication.ReqPublication), kinds()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := pgtest.Setup(t)
			pgtest.MustExec(t, b.Source, preflightDDL)
			role, p := preflightRole(t, b, tc.lacking...)
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

			logicalOnly := tc.req == replication.ReqReplication || tc.req == replication.ReqPublication
			err := rep.Require(replication.KindDML, logicalOnly)
			require.ErrorIs(t, err, replication.ErrPrivilege)
			var tabErr *replication.TableError
			require.ErrorAs(t, err, &tabErr)
			require.Equal(t, srcOrders, tabErr.Table)
			require.Contains(t, tabErr.Fix, want)
			require.Contains(t, err.Error(), string(tc.req))
			// A kind's own prerequisite, as its Setup checks it, says the same.
			require.Equal(t, err.Error(), rep.RequireOf((&dml.Config{Capture: map[bool]dml.Capture{true: dml.CaptureLogical}[logicalOnly]}).Prerequisite()).Error())

			// The fix, run as it says, makes those kinds possible.
			stmt := strings.TrimPrefix(want, "as the table's owner: ")
			stmt = stmt[:strings.Index(stmt, ";")]
			pgtest.MustExec(t, b.Source, stmt)
			rep = p.run(t, srcOrders, nil)
			require.Equal(t, tc.after, impossible(rep))
			if len(tc.after) == 0 {
				require.NoError(t, rep.Require(replication.KindDML, false))
				require.NoError(t, rep.Require(replication.KindLogDel, true))
			}
		})
	}
}

// Preflight judges the methods it is given, and no others.
func TestPreflightJudgesTheGivenMethods(t *testing.T) {
	t.Parallel()
	b := pgtest.Setup(t)
	pgtest.MustExec(t, b.Source, preflightDDL)
	_, p := preflightRole(t, b)
	rep := p.run(t, srcOrders, &check.PreflightConfig{Methods: []replication.Method{logdel.Method}})
	require.Equal(t, []check.KindReport{{Kind: replication.KindLogDel, Possible: true}, {Kind: replication.KindLogDel, Logical: true, Possible: true}}, rep.Kinds)
	var oe *replication.OptionError
	require.ErrorAs(t, rep.Require(replication.KindDML, false), &oe)
	require.NoError(t, rep.RequireOf(snapshot.Method.Prerequisites[0]))
}

// Keys, control columns, replica identity, views and a column filter.
func TestPreflightTableShapes(t *testing.T) {
	t.Parallel()
	b := pgtest.Setup(t)
	pgtest.MustExec(t, b.Source, preflightDDL)
	role, p := preflightRole(t, b)
	q := replication.QuoteIdent(role.Name)
	ctx := context.Background()

	// No key, no timestamp column: only full pulls and the serial inserter.
	nokey := replication.T("Src Schema", "nokey")
	rep := p.run(t, nokey, nil)
	require.Nil(t, rep.Key)
	require.Equal(t, map[kindKey][]replication.Requirement{
		{replication.KindInserterTime, false}:  {replication.ReqTimeControl},
		{replication.KindUpdaterTime, false}:   {replication.ReqKey, replication.ReqTimeControl},
		{replication.KindUpdaterSerial, false}: {replication.ReqKey},
		{replication.KindDML, false}:           {replication.ReqKey, replication.ReqTrigger},
		{replication.KindLogDel, false}:        {replication.ReqKey, replication.ReqTrigger},
		{replication.KindDML, true}:            {replication.ReqKey, replication.ReqPublication, replication.ReqReplicaIdentity},
		{replication.KindLogDel, true}:         {replication.ReqKey, replication.ReqPublication, replication.ReqReplicaIdentity, replication.ReqReplicaIdentityFull},
	}, impossible(rep))
	require.Equal(t, `as the table's owner: ALTER TABLE "Src Schema"."nokey" ADD PRIMARY KEY (<key columns>);`, checkOf(t, rep, replication.ReqKey).Fix)
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
	require.Equal(t, map[kindKey][]replication.Requirement{
		{replication.KindInserterTime, false}: {replication.ReqTimeControl},
		{replication.KindUpdaterTime, false}:  {replication.ReqTimeControl},
		{replication.KindDML, true}:           {replication.ReqReplicaIdentity},
		{replication.KindLogDel, true}:        {replication.ReqReplicaIdentity, replication.ReqReplicaIdentityFull},
	}, impossible(rep))
	fix := checkOf(t, rep, replication.ReqReplicaIdentity).Fix
	require.Equal(t, `as the table's owner: ALTER TABLE "Src Schema"."uniq" REPLICA IDENTITY USING INDEX "uniq_a_key";`, fix)
	fix = strings.TrimPrefix(fix, "as the table's owner: ")
	pgtest.MustExec(t, b.Source, fix[:strings.Index(fix, ";")])
	rep = p.run(t, uniq, nil)
	require.True(t, checkOf(t, rep, replication.ReqReplicaIdentity).OK)
	require.True(t, checkOf(t, rep, replication.ReqPublication).OK)
	// A capture that keeps deleted rows needs FULL; and a planned key
	// other than the identity's index is not carried by it.
	require.Equal(t, map[kindKey][]replication.Requirement{
		{replication.KindInserterTime, false}: {replication.ReqTimeControl},
		{replication.KindUpdaterTime, false}:  {replication.ReqTimeControl},
		{replication.KindLogDel, true}:        {replication.ReqReplicaIdentityFull},
	}, impossible(rep))
	err = rep.RequireOf((&dml.Config{Capture: dml.CaptureLogical, KeepDeleted: true}).Prerequisite())
	require.ErrorIs(t, err, replication.ErrBadOption)
	require.ErrorContains(t, err, `ALTER TABLE "Src Schema"."uniq" REPLICA IDENTITY FULL;`)
	rep = p.run(t, uniq, &check.PreflightConfig{Key: []string{"b"}})
	require.Equal(t, `as the table's owner: ALTER TABLE "Src Schema"."uniq" REPLICA IDENTITY USING INDEX <unique index on "b">; (or REPLICA IDENTITY FULL)`,
		checkOf(t, rep, replication.ReqReplicaIdentity).Fix)
	require.ErrorIs(t, rep.Require(replication.KindDML, true), replication.ErrNoKey)

	// A view: no key, no triggers.
	rep = p.run(t, replication.T("Src Schema", "v"), nil)
	require.False(t, checkOf(t, rep, replication.ReqTrigger).OK)
	require.False(t, checkOf(t, rep, replication.ReqKey).OK)
	kr, ok := rep.Kind(replication.KindSnapshot, false)
	require.True(t, ok)
	require.True(t, kr.Possible)

	// A planned control column of the wrong type.
	rep = p.run(t, srcOrders, &check.PreflightConfig{Control: "note"})
	require.Equal(t, `column "note" is not of a usable type`, checkOf(t, rep, replication.ReqTimeControl).Detail)
	require.False(t, checkOf(t, rep, replication.ReqSerialControl).OK)
	rep = p.run(t, srcOrders, &check.PreflightConfig{Control: "updated"})
	require.True(t, checkOf(t, rep, replication.ReqTimeControl).OK)
	require.False(t, checkOf(t, rep, replication.ReqSerialControl).OK)

	// SELECT on some columns only serves a job that filters to them.
	other := b.CreateRole(t)
	oq := replication.QuoteIdent(other.Name)
	pgtest.MustExec(t, b.Source, `GRANT USAGE ON SCHEMA "Src Schema" TO `+oq+`; GRANT SELECT (id, note) ON "Src Schema"."Orders" TO `+oq)
	op := &preflightPool{b: b, role: other}
	require.False(t, checkOf(t, op.run(t, srcOrders, nil), replication.ReqSelect).OK)
	require.True(t, checkOf(t, op.run(t, srcOrders, &check.PreflightConfig{Columns: []string{"id", "note"}}), replication.ReqSelect).OK)

	// A planned queue schema that does not exist needs CREATE on the database.
	rep = op.run(t, srcOrders, &check.PreflightConfig{QueueSchema: "Queues"})
	require.Equal(t, fmt.Sprintf(`CREATE SCHEMA "Queues" AUTHORIZATION %s; (or GRANT CREATE ON DATABASE "%s" TO %s;)`, oq, b.SourceDB, oq),
		checkOf(t, rep, replication.ReqQueueSchema).Fix)
	pgtest.MustExec(t, b.Source, `CREATE SCHEMA "Queues"`)
	rep = op.run(t, srcOrders, &check.PreflightConfig{QueueSchema: "Queues"})
	require.Equal(t, `GRANT CREATE ON SCHEMA "Queues" TO `+oq+`;`, checkOf(t, rep, replication.ReqQueueSchema).Fix)

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
	_, p := preflightRole(t, b)
	var free int
	require.NoError(t, b.Source.QueryRow(ctx, `SELECT current_setting('max_replication_slots')::int - count(*) FROM pg_replication_slots`).Scan(&free))
	t.Cleanup(func() {
		pgtest.MustExec(t, b.Source, `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name LIKE 'preflight_fill_%'`)
	})
	pgtest.MustExec(t, b.Source, `SELECT pg_create_physical_replication_slot('preflight_fill_' || i) FROM generate_series(1, $1) i`, free)
	rep := p.run(t, srcOrders, nil)
	ch := checkOf(t, rep, replication.ReqSlot)
	require.False(t, ch.OK)
	require.Contains(t, ch.Fix, "ALTER SYSTEM SET max_replication_slots = ")
	kr, _ := rep.Kind(replication.KindDML, true)
	require.False(t, kr.Possible)
	kr, _ = rep.Kind(replication.KindDML, false)
	require.True(t, kr.Possible)
	pgtest.MustExec(t, b.Source, `SELECT pg_drop_replication_slot('preflight_fill_1')`)
	require.True(t, checkOf(t, p.run(t, srcOrders, nil), replication.ReqSlot).OK)
}

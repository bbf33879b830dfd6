package dml_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/dml"
	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/replication"
)

// A scenario sets up a source table, replicates it, and then runs steps of
// source changes, each followed by refreshes until the queue is drained;
// after setup and after every step the destination must hold exactly the
// rows that srcQuery selects on the source.
type scenario struct {
	name string
	// setup runs on the source before the job is made, destSetup on the
	// destination.
	setup, destSetup []string
	table            replication.Table
	cfg              dml.Config
	// srcQuery and destQuery select the rows to compare.
	srcQuery, destQuery string
	steps               []step
}

type step struct {
	// sql runs on the source.
	sql []string
	// check, when set, looks at the refresh results and the job.
	check func(t *testing.T, b *pgtest.Bundle, r *dml.Replicator, results []replication.Result)
}

func (sc scenario) run(t *testing.T, capture dml.Capture) {
	b := pgtest.Setup(t)
	ctx := context.Background()
	for _, s := range sc.setup {
		pgtest.MustExec(t, b.Source, s)
	}
	sc.cfg.Capture = capture
	for _, s := range sc.destSetup {
		pgtest.MustExec(t, b.Dest, s)
	}
	cfg := sc.cfg
	r := newDML(t, b, sc.table, &cfg)
	require.NoError(t, r.Setup(ctx))
	if !cfg.SkipPull {
		requireSame(t, b, sc.srcQuery, sc.destQuery)
	}
	for i, st := range sc.steps {
		for _, s := range st.sql {
			pgtest.MustExec(t, b.Source, s)
		}
		var results []replication.Result
		for n := 0; ; n++ {
			require.Less(t, n, 1000, "refresh does not catch up")
			res := refresh(t, r)
			results = append(results, res)
			if !res.More {
				break
			}
		}
		require.Equal(t, pgtest.Rows(t, b.Source, sc.srcQuery), pgtest.Rows(t, b.Dest, sc.destQuery), "after step %d", i)
		if st.check != nil {
			st.check(t, b, r, results)
		}
	}
}

func total(results []replication.Result) replication.Result {
	var out replication.Result
	for _, r := range results {
		out.Inserted += r.Inserted
		out.Updated += r.Updated
		out.Deleted += r.Deleted
	}
	return out
}

func counts(ins, upd, del int64) func(t *testing.T, b *pgtest.Bundle, r *dml.Replicator, results []replication.Result) {
	return func(t *testing.T, b *pgtest.Bundle, r *dml.Replicator, results []replication.Result) {
		t.Helper()
		got := total(results)
		require.Equal(t, [3]int64{ins, upd, del}, [3]int64{got.Inserted, got.Updated, got.Deleted}, "inserted, updated, deleted")
	}
}

func queueEntries(t *testing.T, r *dml.Replicator) int64 {
	t.Helper()
	st, err := r.QueueStats(context.Background())
	require.NoError(t, err)
	return st.Entries()
}

var accounts = replication.T("public", "accounts")

var busyTable = replication.T("public", "busy")

const accountsDDL = `CREATE TABLE accounts (id int PRIMARY KEY, owner text NOT NULL, balance numeric(12,2), note text, tags jsonb, seen timestamptz)`

func TestScenarios(t *testing.T) {
	t.Parallel()
	all := `SELECT * FROM accounts`
	scenarios := []scenario{
		{
			name:  "inserts updates deletes",
			setup: []string{accountsDDL, `INSERT INTO accounts SELECT g, 'o' || g, g, NULL, '{"a": [1, 2]}', '2024-01-01' FROM generate_series(1, 200) g`},
			table: accounts, srcQuery: all, destQuery: all,
			steps: []step{
				{sql: []string{`INSERT INTO accounts VALUES (201, 'new', 1, 'n', '[]', now()), (202, 'new2', NULL, NULL, NULL, NULL)`}, check: counts(2, 0, 0)},
				{sql: []string{`UPDATE accounts SET balance = balance + 1, tags = '{"b": 1}' WHERE id <= 20`}, check: counts(0, 20, 0)},
				{sql: []string{`DELETE FROM accounts WHERE id > 190`}, check: counts(0, 0, 12)},
				{sql: []string{`INSERT INTO accounts VALUES (300, 'x', 1, NULL, NULL, NULL)`, `UPDATE accounts SET note = 'y' WHERE id = 300`,
					`DELETE FROM accounts WHERE id = 1`, `UPDATE accounts SET owner = 'z' WHERE id = 2`}, check: counts(1, 1, 1)},
			},
		},
		{
			name:  "same key changed many times",
			setup: []string{accountsDDL, `INSERT INTO accounts SELECT g, 'o' || g, g, NULL, NULL, NULL FROM generate_series(1, 10) g`},
			table: accounts, srcQuery: all, destQuery: all,
			steps: []step{
				{sql: []string{
					`DO $$ BEGIN FOR i IN 1..500 LOOP UPDATE accounts SET balance = balance + 1 WHERE id = 5; END LOOP; END $$`,
					`DELETE FROM accounts WHERE id = 6`, `INSERT INTO accounts VALUES (6, 'back', 0, NULL, NULL, NULL)`,
					`UPDATE accounts SET note = 'again' WHERE id = 6`,
					`INSERT INTO accounts VALUES (11, 'gone', 0, NULL, NULL, NULL)`, `DELETE FROM accounts WHERE id = 11`,
				}, check: counts(0, 2, 0)},
				{sql: []string{`UPDATE accounts SET id = 100 WHERE id = 1`, `UPDATE accounts SET id = 1 WHERE id = 2`}, check: counts(1, 1, 1)},
			},
		},
		{
			name: "composite key in (col2, col1) order",
			setup: []string{`CREATE TABLE pairs (col1 int, col2 text, val text, PRIMARY KEY (col2, col1))`,
				`INSERT INTO pairs VALUES (1, 'a', 'x'), (2, 'a', 'y'), (1, 'b', 'z'), (2, 'b', 'w')`},
			table: replication.T("public", "pairs"), srcQuery: `SELECT * FROM pairs`, destQuery: `SELECT * FROM pairs`,
			steps: []step{
				{sql: []string{`UPDATE pairs SET val = 'changed' WHERE col1 = 1 AND col2 = 'a'`}, check: counts(0, 1, 0)},
				// rows that differ in one key column only
				{sql: []string{`UPDATE pairs SET col1 = 3 WHERE col1 = 2 AND col2 = 'a'`}, check: counts(1, 0, 1)},
				{sql: []string{`UPDATE pairs SET col2 = 'a' WHERE col1 = 2 AND col2 = 'b'`}, check: counts(1, 0, 1)},
				{sql: []string{`DELETE FROM pairs WHERE col1 = 1 AND col2 = 'b'`, `INSERT INTO pairs VALUES (1, 'c', 'q')`}, check: counts(1, 0, 1)},
			},
		},
		{
			name: "unique index as the key",
			setup: []string{`CREATE TABLE u (code text NOT NULL, region int NOT NULL, val int)`,
				`CREATE UNIQUE INDEX u_code_region ON u (code, region)`,
				// logical capture needs the key as the replica identity
				`ALTER TABLE u REPLICA IDENTITY USING INDEX u_code_region`,
				`INSERT INTO u SELECT 'c' || g, g % 3, g FROM generate_series(1, 50) g`},
			table: replication.T("public", "u"), srcQuery: `SELECT * FROM u`, destQuery: `SELECT * FROM u`,
			steps: []step{
				{sql: []string{`UPDATE u SET val = -val WHERE region = 1`, `DELETE FROM u WHERE region = 2`, `INSERT INTO u VALUES ('new', 9, 9)`}},
				{sql: []string{`UPDATE u SET region = 7 WHERE code = 'c3'`}, check: func(t *testing.T, b *pgtest.Bundle, r *dml.Replicator, _ []replication.Result) {
					// the destination's key index is unique on (code, region)
					require.Equal(t, []string{"(u_code_region_idx,t)"}, pgtest.Rows(t, b.Dest,
						`SELECT c.relname, i.indisunique FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = 'u'::regclass`))
				}},
			},
		},
		{
			name: "special characters in names",
			setup: []string{`CREATE SCHEMA "Sch ""1"""`,
				`CREATE TABLE "Sch ""1"""."Tab-le.x" ("Id" int PRIMARY KEY, "select" text, "a b""c" int, "$mimeo$" text)`,
				`INSERT INTO "Sch ""1"""."Tab-le.x" SELECT g, 's' || g, g, '$$' FROM generate_series(1, 30) g`},
			destSetup: []string{`CREATE SCHEMA "Sch ""1"""`},
			table:     replication.T(`Sch "1"`, "Tab-le.x"),
			srcQuery:  `SELECT * FROM "Sch ""1"""."Tab-le.x"`, destQuery: `SELECT * FROM "Sch ""1"""."Tab-le.x"`,
			steps: []step{
				{sql: []string{`UPDATE "Sch ""1"""."Tab-le.x" SET "select" = 'it''s' WHERE "Id" < 5`,
					`DELETE FROM "Sch ""1"""."Tab-le.x" WHERE "Id" > 25`, `INSERT INTO "Sch ""1"""."Tab-le.x" VALUES (100, 'new', 1, '$mimeo$')`},
					check: counts(1, 4, 5)},
			},
		},
		{
			name:  "column filter",
			setup: []string{accountsDDL, `INSERT INTO accounts SELECT g, 'o' || g, g, 'n', NULL, NULL FROM generate_series(1, 20) g`},
			table: accounts, cfg: dml.Config{Options: replication.Options{Columns: []string{"owner", "id", "balance"}}},
			srcQuery: `SELECT id, owner, balance FROM accounts`, destQuery: `SELECT * FROM accounts`,
			steps: []step{
				{sql: []string{`UPDATE accounts SET note = 'only unreplicated', tags = '[1]'`}, check: func(t *testing.T, b *pgtest.Bundle, r *dml.Replicator, res []replication.Result) {
					if r.Capture() == dml.CaptureTrigger {
						require.True(t, res[0].Skipped, "an update of unreplicated columns queues nothing")
					} else {
						// the stream has the updates; the rows fetched are unchanged
						counts(0, 0, 0)(t, b, r, res)
					}
					require.Equal(t, []string{"(balance)", "(id)", "(owner)"}, pgtest.Rows(t, b.Dest,
						`SELECT attname FROM pg_attribute WHERE attrelid = 'accounts'::regclass AND attnum > 0`))
				}},
				{sql: []string{`UPDATE accounts SET balance = 0, note = 'both' WHERE id < 4`, `UPDATE accounts SET owner = owner WHERE id = 10`}, check: counts(0, 3, 0)},
			},
		},
		{
			name:  "row condition",
			setup: []string{accountsDDL, `INSERT INTO accounts SELECT g, 'o' || g, g, NULL, NULL, NULL FROM generate_series(1, 40) g`},
			table: accounts, cfg: dml.Config{Options: replication.Options{Condition: "WHERE balance >= 20"}},
			srcQuery: `SELECT * FROM accounts WHERE balance >= 20`, destQuery: all,
			steps: []step{
				{sql: []string{`UPDATE accounts SET balance = 5 WHERE id = 30`, `UPDATE accounts SET balance = 50 WHERE id = 3`,
					`UPDATE accounts SET note = 'unseen' WHERE id = 4`, `INSERT INTO accounts VALUES (41, 'in', 99, NULL, NULL, NULL), (42, 'out', 1, NULL, NULL, NULL)`},
					check: counts(2, 0, 1)},
			},
		},
		{
			name:  "condition joining another table",
			setup: []string{accountsDDL, `CREATE TABLE vip (owner text PRIMARY KEY)`, `INSERT INTO vip VALUES ('o1'), ('o3')`, `INSERT INTO accounts SELECT g, 'o' || g, g, NULL, NULL, NULL FROM generate_series(1, 5) g`},
			table: accounts, cfg: dml.Config{Options: replication.Options{Condition: ", vip WHERE vip.owner = accounts.owner"}},
			srcQuery: `SELECT a.* FROM accounts a JOIN vip USING (owner)`, destQuery: all,
			steps: []step{
				{sql: []string{`UPDATE accounts SET balance = 0`, `INSERT INTO vip VALUES ('o2')`, `UPDATE accounts SET note = 'x' WHERE id = 2`}},
			},
		},
		{
			name:  "no-data setup",
			setup: []string{accountsDDL, `INSERT INTO accounts SELECT g, 'o' || g, g, NULL, NULL, NULL FROM generate_series(1, 100) g`},
			table: accounts, cfg: dml.Config{Options: replication.Options{SkipPull: true}},
			srcQuery: all, destQuery: all,
			steps: []step{
				{sql: []string{`UPDATE accounts SET balance = 0 WHERE id < 10`}, check: counts(100, 0, 0)},
				{sql: []string{`UPDATE accounts SET balance = 1 WHERE id < 10`}, check: counts(0, 9, 0)},
			},
		},
		{
			name:  "empty table",
			setup: []string{accountsDDL},
			table: accounts, srcQuery: all, destQuery: all,
			steps: []step{
				{check: func(t *testing.T, _ *pgtest.Bundle, _ *dml.Replicator, res []replication.Result) {
					require.True(t, res[0].Skipped)
					require.Equal(t, "no changes queued", res[0].SkipReason)
				}},
				{sql: []string{`INSERT INTO accounts VALUES (1, 'a', 1, NULL, NULL, NULL)`}, check: counts(1, 0, 0)},
				{sql: []string{`DELETE FROM accounts`}, check: counts(0, 0, 1)},
			},
		},
		{
			name:  "batch limit smaller than the backlog",
			setup: []string{accountsDDL, `INSERT INTO accounts SELECT g, 'o' || g, g, NULL, NULL, NULL FROM generate_series(1, 300) g`},
			table: accounts, cfg: dml.Config{Options: replication.Options{BatchLimit: 40}, ChunkSize: 15},
			srcQuery: all, destQuery: all,
			steps: []step{
				{sql: []string{`UPDATE accounts SET balance = -balance`, `DELETE FROM accounts WHERE id % 5 = 0`, `INSERT INTO accounts SELECT g, 'n', 0, NULL, NULL, NULL FROM generate_series(301, 350) g`},
					check: func(t *testing.T, _ *pgtest.Bundle, r *dml.Replicator, res []replication.Result) {
						require.Greater(t, len(res), 8, "a limit of 40 entries needs many refreshes for 410 entries")
						for _, r := range res[:len(res)-1] {
							require.True(t, r.More)
							require.LessOrEqual(t, r.Rows(), int64(40))
						}
						require.Contains(t, res[0].Warnings[0], "75% of the batch limit")
						// The trigger capture fetches each changed row as it is
						// when fetched: a refresh that reads the updates of the
						// 60 rows deleted later finds them gone. Logical
						// capture applies each row as the stream has it at the
						// refresh's position: all 300 updates, then the deletes.
						updated := int64(240)
						if r.Capture() == dml.CaptureLogical {
							updated = 300
						}
						got := total(res)
						require.Equal(t, [3]int64{50, updated, 60}, [3]int64{got.Inserted, got.Updated, got.Deleted})
					}},
			},
		},
		{
			name:  "fetch first",
			setup: []string{accountsDDL, `INSERT INTO accounts SELECT g, 'o' || g, g, NULL, NULL, NULL FROM generate_series(1, 300) g`},
			table: accounts, cfg: dml.Config{FetchFirst: true},
			srcQuery: all, destQuery: all,
			steps: []step{
				{sql: []string{`UPDATE accounts SET balance = -balance WHERE id < 100`, `DELETE FROM accounts WHERE id > 290`}, check: counts(0, 99, 10)},
			},
		},
		{
			// A type made in the database travels as text COPY, cut into
			// pieces of two keys.
			name: "text COPY with awkward values",
			setup: []string{`CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy')`,
				`CREATE TABLE notes (id int PRIMARY KEY, m mood, body text)`,
				`INSERT INTO notes VALUES (1, 'ok', E'tab\there'), (2, 'sad', E'line\nbreak'), (3, NULL, E'back\\slash'), (4, 'happy', NULL), (5, 'ok', '\N')`},
			destSetup: []string{`CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy')`},
			table:     replication.T("public", "notes"), cfg: dml.Config{ChunkSize: 2},
			srcQuery: `SELECT * FROM notes`, destQuery: `SELECT * FROM notes`,
			steps: []step{
				{sql: []string{`UPDATE notes SET body = body || E'\r\n\t\\.' WHERE id < 4`, `UPDATE notes SET m = 'happy' WHERE id = 3`,
					`INSERT INTO notes VALUES (6, 'sad', E'\\.'), (7, 'ok', E'\n')`, `DELETE FROM notes WHERE id = 5`},
					check: counts(2, 3, 1)},
			},
		},
		{
			name: "partitioned source table",
			setup: []string{`CREATE TABLE sales (id int, region int, amount numeric, PRIMARY KEY (id, region)) PARTITION BY LIST (region)`,
				`CREATE TABLE sales_1 PARTITION OF sales FOR VALUES IN (1)`, `CREATE TABLE sales_2 PARTITION OF sales FOR VALUES IN (2)`,
				`INSERT INTO sales SELECT g, 1 + g % 2, g FROM generate_series(1, 40) g`},
			table:    replication.T("public", "sales"),
			srcQuery: `SELECT * FROM sales`, destQuery: `SELECT * FROM sales`,
			steps: []step{
				{sql: []string{`UPDATE sales SET amount = 0 WHERE id < 5`, `UPDATE sales SET region = 2 WHERE id = 10`, `DELETE FROM sales WHERE id > 35`},
					check: counts(1, 4, 6)},
			},
		},
		{
			name:  "source table named like an alias",
			setup: []string{`CREATE TABLE "mimeo_k" (id int PRIMARY KEY, v text)`, `INSERT INTO mimeo_k VALUES (1, 'a'), (2, 'b')`},
			table: replication.T("public", "mimeo_k"), cfg: dml.Config{Options: replication.Options{Condition: "WHERE mimeo_k.v <> 'z'"}},
			srcQuery: `SELECT * FROM mimeo_k WHERE v <> 'z'`, destQuery: `SELECT * FROM mimeo_k`,
			steps: []step{{sql: []string{`UPDATE mimeo_k SET v = 'z' WHERE id = 1`, `INSERT INTO mimeo_k VALUES (3, 'c')`}, check: counts(1, 0, 1)}},
		},
		{
			name: "unique index besides the key",
			setup: []string{`CREATE TABLE people (id int PRIMARY KEY, email text NOT NULL UNIQUE, name text)`,
				`INSERT INTO people SELECT g, 'e' || g, 'n' || g FROM generate_series(1, 10) g`},
			table: replication.T("public", "people"), srcQuery: `SELECT * FROM people`, destQuery: `SELECT * FROM people`,
			steps: []step{
				// two rows swap a unique value: a row-by-row update would collide
				{sql: []string{`UPDATE people SET email = 'tmp' WHERE id = 1; UPDATE people SET email = 'e1' WHERE id = 2; UPDATE people SET email = 'e2' WHERE id = 1`},
					check: counts(0, 2, 0)},
			},
		},
	}
	for _, capture := range []dml.Capture{dml.CaptureTrigger, dml.CaptureLogical} {
		for _, sc := range scenarios {
			t.Run(capture.String()+"/"+sc.name, func(t *testing.T) {
				t.Parallel()
				sc.run(t, capture)
			})
		}
	}
}

func TestSetupPicksUpChangesMadeDuringSetup(t *testing.T) {
	t.Parallel()
	b := pgtest.Setup(t)
	ctx := context.Background()
	pgtest.MustExec(t, b.Source, accountsDDL)
	pgtest.MustExec(t, b.Source, `INSERT INTO accounts SELECT g, 'o' || g, g, NULL, NULL, NULL FROM generate_series(1, 5000) g`)
	// A writer keeps changing rows while setup runs.
	stop := make(chan struct{})
	done := make(chan error)
	go func() {
		var err error
		for i := 0; err == nil; i++ {
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
			_, err = b.Source.Exec(ctx, `UPDATE accounts SET balance = balance + 1 WHERE id = $1`, i%5000+1)
		}
		done <- err
	}()
	r := newDML(t, b, accounts, nil)
	require.NoError(t, r.Setup(ctx))
	close(stop)
	require.NoError(t, <-done)
	refresh(t, r)
	requireSame(t, b, `SELECT * FROM accounts`, `SELECT * FROM accounts`)
}

func TestIndexReplication(t *testing.T) {
	t.Parallel()
	for _, skip := range []bool{false, true} {
		t.Run(fmt.Sprintf("skip=%v", skip), func(t *testing.T) {
			t.Parallel()
			b := pgtest.Setup(t)
			pgtest.MustExec(t, b.Source, accountsDDL)
			pgtest.MustExec(t, b.Source, `CREATE INDEX acc_owner ON accounts (owner)`)
			pgtest.MustExec(t, b.Source, `CREATE UNIQUE INDEX acc_note ON accounts (lower(note)) WHERE note IS NOT NULL`)
			pgtest.MustExec(t, b.Source, `CREATE INDEX acc_tags ON accounts USING gin (tags)`)
			r := newDML(t, b, accounts, &dml.Config{Options: replication.Options{SkipIndexes: skip}})
			require.NoError(t, r.Setup(context.Background()))
			got := pgtest.Rows(t, b.Dest, `SELECT regexp_replace(pg_get_indexdef(indexrelid), 'INDEX \S+ ON', 'INDEX ON') FROM pg_index WHERE indrelid = 'accounts'::regclass`)
			want := []string{"(\"CREATE UNIQUE INDEX ON public.accounts USING btree (id)\")"}
			if !skip {
				want = []string{
					"(\"CREATE INDEX ON public.accounts USING btree (owner)\")",
					"(\"CREATE INDEX ON public.accounts USING gin (tags)\")",
					"(\"CREATE UNIQUE INDEX ON public.accounts USING btree (id)\")",
					"(\"CREATE UNIQUE INDEX ON public.accounts USING btree (lower(note)) WHERE (note IS NOT NULL)\")",
				}
			}
			require.Equal(t, want, got)
			require.Equal(t, []string{"(t)"}, pgtest.Rows(t, b.Dest, `SELECT indisprimary FROM pg_index WHERE indrelid = 'accounts'::regclass AND indisprimary`))
		})
	}
}

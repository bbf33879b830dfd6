package incremental_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/replication"
)

// stalled waits until a backend of database db sleeps in pg_sleep and
// returns its pid.
func stalled(t *testing.T, admin *pgxpool.Pool, db string) int32 {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var pids []int32
		rows, err := admin.Query(context.Background(), `SELECT pid FROM pg_stat_activity WHERE datname = $1 AND wait_event = 'PgSleep'`, db)
		require.NoError(t, err)
		for rows.Next() {
			var pid int32
			require.NoError(t, rows.Scan(&pid))
			pids = append(pids, pid)
		}
		require.NoError(t, rows.Err())
		if len(pids) == 1 {
			return pids[0]
		}
		require.True(t, time.Now().Before(deadline), "no backend stalled in %s", db)
		time.Sleep(20 * time.Millisecond)
	}
}

// TestCrash: a refresh whose destination backend (or source backend) is
// terminated in the middle of the pull or apply leaves rows and state as
// they were; the next refresh pulls nothing twice and loses nothing.
func TestCrash(t *testing.T) {
	for _, side := range []string{"dest", "source"} {
		t.Run(side, func(t *testing.T) {
			forEachMode(t, func(t *testing.T, m mode) {
				ctx := context.Background()
				f := newFixture(t, m)
				// A row condition that can be made to stall the source's
				// COPY at one row; it is true for every row.
				pgtest.MustExec(t, f.b.Source, `CREATE FUNCTION stall(id bigint) RETURNS boolean LANGUAGE sql AS 'SELECT true'`)
				f.insert(t, 1, 1000)
				cfg := f.cfg()
				cfg.Condition = "stall(id)"
				log := &recordingLog{}
				cfg.JobLog = log
				r := f.setup(t, cfg)
				f.same(t, r.Dest())

				f.insert(t, 1001, 20000)
				stallKey := 15000
				if m.updater {
					f.update(t, 1, 1000, 50000)
					stallKey = 500 // an updated key: its old row is already deleted
				}
				before := pgtest.Rows(t, f.b.Dest, "SELECT * FROM items")
				lastBefore := f.lastValue(t, r.Dest())

				admin, db := f.b.Dest, f.b.DestDB
				if side == "dest" {
					pgtest.MustExec(t, f.b.Dest, fmt.Sprintf(`CREATE FUNCTION stall() RETURNS trigger LANGUAGE plpgsql AS
						$$ BEGIN IF NEW.id = %d THEN PERFORM pg_sleep(600); END IF; RETURN NEW; END $$`, stallKey))
					pgtest.MustExec(t, f.b.Dest, `CREATE TRIGGER stall BEFORE INSERT ON items FOR EACH ROW EXECUTE FUNCTION stall()`)
				} else {
					admin, db = f.b.Source, f.b.SourceDB
					pgtest.MustExec(t, f.b.Source, fmt.Sprintf(`CREATE OR REPLACE FUNCTION stall(id bigint) RETURNS boolean LANGUAGE sql
						AS 'SELECT CASE WHEN id = %d AND current_query() LIKE ''COPY%%'' THEN pg_sleep(600) IS NOT NULL ELSE true END'`, stallKey))
				}
				done := make(chan error, 1)
				go func() {
					_, err := r.Refresh(ctx)
					done <- err
				}()
				pid := stalled(t, admin, db)
				// Wait for the backend to be gone: until then it holds its locks, and
				// the next refresh would find the table locked.
				pgtest.MustExec(t, admin, `SELECT pg_terminate_backend($1, 10000)`, pid)
				err := <-done
				require.Error(t, err)

				require.Equal(t, before, pgtest.Rows(t, f.b.Dest, "SELECT * FROM items"), "no row of the killed refresh stayed")
				require.Equal(t, lastBefore, f.lastValue(t, r.Dest()), "the state did not move")
				require.Equal(t, replication.LevelCritical, log.last().level)
				require.EqualValues(t, 1, scalar[int64](t, f.b.Dest, `SELECT failures FROM mimeo.jobs`))

				if side == "dest" {
					pgtest.MustExec(t, f.b.Dest, `DROP TRIGGER stall ON items`)
				} else {
					pgtest.MustExec(t, f.b.Source, `CREATE OR REPLACE FUNCTION stall(id bigint) RETURNS boolean LANGUAGE sql AS 'SELECT true'`)
				}
				res := f.refresh(t, r)
				if m.updater {
					require.EqualValues(t, 19000, res.Inserted)
					require.EqualValues(t, 1000, res.Updated)
				} else {
					require.EqualValues(t, 19000, res.Inserted)
				}
				f.sameQuery(t, "SELECT id, ctl FROM items", "SELECT id, ctl FROM items")
				f.same(t, r.Dest())
				require.Zero(t, f.refresh(t, r).Rows())
				require.EqualValues(t, 0, scalar[int64](t, f.b.Dest, `SELECT failures FROM mimeo.jobs`))
			})
		})
	}
}

package scheduler_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/dml"
	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/jobmon"
	"github.com/pgmimeo/pgmimeo/replication"
	"github.com/pgmimeo/pgmimeo/replication/scheduler"
)

// md5Of is the md5 of a fixture table's rows in key order, in a form that
// no server setting changes (control times as epoch microseconds).
func md5Of(t *testing.T, db *pgxpool.Pool, table replication.Table) string {
	t.Helper()
	var sum string
	require.NoError(t, db.QueryRow(context.Background(), `SELECT md5(coalesce(string_agg(
		concat_ws(',', id, CASE WHEN pg_typeof(ctl) = 'bigint'::regtype THEN ctl::text
			ELSE (extract(epoch FROM ctl::text::timestamptz) * 1000000)::bigint::text END, payload), '|' ORDER BY id), ''))
		FROM `+table.Sanitize()).Scan(&sum))
	return sum
}

// TestAcrossVersions replicates every kind from the shared server's major
// version to the other's (PGMIMEO_TEST_OTHER_IMAGE) and back, through set
// up, changes and refreshes, and compares the whole tables by md5.
func TestAcrossVersions(t *testing.T) {
	t.Parallel()
	for _, back := range []bool{false, true} {
		name := "forward"
		if back {
			name = "back"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			b := &bundle{Bundle: pgtest.SetupAcross(t, back)}
			log, err := jobmon.Open(ctx, b.DestDSN, nil)
			require.NoError(t, err)
			t.Cleanup(log.Close)
			require.NoError(t, log.Migrate(ctx))
			b.log = log
			var sv, dv int
			require.NoError(t, b.Source.QueryRow(ctx, `SELECT current_setting('server_version_num')::int / 10000`).Scan(&sv))
			require.NoError(t, b.Dest.QueryRow(ctx, `SELECT current_setting('server_version_num')::int / 10000`).Scan(&dv))
			require.NotEqual(t, sv, dv, "two major versions")
			t.Logf("PostgreSQL %d → %d", sv, dv)

			kinds := map[replication.Table]replication.Kind{}
			for i, k := range mixedKinds {
				kinds[b.job(t, k, fmt.Sprintf("v%d_%s", i, k), time.Hour)] = k
			}
			// The logical capture too.
			logical := replication.T("public", "v_logical")
			pgtest.MustExec(t, b.Source, `CREATE TABLE public.v_logical (id bigint PRIMARY KEY, ctl bigint NOT NULL, payload text);
				INSERT INTO public.v_logical SELECT g, g, 'row ' || g FROM generate_series(1, 50) g`)
			r, err := dml.New(b.Source, b.Dest, logical, &dml.Config{Capture: dml.CaptureLogical,
				Options: replication.Options{SourceName: sourceName, Period: time.Hour, JobLog: b.log}})
			require.NoError(t, err)
			require.NoError(t, r.Setup(ctx))
			t.Cleanup(func() { _ = r.Destroy(context.Background(), &replication.DestroyOptions{KeepTable: true}) })
			kinds[logical] = replication.KindDML

			s, err := scheduler.New(b.Dest, b.config(scheduler.Config{}))
			require.NoError(t, err)
			for round := range 2 {
				for tbl, k := range kinds {
					b.change(t, tbl, k, round)
				}
				b.makeDue(t)
				require.NoError(t, s.RunDue(ctx))
				for tbl := range kinds {
					require.Equal(t, md5Of(t, b.Source, tbl), md5Of(t, b.Dest, tbl), "%s after round %d", tbl, round)
				}
			}
		})
	}
}

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
	"github.com/pgmimeo/pgmimeo/logdel"
	"github.com/pgmimeo/pgmimeo/replication"
	"github.com/pgmimeo/pgmimeo/replication/scheduler"
	"github.com/pgmimeo/pgmimeo/snapshot"
)

// Repair fixes a tampered destination (rows changed, deleted and added)
// of every kind, so that it equals the source row for row, and leaves an
// untouched one alone. A LogDeletes destination keeps its rows marked
// deleted in the repaired ranges.
func TestRepairFixesTamperedDestinations(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	for i, k := range mixedKinds {
		tbl := b.job(t, k, fmt.Sprintf("r%d_%s", i, k), time.Hour)
		marked := "SELECT id, ctl, payload, mimeo_source_deleted FROM " + tbl.Sanitize() + " WHERE mimeo_source_deleted IS NOT NULL"
		var kept []string
		if k == replication.KindLogDel {
			// Row 8, deleted on the source, is kept marked; it lies in the
			// range the tampering below makes differ.
			pgtest.MustExec(t, b.Source, `DELETE FROM `+tbl.Sanitize()+` WHERE id = 8`)
			rep, err := logdel.Open(ctx, b.Source, b.Dest, tbl, nil)
			require.NoError(t, err)
			_, err = rep.Refresh(ctx)
			require.NoError(t, err)
			kept = pgtest.Rows(t, b.Dest, marked)
			require.Len(t, kept, 1)
		}
		pgtest.MustExec(t, b.Dest, `UPDATE `+tbl.Sanitize()+` SET payload = 'tampered' WHERE id IN (3, 30)`)
		pgtest.MustExec(t, b.Dest, `DELETE FROM `+tbl.Sanitize()+` WHERE id IN (7, 44)`)
		pgtest.MustExec(t, b.Dest, `INSERT INTO `+tbl.Sanitize()+` SELECT -id, ctl, 'added' FROM `+tbl.Sanitize()+` WHERE id = 20`)
		report, err := scheduler.Repair(ctx, b.Source, b.Dest, tbl, &scheduler.RepairConfig{Runtime: scheduler.Runtime{JobLog: b.log}, Methods: allMethods})
		require.NoError(t, err, "%s", k)
		require.False(t, report.Before.Match, "%s", k)
		require.NotEmpty(t, report.Before.Ranges)
		require.True(t, report.Repaired(), "%s: %+v", k, report.After)
		require.Positive(t, report.Repair.Inserted)
		if k == replication.KindLogDel {
			require.Equal(t, kept, pgtest.Rows(t, b.Dest, marked), "the marked row survives the repair")
			q := "SELECT id, ctl, payload FROM " + tbl.Sanitize()
			require.Equal(t, pgtest.Rows(t, b.Source, q), pgtest.Rows(t, b.Dest, q+" WHERE mimeo_source_deleted IS NULL"))
		} else {
			b.same(t, tbl)
		}

		report, err = scheduler.Repair(ctx, b.Source, b.Dest, tbl, &scheduler.RepairConfig{Methods: allMethods})
		require.NoError(t, err)
		require.True(t, report.Before.Match)
		require.Nil(t, report.After)
		require.True(t, report.Repaired())
	}
	// Each repair is in the job log.
	require.Len(t, pgtest.Rows(t, b.Dest, `SELECT job_id FROM jobmon.job_log WHERE job_name LIKE 'REPAIR %' AND status = 'OK'`), len(mixedKinds))
}

// A DML job replicating by another key than the source's primary key is
// checked and repaired by its own key; a refresh afterwards applies what
// was queued meanwhile.
func TestRepairDMLByItsOwnKey(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	src := replication.T("public", "coded")
	pgtest.MustExec(t, b.Source, `CREATE TABLE coded (id bigint PRIMARY KEY, code text NOT NULL UNIQUE, payload text)`)
	pgtest.MustExec(t, b.Source, `INSERT INTO coded SELECT g, 'c' || g, 'row ' || g FROM generate_series(1, 500) g`)
	rep, err := dml.New(b.Source, b.Dest, src, &dml.Config{Key: []string{"code"}, Options: replication.Options{SourceName: sourceName}})
	require.NoError(t, err)
	require.NoError(t, rep.Setup(ctx))
	pgtest.MustExec(t, b.Source, `UPDATE coded SET payload = 'queued' WHERE id % 50 = 0`)
	pgtest.MustExec(t, b.Dest, `UPDATE coded SET payload = 'tampered' WHERE id IN (3, 300)`)
	pgtest.MustExec(t, b.Dest, `DELETE FROM coded WHERE id = 77`)
	report, err := scheduler.Repair(ctx, b.Source, b.Dest, src, &scheduler.RepairConfig{Methods: allMethods})
	require.NoError(t, err)
	require.Equal(t, []string{"code"}, report.Before.Key)
	require.True(t, report.Repaired(), "%+v", report.After)
	pgtest.MustExec(t, b.Source, `DELETE FROM coded WHERE id = 5`)
	_, err = rep.Refresh(ctx)
	require.NoError(t, err)
	q := `SELECT id, code, payload FROM coded`
	require.Equal(t, pgtest.Rows(t, b.Source, q), pgtest.Rows(t, b.Dest, q))
}

// plain is a replicator without RepairRanges.
type plain struct{ replication.Replicator }

// A job whose replicator cannot repair ranges is refused, unchanged.
func TestRepairNeedsARangeRepairer(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tbl := b.job(t, replication.KindTableReload, "plain", time.Hour)
	wrapped := snapshot.TableMethod
	wrapped.Open = func(ctx context.Context, source, dest *pgxpool.Pool, destTable replication.Table, o replication.Options) (replication.Replicator, error) {
		r, err := snapshot.TableMethod.Open(ctx, source, dest, destTable, o)
		return plain{r}, err
	}
	pgtest.MustExec(t, b.Dest, `DELETE FROM public.plain WHERE id = 1`)
	_, err := scheduler.Repair(context.Background(), b.Source, b.Dest, tbl, &scheduler.RepairConfig{Methods: []replication.Method{wrapped}})
	require.ErrorIs(t, err, scheduler.ErrCannotRepair)
	require.Len(t, pgtest.Rows(t, b.Dest, `SELECT * FROM public.plain`), 49)

	_, err = scheduler.Repair(context.Background(), b.Source, b.Dest, replication.T("public", "nothing"), &scheduler.RepairConfig{Methods: allMethods})
	require.ErrorIs(t, err, replication.ErrNotManaged)
}

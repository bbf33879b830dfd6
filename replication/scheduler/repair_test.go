package scheduler_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/replication"
	"github.com/pgmimeo/pgmimeo/replication/scheduler"
)

// Repair fixes a tampered destination (rows changed, deleted and added)
// of every kind that can repair ranges, so that it equals the source row
// for row, and leaves an untouched one alone.
func TestRepairFixesTamperedDestinations(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	repaired := 0
	for i, k := range mixedKinds {
		if k == replication.KindDML || k == replication.KindLogDel {
			continue // no range repair yet: see TestRepairRefusesDML
		}
		repaired++
		tbl := b.job(k, fmt.Sprintf("r%d_%s", i, k), time.Hour)
		pgtest.MustExec(t, b.Dest, `UPDATE `+tbl.Sanitize()+` SET payload = 'tampered' WHERE id IN (3, 30)`)
		pgtest.MustExec(t, b.Dest, `DELETE FROM `+tbl.Sanitize()+` WHERE id IN (7, 44)`)
		pgtest.MustExec(t, b.Dest, `INSERT INTO `+tbl.Sanitize()+` SELECT -id, ctl, 'added' FROM `+tbl.Sanitize()+` WHERE id = 20`)
		report, err := scheduler.Repair(ctx, b.Source, b.Dest, tbl, &scheduler.RepairConfig{Runtime: scheduler.Runtime{JobLog: b.log}})
		require.NoError(t, err, "%s", k)
		require.False(t, report.Before.Match, "%s", k)
		require.NotEmpty(t, report.Before.Ranges)
		require.True(t, report.Repaired(), "%s: %+v", k, report.After)
		require.Positive(t, report.Repair.Inserted)
		b.same(tbl)

		report, err = scheduler.Repair(ctx, b.Source, b.Dest, tbl, nil)
		require.NoError(t, err)
		require.True(t, report.Before.Match)
		require.Nil(t, report.After)
		require.True(t, report.Repaired())
	}
	// Each repair is in the job log.
	require.Len(t, pgtest.Rows(t, b.Dest, `SELECT job_id FROM jobmon.job_log WHERE job_name LIKE 'REPAIR %' AND status = 'OK'`), repaired)
}

// plain is a replicator without RepairRanges.
type plain struct{ replication.Replicator }

// A job whose replicator cannot repair ranges is refused, unchanged.
func TestRepairNeedsARangeRepairer(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tbl := b.job(replication.KindTableReload, "plain", time.Hour)
	reg := scheduler.DefaultRegistry()
	open := reg[replication.KindTableReload]
	reg[replication.KindTableReload] = func(ctx context.Context, source, dest *pgxpool.Pool, destTable replication.Table, rt scheduler.Runtime) (replication.Replicator, error) {
		r, err := open(ctx, source, dest, destTable, rt)
		return plain{r}, err
	}
	pgtest.MustExec(t, b.Dest, `DELETE FROM public.plain WHERE id = 1`)
	_, err := scheduler.Repair(context.Background(), b.Source, b.Dest, tbl, &scheduler.RepairConfig{Registry: reg})
	require.ErrorIs(t, err, scheduler.ErrCannotRepair)
	require.Len(t, pgtest.Rows(t, b.Dest, `SELECT * FROM public.plain`), 49)

	_, err = scheduler.Repair(context.Background(), b.Source, b.Dest, replication.T("public", "nothing"), nil)
	require.ErrorIs(t, err, replication.ErrNotManaged)
}

// DML and LogDeletes jobs cannot re-pull key ranges yet: Repair says so,
// by a typed error naming the table, and changes nothing.
func TestRepairRefusesDML(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	for _, k := range []replication.Kind{replication.KindDML, replication.KindLogDel} {
		tbl := b.job(k, "n_"+string(k), time.Hour)
		pgtest.MustExec(t, b.Dest, `UPDATE `+tbl.Sanitize()+` SET payload = 'tampered' WHERE id = 3`)
		before := pgtest.Rows(t, b.Dest, "SELECT id, ctl, payload FROM "+tbl.Sanitize())
		_, err := scheduler.Repair(ctx, b.Source, b.Dest, tbl, nil)
		var te *replication.TableError
		require.ErrorAs(t, err, &te, "%s", k)
		require.Equal(t, tbl, te.Table)
		require.Contains(t, err.Error(), "cannot repair key ranges")
		require.Equal(t, before, pgtest.Rows(t, b.Dest, "SELECT id, ctl, payload FROM "+tbl.Sanitize()))
	}
}

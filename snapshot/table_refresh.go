package snapshot

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgmimeo/pgmimeo/internal/copypipe"
	"github.com/pgmimeo/pgmimeo/internal/sqltext"
	"github.com/pgmimeo/pgmimeo/replication"
)

// Refresh truncates the destination (with CASCADE when the job was set up
// with TruncateCascade) and loads every source row again, with its indexes
// dropped during the load and built after it (except indexes that a
// foreign key of another table needs), then resets the job's sequences and
// analyses the table, all in one destination transaction under the
// destination's advisory lock. The job's state is saved in that
// transaction. Lock contention is reported as for Snapshot.Refresh.
func (t *Table) Refresh(ctx context.Context) (replication.Result, error) {
	return t.refreshJob(ctx, &t.cfg.Options, "Refresh Table", replication.KindTableReload, t.refresh)
}

func (t *Table) refresh(ctx context.Context, conn *pgxpool.Conn, job *replication.Job, run *replication.JobRun) (res replication.Result, err error) {
	var opts jobOptions
	if err := decodeJSON(job.Config, &opts, "config", t.dst); err != nil {
		return res, err
	}
	run.Step(ctx, "Reading source "+t.src.String())
	srcConn, err := t.source.Acquire(ctx)
	if err != nil {
		return res, fmt.Errorf("connect to source: %w", err)
	}
	defer srcConn.Release()
	src, err := describeSource(ctx, srcConn, t.src, opts.Columns, opts.Condition, false)
	if err != nil {
		return res, err
	}
	for _, m := range src.missing {
		w := fmt.Sprintf("filtered column %s is no longer on the source; it is no longer loaded", replication.QuoteIdent(m))
		res.Warnings = append(res.Warnings, w)
		run.Warn(ctx, w)
	}
	tx, err := beginLoad(ctx, conn, t.cfg.LoadOptions)
	if err != nil {
		return res, err
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx))
		}
	}()
	state := tableState{Columns: signature(src.cols)}
	st, err := t.reload(ctx, tx, srcConn, src, opts, run)
	if err != nil {
		return res, err
	}
	state.Rows, state.Loaded = st.Rows, true
	if err := t.catalog.SaveState(ctx, tx, job.ID, state); err != nil {
		return res, err
	}
	if err := tx.Commit(ctx); err != nil {
		return res, fmt.Errorf("commit refresh of %s: %w", t.dst, err)
	}
	res.Inserted, res.Bytes = st.Rows, st.Bytes
	return res, nil
}

// reload truncates the destination and loads it bare, as Refresh says.
func (t *Table) reload(ctx context.Context, tx pgx.Tx, srcConn *pgxpool.Conn, src *source, opts jobOptions, run *replication.JobRun) (copypipe.Stats, error) {
	run.Step(ctx, "Truncating "+t.dst.String())
	truncate := "TRUNCATE " + t.dst.Sanitize()
	if opts.TruncateCascade {
		truncate += " CASCADE"
	}
	err := lockRetry(ctx, tx, t.cfg.LoadOptions, "truncate "+t.dst.String(), func(ctx context.Context) error {
		_, err := tx.Exec(ctx, truncate)
		return err
	})
	if sqltext.SQLState(err) == pgerrcode.FeatureNotSupported {
		return copypipe.Stats{}, &replication.TableError{Table: t.dst, Err: fmt.Errorf("%w: %w", replication.ErrBadOption, err),
			Fix: "other tables reference it by foreign key: set TruncateCascade to empty them too, or drop their foreign keys"}
	}
	if err != nil {
		return copypipe.Stats{}, err
	}
	if opts.TruncateCascade {
		run.Done(ctx, "Truncated with CASCADE: tables referencing it by foreign key were emptied too")
	}
	ixs, err := captureIndexes(ctx, tx, t.dst)
	if err != nil {
		return copypipe.Stats{}, err
	}
	dropped, err := dropIndexes(ctx, tx, t.dst, ixs)
	if err != nil {
		return copypipe.Stats{}, err
	}
	run.Step(ctx, "Loading "+t.dst.String())
	st, err := load(ctx, tx, srcConn.Conn().PgConn(), src, t.dst, true, t.cfg.LoadOptions)
	if err != nil {
		return st, err
	}
	run.Done(ctx, "Inserted %d rows (%d bytes)", st.Rows, st.Bytes)
	if len(dropped) > 0 {
		run.Step(ctx, "Building indexes of "+t.dst.String())
		if err := rebuildIndexes(ctx, tx, t.dst, dropped); err != nil {
			return st, err
		}
	}
	if err := t.resetSequences(ctx, tx, opts.Sequences, run); err != nil {
		return st, err
	}
	return st, analyze(ctx, tx, t.dst)
}

func (t *Table) resetSequences(ctx context.Context, tx pgx.Tx, seqs []replication.Table, run *replication.JobRun) error {
	if len(seqs) == 0 {
		return nil
	}
	run.Step(ctx, "Resetting sequences")
	done, err := resetSequences(ctx, tx, seqs)
	if err != nil {
		return err
	}
	if len(done) == 0 {
		run.Done(ctx, "No values in use: sequences left as they were")
	} else {
		run.Done(ctx, "%s", strings.Join(done, ", "))
	}
	return nil
}

package snapshot

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgmimeo/pgmimeo/replication"
)

// jobOf reads the job of dest and checks that it is of kind and replicates
// src.
func jobOf(ctx context.Context, c *replication.Catalog, db replication.DB, dest, src replication.Table, kind replication.Kind) (*replication.Job, error) {
	job, err := c.Job(ctx, db, dest)
	if err != nil {
		return nil, err
	}
	if job.Kind != kind {
		return nil, &replication.TableError{Table: dest, Err: replication.ErrWrongKind,
			Fix: fmt.Sprintf("its job is of kind %q; use that kind's package", job.Kind)}
	}
	if job.SourceTable != src {
		return nil, &replication.TableError{Table: dest, Err: replication.ErrBadOption,
			Fix: fmt.Sprintf("its job replicates source %s, not %s", job.SourceTable, src)}
	}
	return job, nil
}

// refreshJob is what both Refreshes share: one run of the job (see
// endpoints.run) called name, which checks that the catalog holds a job of
// kind for this source and runs refresh on the locked connection.
func (e *endpoints) refreshJob(ctx context.Context, opts *replication.Options, name string, kind replication.Kind,
	refresh func(ctx context.Context, conn *pgxpool.Conn, job *replication.Job, run *replication.JobRun) (replication.Result, error)) (replication.Result, error) {
	return e.run(ctx, replication.OpRefresh, kind, replication.JobName(name, e.dst), opts,
		func(ctx context.Context, conn *pgxpool.Conn, run *replication.JobRun) (replication.Result, error) {
			job, err := jobOf(ctx, e.catalog, conn, e.dst, e.src, kind)
			if err != nil {
				return replication.Result{}, err
			}
			return refresh(ctx, conn, job, run)
		})
}

// destroyJob is what both Destroys share: one run of the job called name
// which checks that the catalog holds a job of kind for this source and
// then, in one destination transaction, lets drop remove what the job made
// and deletes the job's catalog row. Nothing changes when drop fails.
func (e *endpoints) destroyJob(ctx context.Context, opts *replication.Options, name string, kind replication.Kind,
	drop func(ctx context.Context, run *replication.JobRun, tx pgx.Tx) error) error {
	_, err := e.run(ctx, replication.OpDestroy, kind, replication.JobName(name, e.dst), opts,
		func(ctx context.Context, conn *pgxpool.Conn, run *replication.JobRun) (res replication.Result, err error) {
			if _, err := jobOf(ctx, e.catalog, conn, e.dst, e.src, kind); err != nil {
				return res, err
			}
			tx, err := conn.Begin(ctx)
			if err != nil {
				return res, fmt.Errorf("begin destination transaction: %w", err)
			}
			defer func() {
				if err != nil {
					_ = tx.Rollback(context.WithoutCancel(ctx))
				}
			}()
			if err := drop(ctx, run, tx); err != nil {
				return res, err
			}
			if err := e.catalog.DeleteJob(ctx, tx, e.dst); err != nil {
				return res, err
			}
			if err := tx.Commit(ctx); err != nil {
				return res, fmt.Errorf("commit destroy of %s: %w", e.dst, err)
			}
			run.Done(ctx, "Done")
			return res, nil
		})
	return err
}

// jobOptions are the options recorded in the catalog at setup (the job's
// config column); later calls use them.
type jobOptions struct {
	Columns         []string            `json:"columns,omitempty"`
	Condition       string              `json:"condition,omitempty"`
	SkipIndexes     bool                `json:"skip_indexes,omitempty"`
	SkipUnchanged   bool                `json:"skip_unchanged,omitempty"`
	PostScripts     []string            `json:"post_scripts,omitempty"`
	TruncateCascade bool                `json:"truncate_cascade,omitempty"`
	Sequences       []replication.Table `json:"sequences,omitempty"`
}

// snapState is a snapshot job's progress (the job's state column), written
// in the destination transaction that swaps the view.
type snapState struct {
	// Active is the table the view shows: "snap1" or "snap2".
	Active string `json:"active"`
	// Columns is the source column signature the tables were built for.
	Columns []columnSig `json:"columns"`
	// Stats is the source's change signature read before the last pull;
	// nil when the data was not pulled (SkipPull) or cannot be vouched for.
	Stats *statsSig `json:"stats,omitempty"`
	// Rows is the number of rows of the last pull.
	Rows int64 `json:"rows"`
}

// tableState is a table job's progress.
type tableState struct {
	// Columns is the source column signature of the last load.
	Columns []columnSig `json:"columns"`
	// Rows is the number of rows of the last load.
	Rows int64 `json:"rows"`
	// Loaded is false until the first load.
	Loaded bool `json:"loaded"`
}

// columnSig is one replicated column as the source describes it; a change
// in any field is a column change.
type columnSig struct {
	Name    string `json:"name"`
	Type    string `json:"type"`
	NotNull bool   `json:"not_null,omitempty"`
}

func signature(cols []replication.Column) []columnSig {
	out := make([]columnSig, len(cols))
	for i, c := range cols {
		out[i] = columnSig{Name: c.Name, Type: c.Type, NotNull: c.NotNull}
	}
	return out
}

func sameColumns(a, b []columnSig) bool { return slices.Equal(a, b) }

// describeChange says how the source columns moved from old to cur, for the
// job log.
func describeChange(old, cur []columnSig) string {
	if len(old) == 0 {
		return "destination tables rebuilt"
	}
	oldBy := map[string]columnSig{}
	for _, c := range old {
		oldBy[c.Name] = c
	}
	curBy := map[string]columnSig{}
	for _, c := range cur {
		curBy[c.Name] = c
	}
	var parts []string
	for _, c := range cur {
		o, ok := oldBy[c.Name]
		switch {
		case !ok:
			parts = append(parts, "added "+replication.QuoteIdent(c.Name)+" "+c.Type)
		case o.Type != c.Type:
			parts = append(parts, "retyped "+replication.QuoteIdent(c.Name)+" "+o.Type+" -> "+c.Type)
		case o.NotNull != c.NotNull:
			parts = append(parts, "changed nullability of "+replication.QuoteIdent(c.Name))
		}
	}
	for _, o := range old {
		if _, ok := curBy[o.Name]; !ok {
			parts = append(parts, "dropped "+replication.QuoteIdent(o.Name))
		}
	}
	if len(parts) == 0 {
		return "column order changed"
	}
	return strings.Join(parts, ", ")
}

func decodeJSON(raw json.RawMessage, v any, what string, dest replication.Table) error {
	if len(raw) == 0 {
		return nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("decode %s of job %s: %w", what, dest, err)
	}
	return nil
}

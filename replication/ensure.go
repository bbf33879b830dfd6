package replication

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/pgmimeo/pgmimeo/internal/durable"
)

// ErrRebuild is wrapped by the *RebuildError Ensure returns for a declared
// setting that differs from the job's and cannot change in place.
var ErrRebuild = errors.New("the job must be rebuilt to change a setting")

// RebuildError names the setting that differs from the job's and the way
// to rebuild the job with it.
type RebuildError struct {
	// Table is the job's destination table.
	Table Table
	// Setting names the setting ("key", "column filter", "capture"…).
	Setting string
	// Have is the job's value, Want the declared one, as text.
	Have, Want string
}

// Error implements error.
func (e *RebuildError) Error() string {
	return fmt.Sprintf("table %s: %s is %s in the job and %s as declared: %v "+
		"(rebuild the job: Destroy it, then Ensure it again, which pulls the destination anew; "+
		"with the pgmimeo command, destroy the job and apply the file again)", e.Table, e.Setting, e.Have, e.Want, ErrRebuild)
}

// Unwrap returns ErrRebuild.
func (e *RebuildError) Unwrap() error { return ErrRebuild }

// Declaration is a job as a service declares it: what Ensure needs of a
// kind. Each kind's Replicator builds its own (see its Ensure method).
type Declaration struct {
	// Kind, Source and Dest are the job's identity: a job of another kind
	// or source table at Dest must be rebuilt.
	Kind   Kind
	Source Table
	Dest   Table
	// Options are the declared options: source name, catalog and run
	// settings (Options.RunSettings).
	Options *Options
	// Setup makes the job when it does not exist: the kind's Setup.
	Setup func(ctx context.Context) error
	// Reconcile compares the job's stored config with the declaration. It
	// returns a *RebuildError for a setting that cannot change in place;
	// else the config to store (nil: unchanged) and the names of the
	// settings it changes.
	Reconcile func(stored json.RawMessage) (config json.RawMessage, changed []string, err error)
}

// errMadeMeanwhile is the error of a Setup called by Ensure that found,
// once it held the destination's lock, the job made by another process.
// It wraps ErrExists, so that Ensure compares with that job.
var errMadeMeanwhile = fmt.Errorf("%w: made meanwhile by another process", ErrExists)

// ensuringKey marks the context of a Setup that Ensure calls.
type ensuringKey struct{}

// ensuring reports whether ctx is that of a Setup that Ensure calls.
func ensuring(ctx context.Context) bool { return ctx.Value(ensuringKey{}) != nil }

// Ensured says what Ensure did.
type Ensured struct {
	// Created is true when the job did not exist and Setup made it.
	Created bool
	// Changed names the settings changed in place; empty when the job
	// was as declared, and then nothing was written.
	Changed []string
}

// Ensure makes the job d declares exist as declared, in the destination
// database db: when it does not exist, d.Setup makes it; when it exists
// with the same identity, the settings that can change in place (run
// settings, and those the kind's Reconcile changes) are changed in one
// transaction, and the rest is left alone; a setting that needs a rebuild
// is a *RebuildError (ErrRebuild) naming it, and nothing is changed. An
// unchanged job is left untouched: Ensure writes nothing and logs no job,
// so a service can call it at every start.
func Ensure(ctx context.Context, db DB, d *Declaration) (Ensured, error) {
	o := d.options()
	cat := NewCatalog(o.Catalog)
	if err := cat.Migrate(ctx, db); err != nil {
		return Ensured{}, fmt.Errorf("ensure %s: prepare catalog: %w", d.Dest, err)
	}
	if _, err := cat.Job(ctx, db, d.Dest); errors.Is(err, ErrNotManaged) {
		err := d.Setup(context.WithValue(ctx, ensuringKey{}, true))
		if err == nil {
			return Ensured{Created: true}, nil
		}
		// Another process made it meanwhile: compare with that one.
		if _, jerr := cat.Job(ctx, db, d.Dest); !errors.Is(err, ErrExists) || jerr != nil {
			return Ensured{}, err
		}
	} else if err != nil {
		return Ensured{}, err
	}
	var out Ensured
	err := durable.InTx(ctx, db, func(tx pgx.Tx) error {
		// The job's row stays locked until the commit, so no other Ensure or
		// settings change interleaves with this one.
		var id int64
		err := tx.QueryRow(ctx, `SELECT job_id FROM `+cat.table("jobs")+` WHERE dest_schema = $1 AND dest_table = $2 FOR NO KEY UPDATE`,
			d.Dest.Schema, d.Dest.Name).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
			return &TableError{Table: d.Dest, Err: ErrNotManaged, Fix: "the job was destroyed meanwhile; ensure it again"}
		}
		if err != nil {
			return fmt.Errorf("ensure %s: lock job: %w", d.Dest, err)
		}
		job, err := cat.JobByID(ctx, tx, id)
		if err != nil {
			return err
		}
		diff, err := d.compare(job)
		if err != nil {
			return err
		}
		if diff.config != nil {
			if _, err := tx.Exec(ctx, `UPDATE `+cat.table("jobs")+` SET config = $2 WHERE job_id = $1`, job.ID, diff.config); err != nil {
				return fmt.Errorf("ensure %s: %w", d.Dest, err)
			}
		}
		if diff.run {
			if err := cat.SetRunSettings(ctx, tx, d.Dest, o.RunSettings()); err != nil {
				return err
			}
		}
		out.Changed = diff.changed
		return nil
	})
	if err != nil {
		return Ensured{}, err
	}
	return out, nil
}

// Plan says what Ensure would do with d, changing nothing: Created when
// the job (or the catalog) does not exist yet, the settings it would
// change in place, or the *RebuildError Ensure would return. It does not
// check what Setup would check of a job it would create (run the kind's
// Preflight for that).
func Plan(ctx context.Context, db DB, d *Declaration) (Ensured, error) {
	cat := NewCatalog(d.options().Catalog)
	exists, err := cat.Exists(ctx, db)
	if err != nil {
		return Ensured{}, fmt.Errorf("plan %s: %w", d.Dest, err)
	}
	if !exists {
		return Ensured{Created: true}, nil
	}
	job, err := cat.Job(ctx, db, d.Dest)
	if errors.Is(err, ErrNotManaged) {
		return Ensured{Created: true}, nil
	}
	if err != nil {
		return Ensured{}, err
	}
	diff, err := d.compare(job)
	if err != nil {
		return Ensured{}, err
	}
	return Ensured{Changed: diff.changed}, nil
}

func (d *Declaration) options() *Options {
	if d.Options == nil {
		return &Options{}
	}
	return d.Options
}

// difference is what differs between a job and its declaration, where
// nothing needs a rebuild.
type difference struct {
	config  json.RawMessage // the config to store; nil: unchanged
	run     bool            // the run settings differ
	changed []string        // the names of every changed setting
}

// compare checks the job's identity against d's, then asks the kind's
// Reconcile about its config and compares the run settings.
func (d *Declaration) compare(job *Job) (difference, error) {
	o := d.options()
	switch {
	case job.Kind != d.Kind:
		return difference{}, &RebuildError{Table: d.Dest, Setting: "kind", Have: string(job.Kind), Want: string(d.Kind)}
	case job.SourceTable != d.Source:
		return difference{}, &RebuildError{Table: d.Dest, Setting: "source table", Have: job.SourceTable.String(), Want: d.Source.String()}
	case job.SourceName != o.Source():
		return difference{}, &RebuildError{Table: d.Dest, Setting: "source name", Have: job.SourceName, Want: o.Source()}
	}
	config, changed, err := d.Reconcile(job.Config)
	if err != nil {
		return difference{}, err
	}
	runChanged := job.RunSettings().Changes(o.RunSettings())
	return difference{config: config, run: len(runChanged) > 0, changed: append(slices.Clip(runChanged), changed...)}, nil
}

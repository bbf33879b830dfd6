package check

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pgmimeo/pgmimeo/replication"
)

// RowCountOptions say which rows ValidateRowCount counts. The zero value
// counts every row of both tables.
type RowCountOptions struct {
	// Condition restricts the source rows, in mimeo's form (see
	// Options.Condition): the job's own condition. Default: every row.
	Condition string

	// DestCondition restricts the destination rows: an expression on the
	// destination's columns, with or without a leading WHERE (for example
	// "mimeo_source_deleted IS NULL" for a LogDeletes job). Default: every
	// row.
	DestCondition string

	// Control is the control column of an incremental job. With it, only
	// rows up to the destination's greatest control value are counted on
	// both sides (rows the job has not pulled yet are left out), narrowed by
	// Lower and Upper. It must be a timestamp, timestamptz, smallint,
	// integer or bigint column on both sides. Default: no control column.
	Control string

	// Lower limits the count to rows whose control value is greater than
	// the destination's greatest control value minus Lower: an interval
	// ("30 days") for a time column, an integer ("1000") for a serial one.
	// Needs Control. Default "": no lower bound.
	Lower string

	// Upper limits the count to rows whose control value is less than the
	// destination's greatest control value minus Upper (same forms as
	// Lower), so that recent rows still being written on the source are
	// left out. Needs Control. Default "": rows up to and including the
	// destination's greatest control value.
	Upper string
}

func (o *RowCountOptions) validate() error {
	if o.Control == "" && (o.Lower != "" || o.Upper != "") {
		field := "RowCountOptions.Lower"
		if o.Lower == "" {
			field = "RowCountOptions.Upper"
		}
		return &replication.OptionError{Field: field, Problem: "needs RowCountOptions.Control: bounds are offsets from the destination's greatest control value"}
	}
	return checkDestCondition("RowCountOptions.DestCondition", o.DestCondition)
}

// RowCount is the outcome of a row-count validation.
type RowCount struct {
	Source replication.Table
	Dest   replication.Table
	// SourceCount and DestCount are the rows counted on each side.
	SourceCount int64
	DestCount   int64
	// Match is true when the counts are equal.
	Match bool
	// ControlBounds are the control-value bounds of the rows counted.
	ControlBounds
}

// ControlBounds are the control-value bounds a check of an incremental job
// used on both sides.
type ControlBounds struct {
	// Control is the control column the bounds apply to; "" when none.
	Control string
	// DestMax is the destination's greatest control value, as text; nil
	// without a control column or when the destination is empty (then
	// every row is taken).
	DestMax *string
	// Min, when set, is the exclusive lower bound used: rows with a control
	// value greater than Min were taken.
	Min *string
	// Max, when set, is the upper bound used: rows with a control value
	// up to Max were taken, including Max when MaxInclusive.
	Max          *string
	MaxInclusive bool
}

// ValidateRowCount compares the number of rows of source table source (on
// src) with those of destination table or view dest (on dest), with
// mimeo's validate_rowcount semantics: see RowCountOptions for the rows
// counted. Each side is counted in one read-only snapshot; the two counts
// run at the same time, so the source changing while it is counted shows as
// a difference. For a job in the catalog, ValidateJobRowCount derives the
// options from the job.
func ValidateRowCount(ctx context.Context, src, dest replication.DB, source, destTable replication.Table, opts *RowCountOptions) (*RowCount, error) {
	var o RowCountOptions
	if opts != nil {
		o = *opts
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	srcInfo, err := replication.Describe(ctx, src, source)
	if err != nil {
		return nil, err
	}
	dstInfo, err := replication.Describe(ctx, dest, destTable)
	if err != nil {
		return nil, err
	}
	res := &RowCount{Source: source, Dest: destTable, ControlBounds: ControlBounds{Control: o.Control}}

	srcTx, err := beginCheck(ctx, src)
	if err != nil {
		return nil, fmt.Errorf("count %s: %w", source, err)
	}
	defer endCheck(ctx, srcTx)
	dstTx, err := beginCheck(ctx, dest)
	if err != nil {
		return nil, fmt.Errorf("count %s: %w", destTable, err)
	}
	defer endCheck(ctx, dstTx)

	var srcCtl, dstCtl replication.Column
	if o.Control != "" {
		if srcCtl, err = controlColumn(srcInfo, o.Control); err != nil {
			return nil, err
		}
		if dstCtl, err = controlColumn(dstInfo, o.Control); err != nil {
			return nil, err
		}
		if err := res.bounds(ctx, dstTx, dstInfo, dstCtl, &o); err != nil {
			return nil, err
		}
	}

	srcCond, err := replication.NormalizeCondition(source, o.Condition)
	if err != nil {
		return nil, err
	}
	dstCond, err := replication.NormalizeCondition(destTable, o.DestCondition)
	if err != nil {
		return nil, err
	}
	srcSQL, srcArgs := res.countSQL(source, srcCond, srcCtl.Type)
	dstSQL, dstArgs := res.countSQL(destTable, dstCond, dstCtl.Type)
	srcErr := make(chan error, 1)
	go func() { srcErr <- srcTx.QueryRow(ctx, srcSQL, srcArgs...).Scan(&res.SourceCount) }()
	dstErrV := dstTx.QueryRow(ctx, dstSQL, dstArgs...).Scan(&res.DestCount)
	if err := <-srcErr; err != nil {
		return nil, checkQueryError("count rows", source, o.Condition, err)
	}
	if dstErrV != nil {
		return nil, checkQueryError("count rows", destTable, o.DestCondition, dstErrV)
	}
	res.Match = res.SourceCount == res.DestCount
	return res, nil
}

// controlColumn returns the control column of a table, or a *ColumnError
// when it is missing or of a type that cannot be one.
func controlColumn(info *replication.TableInfo, name string) (replication.Column, error) {
	c, ok := info.Column(name)
	if !ok {
		return replication.Column{}, &replication.ColumnError{Table: info.Table, Column: name, Err: replication.ErrColumnNotFound,
			Fix: "name the job's control column (names are case-sensitive)"}
	}
	if ControlClassOf(c) == ControlNone {
		return replication.Column{}, &replication.ColumnError{Table: info.Table, Column: name, Err: replication.ErrBadOption,
			Fix: fmt.Sprintf("a control column must be timestamp, timestamptz, smallint, integer or bigint, not %s", c.Type)}
	}
	return c, nil
}

// bounds reads the destination's greatest control value and turns Lower
// and Upper into the bounds of the count. A bad offset fails the check's
// transaction, which is only read and thrown away.
func (r *ControlBounds) bounds(ctx context.Context, dst replication.DB, info *replication.TableInfo, ctl replication.Column, o *RowCountOptions) error {
	off := ControlClassOf(ctl).offsetType()
	for _, f := range []struct{ name, val string }{{"RowCountOptions.Lower", o.Lower}, {"RowCountOptions.Upper", o.Upper}} {
		if f.val == "" {
			continue
		}
		_, err := dst.Exec(ctx, `SELECT $1::text::`+off, f.val)
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && strings.HasPrefix(pgErr.Code, "22") {
			return &replication.OptionError{Field: f.name, Problem: fmt.Sprintf("%q is not a valid %s offset for control column %s (%s)",
				f.val, off, replication.QuoteIdent(ctl.Name), ctl.Type)}
		}
		if err != nil {
			return fmt.Errorf("check %s: %w", f.name, err)
		}
	}
	return r.readBounds(ctx, dst, info, replication.QuoteIdent(ctl.Name), off, o)
}

func (r *ControlBounds) readBounds(ctx context.Context, dst replication.DB, info *replication.TableInfo, col, off string, o *RowCountOptions) error {
	var lower, upper *string
	if o.Lower != "" {
		lower = &o.Lower
	}
	if o.Upper != "" {
		upper = &o.Upper
	}
	cond, err := replication.NormalizeCondition(info.Table, o.DestCondition)
	if err != nil {
		return err
	}
	q := `SELECT m::text, (m - $1::text::` + off + `)::text, (m - $2::text::` + off + `)::text
		FROM (SELECT max(` + col + `) AS m FROM ` + info.Table.Sanitize() + cond + `) s`
	var max, min, upBound *string
	if err := dst.QueryRow(ctx, q, lower, upper).Scan(&max, &min, &upBound); err != nil {
		return checkQueryError("read greatest control value", info.Table, o.DestCondition, err)
	}
	if max == nil {
		return nil
	}
	r.DestMax, r.Min = max, min
	if upBound != nil {
		r.Max = upBound
	} else {
		r.Max, r.MaxInclusive = max, true
	}
	return nil
}

// countSQL is the count query for table t with condition cond, bounded by
// the control column (of SQL type typ) when bounds were found.
func (r *RowCount) countSQL(t replication.Table, cond, typ string) (string, []any) {
	if r.DestMax == nil {
		return `SELECT count(*) FROM ` + t.Sanitize() + cond, nil
	}
	var args []any
	preds := r.predicates(func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}, typ)
	return `SELECT count(*) FROM (SELECT ` + t.Sanitize() + `.` + replication.QuoteIdent(r.Control) + ` AS pgmimeo_c FROM ` +
		t.Sanitize() + cond + `) s` + whereAnd(preds), args
}

// predicates are the bounds as conditions on the column alias pgmimeo_c
// (of SQL type typ); add adds a parameter value and returns its
// placeholder. None when no bounds were found.
func (r *ControlBounds) predicates(add func(any) string, typ string) []string {
	if r.DestMax == nil {
		return nil
	}
	var preds []string
	if r.Min != nil {
		preds = append(preds, `pgmimeo_c > `+add(*r.Min)+`::text::`+typ)
	}
	op := " < "
	if r.MaxInclusive {
		op = " <= "
	}
	return append(preds, `pgmimeo_c`+op+add(*r.Max)+`::text::`+typ)
}

// JobRowCountOptions are the options of ValidateJobRowCount. The zero value
// counts every row the job should have replicated.
type JobRowCountOptions struct {
	// Lower and Upper narrow the count of an incremental job as in
	// RowCountOptions. Default: no lower bound, and rows up to the
	// destination's greatest control value.
	Lower string
	Upper string

	// Control overrides the control column read from the job's config.
	// Default: the job's.
	Control string

	// DestCondition restricts the destination rows as in RowCountOptions.
	// Default: none, except for LogDeletes jobs, whose rows deleted on the
	// source are left out ("mimeo_source_deleted IS NULL").
	DestCondition string

	// Lock, when set, is a session on the destination that holds the job's
	// refresh lock while counting, as mimeo does for every kind but the
	// incremental ones, so that no refresh runs between the two counts.
	// A refresh that holds the lock makes the validation fail with
	// ErrLocked (after LockWait). Default nil: no lock is taken.
	Lock replication.Locker

	// LockWait is how long to wait for the lock (see Options.LockWait).
	// Default nil: do not wait.
	LockWait *time.Duration
}

// LogDelDeletedColumn is the destination column in which LogDeletes jobs
// stamp rows deleted on the source.
const LogDelDeletedColumn = "mimeo_source_deleted"

// ValidateJobRowCount is ValidateRowCount for the catalog job of
// destination table destTable: it reads the job from cat on dest and takes
// its source table, condition and control column from it (see
// Job.Settings). src must be the job's source.
func ValidateJobRowCount(ctx context.Context, src, dest replication.DB, cat *replication.Catalog, destTable replication.Table, opts *JobRowCountOptions) (*RowCount, error) {
	var o JobRowCountOptions
	if opts != nil {
		o = *opts
	}
	job, err := cat.Job(ctx, dest, destTable)
	if err != nil {
		return nil, err
	}
	set, err := job.Settings()
	if err != nil {
		return nil, err
	}
	rc := RowCountOptions{Condition: set.Condition, DestCondition: o.DestCondition, Lower: o.Lower, Upper: o.Upper}
	if job.Kind.Incremental() {
		rc.Control = set.Control
		if o.Control != "" {
			rc.Control = o.Control
		}
		if rc.Control == "" {
			return nil, &replication.TableError{Table: destTable, Err: replication.ErrBadOption,
				Fix: "the job's config names no control column: give JobRowCountOptions.Control"}
		}
	} else if o.Lower != "" || o.Upper != "" {
		return nil, &replication.OptionError{Field: "JobRowCountOptions.Lower/Upper", Problem: fmt.Sprintf("only incremental jobs have control-value bounds; job %s is %s", destTable, job.Kind)}
	}
	if rc.DestCondition == "" && job.Kind == replication.KindLogDel {
		rc.DestCondition = replication.QuoteIdent(LogDelDeletedColumn) + " IS NULL"
	}
	if o.Lock != nil && !job.Kind.Incremental() {
		lock, err := replication.AcquireLock(ctx, o.Lock, destTable, o.LockWait)
		if err != nil {
			return nil, err
		}
		defer func() { _ = lock.Release(context.WithoutCancel(ctx)) }()
	}
	return ValidateRowCount(ctx, src, dest, job.SourceTable, destTable, &rc)
}

package incremental

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgmimeo/pgmimeo/internal/sqltext"
	"github.com/pgmimeo/pgmimeo/replication"
)

// ErrBatchLimit is wrapped by the error of a refresh whose batch limit is
// smaller than the number of rows sharing one control value: such a batch
// can neither be split (rows would be lost) nor skipped.
var ErrBatchLimit = errors.New("batch limit is smaller than the rows sharing one control value")

// job is what the Inserter and the Updater share: one source table, one
// destination table, and the settings.
type job struct {
	source  *pgxpool.Pool
	dest    *pgxpool.Pool
	src     replication.Table
	dst     replication.Table
	updater bool
	cfg     Config
	// given is true when cfg came from New, so its identity is checked
	// against the catalog; false when Open rebuilt it from the catalog.
	given   bool
	catalog *replication.Catalog
}

func newJob(source, dest *pgxpool.Pool, table replication.Table, cfg *Config, updater bool) (*job, error) {
	if source == nil {
		return nil, &replication.OptionError{Field: "source", Problem: "is nil: pass a pool on the source database"}
	}
	if dest == nil {
		return nil, &replication.OptionError{Field: "dest", Problem: "is nil: pass a pool on the destination database"}
	}
	if err := table.Validate(); err != nil {
		return nil, err
	}
	c := withDefaults(cfg)
	if err := c.validate(updater); err != nil {
		return nil, err
	}
	return &job{
		source: source, dest: dest, src: table, dst: c.DestFor(table), updater: updater,
		cfg: c, given: true, catalog: replication.NewCatalog(c.CatalogSchema()),
	}, nil
}

// kind is the catalog kind of the job.
func (j *job) kind(t ControlType) replication.Kind {
	switch {
	case j.updater && t == Time:
		return replication.KindUpdaterTime
	case j.updater:
		return replication.KindUpdaterSerial
	case t == Time:
		return replication.KindInserterTime
	default:
		return replication.KindInserterSerial
	}
}

// noun is "Inserter" or "Updater", for job-log names.
func (j *job) noun() string {
	if j.updater {
		return "Updater"
	}
	return "Inserter"
}

// plan is a job resolved against the source's catalog.
type plan struct {
	info *replication.TableInfo
	ctl  control
	// cols are the replicated source columns, in source order.
	cols []replication.Column
	// key are the Updater's key columns.
	key []string
	// cond is the row condition's expression (after WHERE), or "".
	cond string
}

// resolve describes the source table and checks the job's columns against
// it: control column (present, of a usable type), column filter (keeps the
// control and key columns), key (Updater).
func (j *job) resolve(ctx context.Context, controlName string, typ ControlType, filter []string, key []string) (*plan, error) {
	info, err := replication.Describe(ctx, j.source, j.src)
	if err != nil {
		return nil, err
	}
	p := &plan{info: info}
	col, ok := info.Column(controlName)
	if !ok {
		return nil, &replication.ColumnError{Table: j.src, Column: controlName, Err: replication.ErrColumnNotFound,
			Fix: "name an existing timestamp or integer column in Config.Control (names are case-sensitive)"}
	}
	got, ok := controlTypeOf(col.TypeOID)
	if !ok {
		return nil, &replication.ColumnError{Table: j.src, Column: controlName, Err: replication.ErrBadOption,
			Fix: fmt.Sprintf("the control column has type %s: a time job needs timestamp or timestamptz, a serial job smallint, integer or bigint", col.Type)}
	}
	if typ != "" && typ != got {
		return nil, &replication.ColumnError{Table: j.src, Column: controlName, Err: replication.ErrBadOption,
			Fix: fmt.Sprintf("Config.Type is %s but the column has type %s, which makes a %s job", typ, col.Type, got)}
	}
	p.ctl = control{col: col, typ: got}
	if p.cols, err = info.Select(filter); err != nil {
		return nil, err
	}
	if err := replication.RequireColumns(j.src, p.cols, []string{controlName}, "control column"); err != nil {
		return nil, err
	}
	if j.updater {
		if len(key) > 0 {
			for _, k := range key {
				if _, ok := info.Column(k); !ok {
					return nil, &replication.ColumnError{Table: j.src, Column: k, Err: replication.ErrColumnNotFound,
						Fix: "Config.Key names a column the source does not have"}
				}
			}
			p.key = slices.Clone(key)
		} else if p.key, err = info.KeyColumns(); err != nil {
			var te *replication.TableError
			if info.IsView() && errors.As(err, &te) {
				te.Fix = "a view has no key: give its key columns in Config.Key"
			}
			return nil, err
		}
		if err := replication.RequireColumns(j.src, p.cols, p.key, "key"); err != nil {
			return nil, err
		}
	}
	if j.cfg.LateCommit && (info.Kind == replication.KindView || info.Kind == replication.KindForeign) {
		return nil, &replication.TableError{Table: j.src, Err: replication.ErrBadOption,
			Fix: fmt.Sprintf("late-commit mode reads the rows' xmin, which a %s does not have: turn Config.LateCommit off", info.Kind)}
	}
	c, err := replication.NormalizeCondition(j.src, j.cfg.Condition)
	if err != nil {
		return nil, err
	}
	if c != "" {
		p.cond = strings.TrimSpace(strings.TrimSpace(c)[len("WHERE"):])
	}
	return p, nil
}

// colNames returns the replicated column names.
func (p *plan) colNames() []string {
	out := make([]string, len(p.cols))
	for i, c := range p.cols {
		out[i] = c.Name
	}
	return out
}

// colList returns the quoted, comma-separated replicated columns.
func (p *plan) colList() string { return sqltext.IdentList("", p.colNames()) }

// where returns " WHERE …" joining the condition and preds, or "".
func (p *plan) where(preds ...string) string {
	var parts []string
	if p.cond != "" {
		parts = append(parts, "("+p.cond+")")
	}
	parts = append(parts, preds...)
	if len(parts) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(parts, " AND ")
}

// selectSQL returns the source query for the rows matching preds, ordered by
// the control column when ordered is true.
func (p *plan) selectSQL(ordered bool, preds ...string) string {
	q := "SELECT " + p.colList() + " FROM " + p.info.Table.Sanitize() + p.where(preds...)
	if ordered {
		q += " ORDER BY " + p.ctl.ident()
	}
	return q
}

// whereSQL returns " WHERE …" joining preds, or "".
func whereSQL(preds []string) string {
	if len(preds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(preds, " AND ")
}

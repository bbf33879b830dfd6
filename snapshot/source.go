package snapshot

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/pgmimeo/pgmimeo/internal/catalog"
	"github.com/pgmimeo/pgmimeo/internal/sqltext"
	"github.com/pgmimeo/pgmimeo/replication"
)

// source is the source side of a job: the table or view, the columns
// replicated, and the row condition.
type source struct {
	info *replication.TableInfo
	cols []replication.Column
	// cond is the normalised condition, appended after the FROM item.
	cond string
	// missing are filter columns the source no longer has (refresh only).
	missing []string
}

// describeSource reads the source table t and applies the column filter.
// At setup (strict) every filtered column must exist; at refresh a column
// that was dropped on the source is left out (and reported in missing), as
// long as one remains.
func describeSource(ctx context.Context, db catalog.Querier, t replication.Table, filter []string, cond string, strict bool) (*source, error) {
	info, err := replication.Describe(ctx, db, t)
	if err != nil {
		return nil, err
	}
	nc, err := replication.NormalizeCondition(t, cond)
	if err != nil {
		return nil, err
	}
	s := &source{info: info, cond: nc}
	if strict || len(filter) == 0 {
		s.cols, err = info.Select(filter)
		if err != nil {
			return nil, err
		}
		if len(s.cols) == 0 {
			return nil, &replication.TableError{Table: t, Err: replication.ErrColumnNotFound, Fix: "the source has no columns to replicate"}
		}
		return s, nil
	}
	var present []string
	for _, name := range filter {
		if _, ok := info.Column(name); ok {
			present = append(present, name)
		} else {
			s.missing = append(s.missing, name)
		}
	}
	if len(present) == 0 {
		return nil, &replication.ColumnError{Table: t, Column: filter[0], Err: replication.ErrColumnNotFound,
			Fix: "none of the filtered columns is left on the source: destroy the job and set it up again"}
	}
	if s.cols, err = info.Select(present); err != nil {
		return nil, err
	}
	return s, nil
}

// table returns the source table.
func (s *source) table() replication.Table { return s.info.Table }

// isView reports whether the source is a view.
func (s *source) isView() bool { return s.info.Kind == replication.KindView }

// query returns the SELECT that pulls the replicated rows. Columns are
// qualified with the source table so that a joined condition
// (", other WHERE …") cannot make them ambiguous.
func (s *source) query() string {
	t := s.table()
	var b strings.Builder
	b.WriteString("SELECT ")
	for i, c := range s.cols {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(pgx.Identifier{t.Schema, t.Name, c.Name}.Sanitize())
	}
	b.WriteString(" FROM ")
	b.WriteString(t.Sanitize())
	b.WriteString(s.cond)
	return b.String()
}

// names returns the replicated column names.
func (s *source) names() []string {
	out := make([]string, len(s.cols))
	for i, c := range s.cols {
		out[i] = c.Name
	}
	return out
}

// check runs the pull query for no rows, so that a source the role cannot
// read, or a condition that does not parse or run, fails before setup
// creates anything.
func (s *source) check(ctx context.Context, db catalog.Querier) error {
	t := s.table()
	plain := &source{info: s.info, cols: s.cols}
	if err := runEmpty(ctx, db, plain.query()); err != nil {
		if e := privilegeError(t, err, "grant the source role SELECT on the table"); e != err {
			return e
		}
		return fmt.Errorf("read source %s: %w", t, err)
	}
	if s.cond == "" {
		return nil
	}
	if err := runEmpty(ctx, db, s.query()); err != nil {
		if e := privilegeError(t, err, "grant the source role SELECT on the tables the condition reads"); e != err {
			return e
		}
		return &replication.TableError{Table: t, Err: fmt.Errorf("%w: %w", replication.ErrBadCondition, err),
			Fix: "fix the row condition: it is appended to \"SELECT … FROM " + t.Sanitize() + "\" and must start with WHERE, with a comma naming further tables, or be an expression"}
	}
	return nil
}

// runEmpty runs query for no rows, through the extended protocol (it may
// carry the row condition) and without a cached statement (the same text
// may describe other column types later).
func runEmpty(ctx context.Context, db catalog.Querier, query string) error {
	return sqltext.Probe(ctx, db, "SELECT * FROM ("+query+") q LIMIT 0")
}

// createTableSQL returns CREATE TABLE t with the columns (types as the
// source writes them, NOT NULL kept).
func createTableSQL(t replication.Table, cols []columnSig) string {
	var b strings.Builder
	b.WriteString("CREATE TABLE ")
	b.WriteString(t.Sanitize())
	b.WriteString(" (")
	for i, c := range cols {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(replication.QuoteIdent(c.Name))
		b.WriteString(" ")
		b.WriteString(c.Type)
		if c.NotNull {
			b.WriteString(" NOT NULL")
		}
	}
	b.WriteString(")")
	return b.String()
}

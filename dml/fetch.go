package dml

import (
	"github.com/pgmimeo/pgmimeo/replication"
)

// The source queries of a claim. They are run by COPY, which takes no
// parameters: positions are formatted by us, names quoted.

// keysQuery returns the distinct keys of the claimed entries.
func keysQuery(q *Queue, spec *TableSpec, c claim) string {
	return `SELECT DISTINCT ` + List("", spec.Key) + ` FROM ` + q.Table(c.table).Sanitize() + ` WHERE ` + rangeCond(c.lo, c.hi)
}

// rowsQuery returns the current source rows of the claimed keys that match
// the condition, in one statement (mimeo's form: the condition is appended
// after the FROM items, so it may name further tables).
func rowsQuery(q *Queue, spec *TableSpec, c claim) string {
	src := spec.Source.Sanitize()
	return `SELECT ` + List(src, spec.ColumnNames()) + ` FROM ` + src + ` JOIN (` + keysQuery(q, spec, c) + `) mimeo_k USING (` +
		List("", spec.Key) + `)` + spec.conditionSQL()
}

// deletedQuery returns, per deleted key of the claim, the last values of
// the last deletion, when those values match the condition (evaluated on
// them under the source table's name).
func deletedQuery(q *Queue, spec *TableSpec, c claim) string {
	cols := append(spec.ColumnNames(), DeletedAtColumn)
	alias := replication.QuoteIdent(spec.Source.Name)
	desc := List("", spec.Key) + ", " + replication.QuoteIdent(DeletedAtColumn) + " DESC"
	inner := `SELECT DISTINCT ON (` + List("", spec.Key) + `) ` + List("", cols) + ` FROM ` + q.Table(c.table).Sanitize() +
		` WHERE ` + rangeCond(c.lo, c.hi) + ` AND ` + replication.QuoteIdent(DeletedAtColumn) + ` IS NOT NULL ORDER BY ` + desc
	return `SELECT ` + List(alias, cols) + ` FROM (` + inner + `) AS ` + alias + spec.conditionSQL()
}

// fullQuery returns every source row that matches the condition.
func fullQuery(spec *TableSpec) string {
	src := spec.Source.Sanitize()
	return `SELECT ` + List(src, spec.ColumnNames()) + ` FROM ` + src + spec.conditionSQL()
}

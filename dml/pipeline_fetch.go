package dml

import (
	"strings"

	"github.com/pgmimeo/pgmimeo/dml/internal/keyapply"
	"github.com/pgmimeo/pgmimeo/internal/sqltext"
	"github.com/pgmimeo/pgmimeo/replication"
)

// The source queries of a claim. They are run by COPY, which takes no
// parameters: positions are formatted by us, names quoted.
//
// A condition is appended after the FROM items, as in mimeo, so it may
// name further tables (which must match at most one row per source row).
// It sees the source table under its own name, without its schema.

// entries are change entries shaped like a queue table (the key columns,
// or for variants that keep deleted rows the replicated columns and
// DeletedAtColumn): from is the FROM item and a WHERE clause that selects
// them, n how many there are.
type entries struct {
	from string
	n    int64
}

// claimEntries are the entries of claim c of queue q.
func claimEntries(q *queue, c claim) entries {
	return entries{from: q.Table(c.table).Sanitize() + ` WHERE ` + rangeCond(c.lo, c.hi), n: c.entries}
}

// keysQuery returns the distinct keys of the entries, in key order when
// ordered.
func keysQuery(e entries, spec *keyapply.TableSpec, ordered bool) string {
	s := `SELECT DISTINCT ` + sqltext.IdentList("", spec.Key) + ` FROM ` + e.from
	if ordered {
		s += ` ORDER BY ` + sqltext.IdentList("", spec.Key)
	}
	return s
}

// changesQuery returns one staged change per distinct key of the claim
// (see Batch.CopyChanges): the key's current source row when it exists and
// matches the condition; else, for variants that keep deleted rows, the
// last values of its last deletion when they match the condition; else
// just the key.
//
// When the claim is small next to the table and an index leads with the
// key, each key is looked up through the index, in key order, so that
// every page of both tables is visited once and in order; a hash join
// would read the whole source table for every claim. Otherwise the planner
// joins as it sees fit. The entries are read once: for variants that keep
// deleted rows, one pass picks per key its last deletion, or any entry
// when it has none.
func changesQuery(q *queue, spec *keyapply.TableSpec, c claim, keepsDeleted bool) string {
	return changesFrom(claimEntries(q, c), spec, keepsDeleted)
}

// changesFrom is changesQuery for any entries.
func changesFrom(e entries, spec *keyapply.TableSpec, keepsDeleted bool) string {
	src := spec.Source.Sanitize()
	alias := replication.QuoteIdent(spec.Source.Name)
	lookups := spec.Lookups(e.n)
	var b strings.Builder
	b.WriteString("SELECT ")
	for _, col := range spec.ColumnNames() {
		q := replication.QuoteIdent(col)
		switch {
		case spec.IsKey(col) && keepsDeleted:
			b.WriteString("COALESCE(mimeo$r." + q + ", mimeo$d." + q + ", mimeo$k." + q + "), ")
		case spec.IsKey(col):
			b.WriteString("COALESCE(mimeo$r." + q + ", mimeo$k." + q + "), ")
		case keepsDeleted:
			b.WriteString("CASE WHEN mimeo$r." + keyapply.PresentColumn + " THEN mimeo$r." + q + " ELSE mimeo$d." + q + " END, ")
		default:
			b.WriteString("mimeo$r." + q + ", ")
		}
	}
	if keepsDeleted {
		b.WriteString("(mimeo$r." + keyapply.PresentColumn + " OR mimeo$d." + keyapply.PresentColumn + ") IS TRUE, ")
		b.WriteString("CASE WHEN mimeo$r." + keyapply.PresentColumn + " THEN NULL ELSE mimeo$d." + replication.QuoteIdent(keyapply.DeletedAtColumn) + " END")
	} else {
		b.WriteString("mimeo$r." + keyapply.PresentColumn + " IS TRUE, NULL::timestamptz")
	}
	if keepsDeleted {
		b.WriteString(" FROM (" + lastEntryQuery(e, spec) + ") mimeo$k")
	} else {
		b.WriteString(" FROM (" + keysQuery(e, spec, lookups) + ") mimeo$k")
	}
	row := sqltext.IdentList(alias, spec.ColumnNames()) + ", true AS " + keyapply.PresentColumn
	if lookups {
		// OFFSET 0 keeps the lateral subquery from being flattened into a
		// join that the planner could make a hash join.
		b.WriteString(" LEFT JOIN LATERAL (SELECT " + row + " FROM (SELECT mimeo$s.* FROM " + src + " mimeo$s WHERE " +
			spec.KeyMatch("mimeo$s", "mimeo$k") + " OFFSET 0) AS " + alias + spec.ConditionSQL() + ") mimeo$r ON true")
	} else {
		b.WriteString(" LEFT JOIN (SELECT " + row + " FROM " + src + " AS " + alias + spec.ConditionSQL() + ") mimeo$r ON " +
			spec.KeyMatch("mimeo$r", "mimeo$k"))
	}
	if keepsDeleted {
		// The deleted values of the entry, when it is a deletion whose
		// values match the condition.
		cols := append(spec.ColumnNames(), keyapply.DeletedAtColumn)
		b.WriteString(" LEFT JOIN LATERAL (SELECT " + sqltext.IdentList(alias, cols) + ", true AS " + keyapply.PresentColumn + " FROM (SELECT " +
			sqltext.IdentList("mimeo$k", cols) + ") AS " + alias + spec.ConditionSQL() + ") mimeo$d ON mimeo$k." +
			replication.QuoteIdent(keyapply.DeletedAtColumn) + " IS NOT NULL")
	}
	return b.String()
}

// lastEntryQuery returns, per distinct key of the entries of a queue that
// keeps deleted rows, in key order, its last deletion (the replicated
// columns and DeletedAtColumn), or an entry of the key alone when it has
// none.
func lastEntryQuery(e entries, spec *keyapply.TableSpec) string {
	keys := sqltext.IdentList("", spec.Key)
	deleted := replication.QuoteIdent(keyapply.DeletedAtColumn)
	return `SELECT DISTINCT ON (` + keys + `) ` + sqltext.IdentList("", append(spec.ColumnNames(), keyapply.DeletedAtColumn)) + ` FROM ` + e.from +
		` ORDER BY ` + keys + `, ` + deleted + ` DESC NULLS LAST`
}

// deletedQuery returns, per deleted key of the claim, the last values of
// the last deletion and its time, when those values match the condition
// (evaluated on them under the source table's name); with present, a true
// column named mimeo_present follows the replicated ones.
func deletedQuery(e entries, spec *keyapply.TableSpec, present bool) string {
	cols := append(spec.ColumnNames(), keyapply.DeletedAtColumn)
	alias := replication.QuoteIdent(spec.Source.Name)
	desc := sqltext.IdentList("", spec.Key) + ", " + replication.QuoteIdent(keyapply.DeletedAtColumn) + " DESC"
	inner := `SELECT DISTINCT ON (` + sqltext.IdentList("", spec.Key) + `) ` + sqltext.IdentList("", cols) + ` FROM ` + e.from + ` AND ` + replication.QuoteIdent(keyapply.DeletedAtColumn) + ` IS NOT NULL ORDER BY ` + desc
	sel := sqltext.IdentList(alias, cols)
	if present {
		sel += `, true AS ` + keyapply.PresentColumn
	}
	return `SELECT ` + sel + ` FROM (` + inner + `) AS ` + alias + spec.ConditionSQL()
}

// imagesQuery returns the deleted rows of a claim as staged changes.
func imagesQuery(q *queue, spec *keyapply.TableSpec, c claim) string {
	return `SELECT ` + sqltext.IdentList("mimeo$d", spec.ColumnNames()) + `, true, mimeo$d.` + replication.QuoteIdent(keyapply.DeletedAtColumn) +
		` FROM (` + deletedQuery(claimEntries(q, c), spec, false) + `) mimeo$d`
}

// fullQuery returns every source row that matches the condition.
func fullQuery(spec *keyapply.TableSpec) string {
	src := spec.Source.Sanitize()
	return `SELECT ` + sqltext.IdentList(src, spec.ColumnNames()) + ` FROM ` + src + spec.ConditionSQL()
}

package dml

import (
	"fmt"
	"strings"

	"github.com/pgmimeo/pgmimeo/dml/internal/keyapply"
	"github.com/pgmimeo/pgmimeo/internal/sqltext"
	"github.com/pgmimeo/pgmimeo/replication"
)

// The capture is one trigger function per kind of entry, each a single
// INSERT into the queue table being filled, named in its body, and up to
// three triggers on the source table:
//
//   - mimeo_q<id>, after an insert or an update of a replicated column,
//     runs q<id>_new, which queues the new key;
//   - mimeo_q<id>_key, after an update of a key column that changed the
//     key (its WHEN clause, evaluated by the executor), runs q<id>_old,
//     which queues the old key, whose row is gone from the source;
//   - mimeo_q<id>_del, after a delete, runs q<id>_old, or q<id>_gone for a
//     queue that keeps deleted rows (the whole row and its deletion time).
//
// A trigger that runs one INSERT and nothing else costs a writer the least
// a PL/pgSQL trigger can: no branch on the operation, no lookup of the table
// to fill. A refresh switches tables by replacing the functions (see
// Queue.switchTo).

// Functions returns the queue's trigger functions.
func (q *queue) Functions() []replication.Table {
	fs := []replication.Table{q.function("new"), q.function("old")}
	if q.KeepsDeleted {
		fs = append(fs, q.function("gone"))
	}
	return fs
}

func (q *queue) function(what string) replication.Table {
	return replication.T(q.Schema, fmt.Sprintf("q%d_%s", q.ID, what))
}

// Triggers returns the names of the queue's triggers on the source table.
func (q *queue) Triggers() []string {
	return []string{fmt.Sprintf("mimeo_q%d", q.ID), fmt.Sprintf("mimeo_q%d_key", q.ID), fmt.Sprintf("mimeo_q%d_del", q.ID)}
}

// functionsSQL returns the statements that make (or replace) the queue's
// trigger functions so that they fill queue table i.
//
// The functions run as their owner, the replication role (SECURITY
// DEFINER), so every writer of the source table can queue without any
// right on the queue schema. They have no fixed search_path, which would
// cost every call a configuration change, because nothing in them is
// looked up by it: the table is schema-qualified, the columns are its own,
// the values are fields of NEW or OLD of the column's own type (no cast, no
// operator), and the one function called, for the deletion time, is
// qualified with pg_catalog. A writer's search_path cannot make them run
// other code.
func functionsSQL(q *queue, spec *keyapply.TableSpec, i int) []string {
	keys := sqltext.IdentList("", spec.Key)
	out := []string{
		functionSQL(q.function("new"), q.Table(i), keys, sqltext.IdentList("NEW", spec.Key)),
		functionSQL(q.function("old"), q.Table(i), keys, sqltext.IdentList("OLD", spec.Key)),
	}
	if q.KeepsDeleted {
		cols := sqltext.IdentList("", spec.ColumnNames()) + ", " + replication.QuoteIdent(keyapply.DeletedAtColumn)
		vals := sqltext.IdentList("OLD", spec.ColumnNames()) + ", pg_catalog.clock_timestamp()"
		out = append(out, functionSQL(q.function("gone"), q.Table(i), cols, vals))
	}
	return out
}

// functionSQL returns the statement that makes or replaces trigger
// function fn, which appends vals as cols to table.
func functionSQL(fn, table replication.Table, cols, vals string) string {
	body := "BEGIN\n  INSERT INTO " + table.Sanitize() + " (" + cols + ") VALUES (" + vals + ");\n  RETURN NULL;\nEND\n"
	tag := "$mimeo$"
	for i := 0; strings.Contains(body, tag); i++ {
		tag = fmt.Sprintf("$mimeo%d$", i)
	}
	return `CREATE OR REPLACE FUNCTION ` + fn.Sanitize() + `() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER AS ` +
		tag + "\n" + body + tag
}

// triggersSQL returns the statements that make the queue's triggers on
// the source table. Updates fire only when they name a replicated column;
// those that leave it as it was are queued all the same (comparing whole
// rows would cost every update, and detoast large values): the apply finds
// nothing to write.
func triggersSQL(q *queue, spec *keyapply.TableSpec) []string {
	src := spec.Source.Sanitize()
	names := q.Triggers()
	del := q.function("old")
	if q.KeepsDeleted {
		del = q.function("gone")
	}
	return []string{
		`CREATE TRIGGER ` + replication.QuoteIdent(names[0]) + ` AFTER INSERT OR UPDATE OF ` + sqltext.IdentList("", spec.ColumnNames()) +
			` ON ` + src + ` FOR EACH ROW EXECUTE FUNCTION ` + q.function("new").Sanitize() + `()`,
		`CREATE TRIGGER ` + replication.QuoteIdent(names[1]) + ` AFTER UPDATE OF ` + sqltext.IdentList("", spec.Key) + ` ON ` + src +
			` FOR EACH ROW WHEN (` + keyChanged(spec) + `) EXECUTE FUNCTION ` + q.function("old").Sanitize() + `()`,
		`CREATE TRIGGER ` + replication.QuoteIdent(names[2]) + ` AFTER DELETE ON ` + src +
			` FOR EACH ROW EXECUTE FUNCTION ` + del.Sanitize() + `()`,
	}
}

// keyChanged returns the test of whether an update changed the key: each
// key column compared with its type's equality (a built-in type's, found
// in pg_catalog), or, for other types, by binary image. The image test may
// also fire for equal values (then the old key is queued needlessly, which
// does no harm); equality is the same test the destination matches keys by.
// The test is part of the trigger definition, resolved when the trigger is
// made.
func keyChanged(spec *keyapply.TableSpec) string {
	var parts []string
	for _, c := range spec.KeyColumns() {
		q := replication.QuoteIdent(c.Name)
		if c.Builtin {
			parts = append(parts, "NEW."+q+" IS DISTINCT FROM OLD."+q)
		} else {
			parts = append(parts, "NOT pg_catalog.record_image_eq(ROW(NEW."+q+"), ROW(OLD."+q+"))")
		}
	}
	return strings.Join(parts, " OR ")
}

package dml

import (
	"fmt"
	"strings"

	"github.com/pgmimeo/pgmimeo/replication"
)

// captureFunctionSQL returns the CREATE FUNCTION statement of the queue's
// trigger function.
//
// The function runs as its owner, the replication role (SECURITY DEFINER),
// so every writer of the source table can queue without any right on the
// queue schema; its search_path is fixed and every name in it qualified, so
// a writer cannot make it run other code.
//
// It reads the slot sequence (non-transactional, so every transaction sees
// the latest value whatever its isolation level), appends the change to the
// table the slot names, then reads the slot again: when a refresh switched
// tables in between, the change is appended to the new table as well. A
// refresh closes the table it left by waiting for every transaction holding
// a lock on it; a writer that read the old slot value but took that lock
// only after the wait necessarily read the new value on its second read, so
// its change is in the new table too. Replaying a key twice is harmless.
func captureFunctionSQL(q *Queue, spec *TableSpec) string {
	slot := quoteLiteral(q.Slot().Sanitize()) + `::pg_catalog.regclass`
	var b strings.Builder
	b.WriteString("DECLARE\n")
	b.WriteString("  s pg_catalog.int8 := pg_catalog.pg_sequence_last_value(" + slot + ");\n")
	b.WriteString("  s2 pg_catalog.int8;\n")
	b.WriteString("BEGIN\n")
	writeQueueing(&b, q, spec, "s")
	b.WriteString("  s2 := pg_catalog.pg_sequence_last_value(" + slot + ");\n")
	b.WriteString("  IF s2 IS DISTINCT FROM s THEN\n")
	writeQueueing(&b, q, spec, "s2")
	b.WriteString("  END IF;\n")
	b.WriteString("  RETURN NULL;\n")
	b.WriteString("END\n")
	body := b.String()
	tag := "$mimeo$"
	for i := 0; strings.Contains(body, tag); i++ {
		tag = fmt.Sprintf("$mimeo%d$", i)
	}
	return `CREATE FUNCTION ` + q.Function().Sanitize() + `() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER` +
		` SET search_path = pg_catalog, pg_temp AS ` + tag + "\n" + body + tag
}

// writeQueueing writes the statements that queue the change into the table
// named by slot variable v.
func writeQueueing(b *strings.Builder, q *Queue, spec *TableSpec, v string) {
	keys := List("", spec.Key)
	newKey := List("NEW", spec.Key)
	oldKey := List("OLD", spec.Key)
	ins := func(i int, cols, vals string) string {
		return "INSERT INTO " + q.Table(i).Sanitize() + " (" + cols + ") VALUES (" + vals + ");"
	}
	both := func(indent, cols, vals string) {
		b.WriteString(indent + "IF " + v + " = 0 THEN " + ins(0, cols, vals) + "\n")
		b.WriteString(indent + "ELSE " + ins(1, cols, vals) + "\n")
		b.WriteString(indent + "END IF;\n")
	}
	b.WriteString("  IF TG_OP = 'DELETE' THEN\n")
	if q.KeepsDeleted {
		cols := List("", spec.ColumnNames()) + ", " + replication.QuoteIdent(DeletedAtColumn)
		vals := List("OLD", spec.ColumnNames()) + ", pg_catalog.clock_timestamp()"
		both("    ", cols, vals)
	} else {
		both("    ", keys, oldKey)
	}
	b.WriteString("  ELSE\n")
	both("    ", keys, newKey)
	// An update that changed the key also queues the old key, whose row
	// is gone from the source.
	b.WriteString("    IF TG_OP = 'UPDATE' AND (" + keyChanged(spec) + ") THEN\n")
	both("      ", keys, oldKey)
	b.WriteString("    END IF;\n")
	b.WriteString("  END IF;\n")
}

// keyChanged returns the test of whether an update changed the key: each
// key column compared with its type's equality (a built-in type's, found
// in pg_catalog), or, for other types, by binary image. The image test may
// also fire for equal values (then the old key is queued needlessly, which
// does no harm); equality is the same test the destination matches keys by.
func keyChanged(spec *TableSpec) string {
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

package export

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/pgmimeo/pgmimeo/replication"
)

// Default names.
const (
	// DefaultExportSchema is the source schema of the tracking tables and
	// the shadow tables.
	DefaultExportSchema = "mimeo_export"
	// DefaultImportSchema is the destination schema of the record of
	// applied batches.
	DefaultImportSchema = "mimeo_import"
	// DefaultKey is the key column of an exported table.
	DefaultKey = "id"
	// triggerName is the capture trigger on an exported table.
	triggerName = "pgmimeo_export_capture"
)

// objectBase is the start of the names of a table's export objects: at most
// 40 bytes of the table name and a hash of its full identity, so that names
// fit PostgreSQL's 63 bytes and two tables never share them.
func objectBase(t replication.Table) string {
	name := t.Name
	for len(name) > 40 {
		_, size := utf8.DecodeLastRuneInString(name)
		name = name[:len(name)-size]
	}
	return name + "_" + shortHash(t.Schema+"\x00"+t.Name)
}

func shortHash(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:4])
}

// ShadowTable is the shadow table that records the changed keys of t.
func ShadowTable(schema string, t replication.Table) replication.Table {
	return replication.T(schema, objectBase(t)+"_changes")
}

// captureFunction is the trigger function that fills the shadow table.
func captureFunction(schema string, t replication.Table) replication.Table {
	return replication.T(schema, objectBase(t)+"_capture")
}

// lockName is the text whose hash keys the advisory lock that serializes
// exports, acknowledgements and resets of one table (the same expression is
// computed in SQL by the reset function).
func lockName(t replication.Table) string {
	return fmt.Sprintf("pgmimeo export %d:%s.%s", len(t.Schema), t.Schema, t.Name)
}

// lockSQL is the SQL expression of the lock key for a lock name in $1.
const lockSQL = `pg_catalog.hashtextextended($1, 0)`

// dollarQuote quotes body with a dollar-quote tag that does not occur in it.
func dollarQuote(body string) string {
	tag := "$pgmimeo$"
	for i := 1; strings.Contains(body, tag); i++ {
		tag = fmt.Sprintf("$pgmimeo%d$", i)
	}
	return tag + "\n" + body + tag
}

// fileName makes a name safe for any file system: letters, digits, '_' and
// '-' are kept (at most 40 bytes), anything else becomes '_', and a hash of
// the exact text keeps different names apart.
func fileName(s string) string {
	var b strings.Builder
	for _, r := range s {
		if b.Len() >= 40 {
			break
		}
		if r < utf8.RuneSelf && (r == '_' || r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String() + "-" + shortHash(s)
}

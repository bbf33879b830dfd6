package export

import (
	"strings"

	"github.com/pgmimeo/pgmimeo/internal/sqltext"
	"github.com/pgmimeo/pgmimeo/replication"
)

// The four generators below return the SQL that the Install functions and
// Reset run, so that a DBA can read it first or run it by hand (psql -1,
// as a role that owns the schema; no superuser). Every name in them is a
// quoted identifier and every value a quoted literal; nothing is pasted in
// unquoted.

func checkSchema(field, schema string) error {
	if schema == "" {
		return &replication.OptionError{Field: field, Problem: "give a schema name"}
	}
	return replication.T(schema, "x").Validate()
}

// TrackingSQL returns the SQL that makes the export-tracking tables in
// schema on the source, and the reset function:
//
//   - export_target: one row per table and target (host, database) with the
//     last batch exported and the last one acknowledged, and the snapshot
//     that acknowledged batch saw (NULL: the next export is a full one);
//   - export_batch: every exported, not yet acknowledged batch of a target,
//     with the snapshot it saw and the SHA-256 of its manifest;
//   - reset_target(table_schema, table_name, target_host, target_database):
//     see ResetSQL.
//
// The schema must exist. The statements may run again: they keep what is
// there.
func TrackingSQL(schema string) (string, error) {
	if err := checkSchema("ExporterConfig.Schema", schema); err != nil {
		return "", err
	}
	s := replication.QuoteIdent(schema)
	target := s + ".export_target"
	var b strings.Builder
	b.WriteString("-- pgmimeo export tracking (source side), schema " + s + "\n")
	b.WriteString(`CREATE TABLE IF NOT EXISTS ` + target + ` (
    table_schema text NOT NULL,
    table_name text NOT NULL,
    target_host text NOT NULL,
    target_database text NOT NULL,
    last_batch bigint NOT NULL DEFAULT 0,
    acked_batch bigint NOT NULL DEFAULT 0,
    acked_snapshot pg_catalog.pg_snapshot,
    acked_at timestamptz,
    reset_after bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (table_schema, table_name, target_host, target_database)
);
`)
	b.WriteString(`CREATE TABLE IF NOT EXISTS ` + s + `.export_batch (
    table_schema text NOT NULL,
    table_name text NOT NULL,
    target_host text NOT NULL,
    target_database text NOT NULL,
    batch bigint NOT NULL,
    since_batch bigint NOT NULL,
    full_export boolean NOT NULL,
    snapshot pg_catalog.pg_snapshot NOT NULL,
    ids bigint NOT NULL,
    "rows" bigint NOT NULL,
    manifest_sha256 text NOT NULL,
    exported_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (table_schema, table_name, target_host, target_database, batch),
    FOREIGN KEY (table_schema, table_name, target_host, target_database)
        REFERENCES ` + target + ` ON DELETE CASCADE
);
`)
	body := `SELECT pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended(
    'pgmimeo export ' || pg_catalog.octet_length($1) || ':' || $1 || '.' || $2, 0));
UPDATE ` + target + ` t SET acked_snapshot = NULL, reset_after = t.last_batch
 WHERE t.table_schema = $1 AND t.table_name = $2 AND t.target_host = $3 AND t.target_database = $4
RETURNING true;
`
	b.WriteString(`CREATE OR REPLACE FUNCTION ` + s + `.reset_target(table_schema text, table_name text, target_host text, target_database text)
    RETURNS boolean LANGUAGE sql SET search_path = pg_catalog, pg_temp AS ` + dollarQuote(body) + ";\n")
	return b.String(), nil
}

// ExporterSQL returns the SQL that installs the exporter of table on the
// source: the shadow table (in schema) that records the changed keys with
// the transaction that changed them, the trigger function that fills it
// (SECURITY DEFINER, so that the table's writers need no right on the
// schema) and the trigger on the table. key is the key column and keyType
// its type as SQL text (for example "bigint"). An update that changes the
// key records both keys.
func ExporterSQL(schema string, table replication.Table, key, keyType string) (string, error) {
	if err := checkSchema("ExporterConfig.Schema", schema); err != nil {
		return "", err
	}
	if err := table.Validate(); err != nil {
		return "", err
	}
	if key == "" || keyType == "" {
		return "", &replication.OptionError{Field: "ExporterConfig.Key", Problem: "give the key column and its type"}
	}
	shadow := ShadowTable(schema, table).Sanitize()
	fn := captureFunction(schema, table).Sanitize()
	k := replication.QuoteIdent(key)
	var b strings.Builder
	b.WriteString("-- pgmimeo exporter of " + table.Sanitize() + " (key " + k + "), schema " + replication.QuoteIdent(schema) + "\n")
	b.WriteString(`CREATE TABLE ` + shadow + ` (
    txid pg_catalog.xid8 NOT NULL DEFAULT pg_catalog.pg_current_xact_id(),
    id ` + keyType + ` NOT NULL
);
`)
	body := `BEGIN
    IF TG_OP <> 'DELETE' THEN
        INSERT INTO ` + shadow + ` (id) VALUES (NEW.` + k + `);
    END IF;
    IF TG_OP = 'DELETE' OR (TG_OP = 'UPDATE' AND NEW.` + k + ` IS DISTINCT FROM OLD.` + k + `) THEN
        INSERT INTO ` + shadow + ` (id) VALUES (OLD.` + k + `);
    END IF;
    RETURN NULL;
END
`
	b.WriteString(`CREATE FUNCTION ` + fn + `() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS ` + dollarQuote(body) + ";\n")
	b.WriteString(`REVOKE ALL ON FUNCTION ` + fn + `() FROM PUBLIC;
CREATE TRIGGER ` + triggerName + ` AFTER INSERT OR UPDATE OR DELETE ON ` + table.Sanitize() + `
    FOR EACH ROW EXECUTE FUNCTION ` + fn + `();
`)
	return b.String(), nil
}

// ImporterSQL returns the SQL that makes, in schema on the destination, the
// record of applied batches: per destination table, the stream it is fed
// by (source, source table, target), the last batch applied and the SHA-256
// of its manifest. The schema must exist. The statement may run again.
func ImporterSQL(schema string) (string, error) {
	if err := checkSchema("ImporterConfig.Schema", schema); err != nil {
		return "", err
	}
	s := replication.QuoteIdent(schema)
	return "-- pgmimeo import record (destination side), schema " + s + "\n" +
		`CREATE TABLE IF NOT EXISTS ` + s + `.applied_batch (
    dest_schema text NOT NULL,
    dest_table text NOT NULL,
    source text NOT NULL,
    source_schema text NOT NULL,
    source_table text NOT NULL,
    target_host text NOT NULL,
    target_database text NOT NULL,
    batch bigint NOT NULL,
    full_export boolean NOT NULL,
    manifest_sha256 text NOT NULL,
    "rows" bigint NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (dest_schema, dest_table)
);
`, nil
}

// ResetSQL returns the SQL that returns target of table to a full
// re-export: the next export for it holds every row and the importer
// replaces the destination's rows with them. Acknowledgements of batches
// exported before the reset are then ignored. It waits for a running
// export of the table. It returns true, or NULL when the target has never
// been exported to (its first export is a full one anyway).
func ResetSQL(schema string, table replication.Table, target Target) (string, error) {
	if err := checkSchema("ExporterConfig.Schema", schema); err != nil {
		return "", err
	}
	if err := table.Validate(); err != nil {
		return "", err
	}
	if err := target.validate(); err != nil {
		return "", err
	}
	return "-- pgmimeo: full re-export of " + table.Sanitize() + " for the next export to this target\n" +
		`SELECT ` + replication.QuoteIdent(schema) + `.reset_target(` + sqltext.Literal(table.Schema) + `, ` + sqltext.Literal(table.Name) +
		`, ` + sqltext.Literal(target.Host) + `, ` + sqltext.Literal(target.Database) + ");\n", nil
}

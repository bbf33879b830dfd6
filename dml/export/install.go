package export

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgmimeo/pgmimeo/internal/durable"
	"github.com/pgmimeo/pgmimeo/replication"
)

// ensureSchema creates schema when it does not exist. CREATE SCHEMA checks
// the database's CREATE privilege even with IF NOT EXISTS, so an existing
// schema is not created again.
func ensureSchema(ctx context.Context, tx pgx.Tx, schema string) error {
	var exists bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1)`, schema).Scan(&exists); err != nil {
		return fmt.Errorf("look up schema %s: %w", replication.QuoteIdent(schema), err)
	}
	if exists {
		return nil
	}
	if _, err := tx.Exec(ctx, `CREATE SCHEMA `+replication.QuoteIdent(schema)); err != nil {
		if isCode(err, pgerrcode.InsufficientPrivilege) {
			return &replication.TableError{Table: replication.T(schema, ""), Err: replication.ErrPrivilege,
				Fix: fmt.Sprintf("CREATE SCHEMA %s AUTHORIZATION <role>, or GRANT CREATE ON DATABASE to the role", replication.QuoteIdent(schema))}
		}
		return fmt.Errorf("create schema %s: %w", replication.QuoteIdent(schema), err)
	}
	return nil
}

func isCode(err error, code string) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == code
}

// InstallTracking makes the export-tracking tables (TrackingSQL) in schema
// on the source, creating the schema if it is missing. It keeps what is
// already there.
func InstallTracking(ctx context.Context, db replication.DB, schema string) error {
	return durable.InTx(ctx, db, func(tx pgx.Tx) error { return installTracking(ctx, tx, schema) })
}

func installTracking(ctx context.Context, tx pgx.Tx, schema string) error {
	sql, err := TrackingSQL(schema)
	if err != nil {
		return err
	}
	if err := ensureSchema(ctx, tx, schema); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, sql); err != nil {
		return fmt.Errorf("install export tracking in %s: %w", replication.QuoteIdent(schema), err)
	}
	return nil
}

// InstallImporter makes the record of applied batches (ImporterSQL) in
// schema on the destination, creating the schema if it is missing. It
// keeps what is already there.
func InstallImporter(ctx context.Context, db replication.DB, schema string) error {
	sql, err := ImporterSQL(schema)
	if err != nil {
		return err
	}
	return durable.InTx(ctx, db, func(tx pgx.Tx) error {
		if err := ensureSchema(ctx, tx, schema); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, sql); err != nil {
			return fmt.Errorf("install import record in %s: %w", replication.QuoteIdent(schema), err)
		}
		return nil
	})
}

// keyColumn checks that key is a NOT NULL column of table with a unique
// index of its own, and returns its description.
func keyColumn(ctx context.Context, db replication.DB, table replication.Table, key string) (*replication.TableInfo, replication.Column, error) {
	info, err := replication.Describe(ctx, db, table)
	if err != nil {
		return nil, replication.Column{}, err
	}
	if info.Kind != replication.KindTable {
		return nil, replication.Column{}, &replication.TableError{Table: table, Err: replication.ErrBadOption,
			Fix: fmt.Sprintf("export a plain table, not a %s", info.Kind)}
	}
	col, ok := info.Column(key)
	if !ok {
		return nil, col, &replication.ColumnError{Table: table, Column: key, Err: replication.ErrColumnNotFound,
			Fix: "add an id column fed by a sequence, or name the key column in ExporterConfig.Key"}
	}
	var unique bool
	err = db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_index i
		WHERE i.indrelid = $1 AND i.indisunique AND i.indimmediate AND i.indnkeyatts = 1
		  AND i.indkey[0] = $2 AND i.indpred IS NULL AND i.indexprs IS NULL)`, info.OID, col.Num).Scan(&unique)
	if err != nil {
		return nil, col, fmt.Errorf("inspect key of %s: %w", table, err)
	}
	if !unique || !col.NotNull {
		return nil, col, &replication.TableError{Table: table, Err: replication.ErrNoKey,
			Fix: fmt.Sprintf("make %s NOT NULL with a unique index of its own (a primary key), or name another key column in ExporterConfig.Key", replication.QuoteIdent(key))}
	}
	return info, col, nil
}

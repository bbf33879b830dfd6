// Package migrate applies numbered, embedded SQL migration files to a schema
// of ours, one transaction per file, recording each in a versions table, under
// an advisory lock so that concurrent callers apply each file once.
//
// Files are named NNN_description.sql. Each runs with search_path set to the
// target schema (then pg_catalog), so its statements name our objects
// unqualified; functions that must find them later declare
// "SET search_path FROM CURRENT".
package migrate

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// DB is a pool or a connection.
type DB interface {
	Begin(ctx context.Context) (pgx.Tx, error)
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// Migration is one numbered file.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// Load reads the migrations in dir of fsys, in version order.
func Load(fsys fs.FS, dir string) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, err
	}
	var out []Migration
	seen := map[int]string{}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration file %s: name must start with a positive number and '_'", e.Name())
		}
		if prev, dup := seen[v]; dup {
			return nil, fmt.Errorf("migration files %s and %s share version %d", prev, e.Name(), v)
		}
		seen[v] = e.Name()
		b, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		out = append(out, Migration{Version: v, Name: e.Name(), SQL: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out, nil
}

// lockClass keys the migration advisory lock ("migr").
const lockClass = 0x6d696772

// Apply brings schema up to the newest migration and returns the versions
// it applied. The schema and its versions table are created when missing.
func Apply(ctx context.Context, db DB, schema string, migrations []Migration) ([]int, error) {
	qs := pgx.Identifier{schema}.Sanitize()
	var applied []int
	for _, m := range migrations {
		done, err := applyOne(ctx, db, schema, qs, m)
		if err != nil {
			return applied, fmt.Errorf("migrate schema %s: %s: %w", qs, m.Name, err)
		}
		if done {
			applied = append(applied, m.Version)
		}
	}
	return applied, nil
}

func applyOne(ctx context.Context, db DB, schema, qs string, m Migration) (bool, error) {
	tx, err := db.Begin(ctx)
	if err != nil {
		return false, err
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if _, err := tx.Exec(ctx, `SELECT pg_catalog.pg_advisory_xact_lock($1, pg_catalog.hashtext($2))`, lockClass, schema); err != nil {
		return false, err
	}
	// CREATE SCHEMA checks the database's CREATE privilege even when the
	// schema exists, so it runs only when the schema is missing: a role that
	// owns a schema made for it by a DBA needs no CREATE on the database.
	var hasSchema bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1)`, schema).Scan(&hasSchema); err != nil {
		return false, err
	}
	if !hasSchema {
		if _, err := tx.Exec(ctx, `CREATE SCHEMA `+qs); err != nil {
			return false, err
		}
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+qs+`.schema_version (
		version int PRIMARY KEY,
		name text NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return false, err
	}
	var exists bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM `+qs+`.schema_version WHERE version = $1)`, m.Version).Scan(&exists); err != nil {
		return false, err
	}
	if exists {
		return false, nil
	}
	if _, err := tx.Exec(ctx, `SELECT set_config('search_path', $1, true)`, qs+", pg_catalog"); err != nil {
		return false, err
	}
	if _, err := tx.Exec(ctx, m.SQL); err != nil {
		return false, err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO `+qs+`.schema_version (version, name) VALUES ($1, $2)`, m.Version, m.Name); err != nil {
		return false, err
	}
	return true, tx.Commit(ctx)
}

// Version returns the newest applied version of schema, 0 when none.
func Version(ctx context.Context, db interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}, schema string) (int, error) {
	var exists bool
	if err := db.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, pgx.Identifier{schema, "schema_version"}.Sanitize()).Scan(&exists); err != nil {
		return 0, err
	}
	if !exists {
		return 0, nil
	}
	var v int
	err := db.QueryRow(ctx, `SELECT COALESCE(max(version), 0) FROM `+pgx.Identifier{schema, "schema_version"}.Sanitize()).Scan(&v)
	return v, err
}

// Script returns migrations as one SQL script for a team that applies
// schema changes with its own tool: the schema and its versions table
// made when missing, then each migration in its own transaction with the
// search_path Apply sets, recording its version, so that Apply later
// finds it applied. Run each migration once (the version in schema's
// schema_version table says which ran).
func Script(schema string, migrations []Migration) string {
	qs := pgx.Identifier{schema}.Sanitize()
	var b strings.Builder
	fmt.Fprintf(&b, "CREATE SCHEMA IF NOT EXISTS %s;\n", qs)
	fmt.Fprintf(&b, "CREATE TABLE IF NOT EXISTS %s.schema_version (\n    version int PRIMARY KEY,\n    name text NOT NULL,\n    applied_at timestamptz NOT NULL DEFAULT now());\n", qs)
	for _, m := range migrations {
		fmt.Fprintf(&b, "\n-- %s, version %d\nBEGIN;\nSET LOCAL search_path = %s, pg_catalog;\n%s\n", m.Name, m.Version, qs, strings.TrimRight(m.SQL, "\n"))
		fmt.Fprintf(&b, "INSERT INTO %s.schema_version (version, name) VALUES (%d, '%s');\nCOMMIT;\n", qs, m.Version, strings.ReplaceAll(m.Name, "'", "''"))
	}
	return b.String()
}

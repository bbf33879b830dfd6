package dml

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"

	"github.com/pgmimeo/pgmimeo/dml/internal/keyapply"
	"github.com/pgmimeo/pgmimeo/internal/durable"
	"github.com/pgmimeo/pgmimeo/internal/migrate"
	"github.com/pgmimeo/pgmimeo/internal/sqltext"
	"github.com/pgmimeo/pgmimeo/replication"
)

//go:embed migrations/*.sql
var queueMigrations embed.FS

// lockClass keys the advisory lock that serialises queue creation per
// source table ("mdml").
const lockClass = 0x6d646d6c

// queue is the capture side of one destination in the source database: two
// queue tables that the triggers fill in turn, and the SECURITY DEFINER
// trigger functions and triggers that fill them (see Functions and
// Triggers). The registry row of the queue records which table the
// functions fill. A refresh switches the functions to the other table,
// waits until no writer can still add to the one it left ("closes" it),
// drains it and truncates it, so a queue never accumulates dead rows.
type queue struct {
	// Schema is the source schema of the queue objects.
	Schema string
	// ID numbers the queue in the registry; object names derive from it.
	ID int64
	// Source is the captured table.
	Source replication.Table
	// KeepsDeleted: the queue stores deleted rows whole, with their
	// deletion time in DeletedAtColumn.
	KeepsDeleted bool
}

// Table returns queue table i (0 or 1).
func (q *queue) Table(i int) replication.Table {
	return replication.T(q.Schema, fmt.Sprintf("q%d_%d", q.ID, i))
}

func (q *queue) registry() string { return pgx.Identifier{q.Schema, "queues"}.Sanitize() }

// QueueMigrationSQL returns the SQL that Setup runs on the source to
// make the queue registry in schema ("": DefaultQueueSchema), as one
// script for a team that applies schema changes with its own migration
// tool (see replication.Catalog.MigrationSQL). The queue tables and
// triggers of each job are made by its Setup.
func QueueMigrationSQL(schema string) (string, error) {
	if schema == "" {
		schema = DefaultQueueSchema
	}
	ms, err := migrate.Load(queueMigrations, "migrations")
	if err != nil {
		return "", fmt.Errorf("load queue migrations: %w", err)
	}
	return migrate.Script(schema, ms), nil
}

// migrateQueueSchema creates or upgrades the queue registry in schema.
func migrateQueueSchema(ctx context.Context, db migrate.DB, schema string) error {
	ms, err := migrate.Load(queueMigrations, "migrations")
	if err != nil {
		return fmt.Errorf("load queue migrations: %w", err)
	}
	if _, err := migrate.Apply(ctx, db, schema, ms); err != nil {
		return err
	}
	return nil
}

// installQueue registers a queue for spec's source table and creates its
// tables, slot, function and triggers in one source transaction, under a
// lock timeout (creating a trigger locks the table against writers). When
// it returns, every change to the source table is queued.
func installQueue(ctx context.Context, db durable.Beginner, cfg *Config, spec *keyapply.TableSpec, v keyapply.Variant, label string) (*queue, error) {
	q := &queue{Schema: cfg.queueSchema(), Source: spec.Source, KeepsDeleted: v.KeepsDeleted()}
	timeout, retries := cfg.DDLLock()
	err := sqltext.LockRetry(ctx, db, timeout, retries, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_catalog.pg_advisory_xact_lock($1, pg_catalog.hashtext($2))`,
			lockClass, spec.Source.Sanitize()); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM `+q.registry()+` WHERE source_schema = $1 AND source_table = $2`,
			spec.Source.Schema, spec.Source.Name).Scan(&n); err != nil {
			return err
		}
		if n >= MaxDestinations {
			return &replication.TableError{Table: spec.Source, Err: replication.ErrBadOption,
				Fix: fmt.Sprintf("a source table feeds at most %d destinations; destroy one first", MaxDestinations)}
		}
		if err := tx.QueryRow(ctx, `INSERT INTO `+q.registry()+` (source_schema, source_table, destination, kind, keeps_deleted)
			VALUES ($1, $2, $3, $4, $5) RETURNING queue_id`, spec.Source.Schema, spec.Source.Name, label,
			string(v.Kind()), q.KeepsDeleted).Scan(&q.ID); err != nil {
			return err
		}
		for _, stmt := range q.createSQL(spec) {
			if _, err := tx.Exec(ctx, stmt); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, queueError(spec.Source, q.Schema, "create the capture queue", err)
	}
	return q, nil
}

// createSQL returns the statements that make the queue's objects.
func (q *queue) createSQL(spec *keyapply.TableSpec) []string {
	var cols string
	for i, c := range spec.KeyColumns() {
		if i > 0 {
			cols += ", "
		}
		cols += replication.QuoteIdent(c.Name) + " " + c.Type
	}
	if q.KeepsDeleted {
		for _, c := range spec.Columns {
			if !spec.IsKey(c.Name) {
				cols += ", " + replication.QuoteIdent(c.Name) + " " + c.Type
			}
		}
		cols += ", " + replication.QuoteIdent(keyapply.DeletedAtColumn) + " timestamptz"
	}
	// Queue tables are only appended to and truncated: vacuuming them is
	// wasted work that would also get in the way of the truncate.
	opts := ` WITH (autovacuum_enabled = off, toast.autovacuum_enabled = off)`
	var out []string
	for i := 0; i < 2; i++ {
		out = append(out, `CREATE TABLE `+q.Table(i).Sanitize()+` (`+cols+`)`+opts)
	}
	out = append(out, functionsSQL(q, spec, 0)...)
	out = append(out, triggersSQL(q, spec)...)
	for _, fn := range q.Functions() {
		out = append(out, `COMMENT ON FUNCTION `+fn.Sanitize()+`() IS `+sqltext.Literal("pgmimeo: queues changes of "+spec.Source.Sanitize()+" for one destination"))
	}
	return out
}

// dropQueue removes the queue's objects and registry row. The triggers go
// with the functions (DROP … CASCADE): dropping a trigger by name would need
// ownership of the source table, which the replication role need not have.
func dropQueue(ctx context.Context, db durable.Beginner, cfg *Config, q *queue) error {
	timeout, retries := cfg.DDLLock()
	err := sqltext.LockRetry(ctx, db, timeout, retries, func(tx pgx.Tx) error {
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT to_regnamespace($1) IS NOT NULL`, replication.QuoteIdent(q.Schema)).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			return nil
		}
		var stmts []string
		for _, fn := range q.Functions() {
			stmts = append(stmts, `DROP FUNCTION IF EXISTS `+fn.Sanitize()+`() CASCADE`)
		}
		stmts = append(stmts, `DROP TABLE IF EXISTS `+q.Table(0).Sanitize()+`, `+q.Table(1).Sanitize())
		for _, s := range stmts {
			if _, err := tx.Exec(ctx, s); err != nil {
				return err
			}
		}
		var hasRegistry bool
		if err := tx.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, q.registry()).Scan(&hasRegistry); err != nil {
			return err
		}
		if hasRegistry {
			if _, err := tx.Exec(ctx, `DELETE FROM `+q.registry()+` WHERE queue_id = $1`, q.ID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil && sqltext.SQLState(err) == pgerrcode.InsufficientPrivilege {
		if owner := q.owner(ctx, db); owner != "" {
			return &replication.TableError{Table: q.Source, Err: fmt.Errorf("remove the capture queue: %w: %w", replication.ErrPrivilege, err),
				Fix: fmt.Sprintf("the queue objects of queue %d in schema %s belong to role %s: run Destroy connected to the source as that role",
					q.ID, replication.QuoteIdent(q.Schema), replication.QuoteIdent(owner))}
		}
	}
	if err != nil {
		return queueError(q.Source, q.Schema, "remove the capture queue", err)
	}
	return nil
}

// owner returns the role that owns the queue's trigger functions, "" when
// it cannot be told.
func (q *queue) owner(ctx context.Context, db durable.Beginner) string {
	var owner string
	_ = durable.InTx(context.WithoutCancel(ctx), db, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT pg_catalog.pg_get_userbyid(proowner) FROM pg_catalog.pg_proc WHERE oid = to_regprocedure($1)`,
			q.Functions()[0].Sanitize()+"()").Scan(&owner)
	})
	return owner
}

// queueError turns a failure on the queue objects into a typed error that
// says what the source role lacks.
func queueError(src replication.Table, schema, what string, err error) error {
	var te *replication.TableError
	if errors.As(err, &te) {
		return err
	}
	if sqltext.SQLState(err) == pgerrcode.InsufficientPrivilege {
		return &replication.TableError{Table: src, Err: fmt.Errorf("%s: %w: %w", what, replication.ErrPrivilege, err),
			Fix: fmt.Sprintf("the source role needs TRIGGER on %s and must own schema %s and the queue objects in it "+
				"(GRANT TRIGGER ON %s TO <role>; CREATE SCHEMA %s AUTHORIZATION <role>)",
				src.Sanitize(), replication.QuoteIdent(schema), src.Sanitize(), replication.QuoteIdent(schema))}
	}
	return fmt.Errorf("%s for %s: %w", what, src, err)
}

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

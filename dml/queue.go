package dml

import (
	"context"
	"embed"
	"errors"
	"fmt"

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
	_ = inTx(context.WithoutCancel(ctx), db, func(tx pgx.Tx) error {
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

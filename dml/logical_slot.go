package dml

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgmimeo/pgmimeo/replication"
)

// newSlotName draws a slot name for a new job.
func newSlotName() (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return "pgmimeo_" + hex.EncodeToString(b[:]), nil
}

// replicationConn opens a logical replication connection (replication =
// database) to the source pool's database, as the pool's role.
func replicationConn(ctx context.Context, pool *pgxpool.Pool) (*pgconn.PgConn, error) {
	cc := pool.Config().ConnConfig.Config.Copy()
	if cc.RuntimeParams == nil {
		cc.RuntimeParams = map[string]string{}
	}
	cc.RuntimeParams["replication"] = "database"
	conn, err := pgconn.ConnectConfig(ctx, cc)
	if err != nil {
		return nil, fmt.Errorf("open a replication connection to the source: %w", err)
	}
	return conn, nil
}

// createSlot creates logical slot name (pgoutput) on conn, a replication
// connection, exporting its snapshot: until conn runs another command, a
// source transaction may SET TRANSACTION SNAPSHOT to the returned name and
// see exactly what precedes the slot's first change.
func createSlot(ctx context.Context, conn *pgconn.PgConn, name string) (pglogrepl.CreateReplicationSlotResult, error) {
	if err := checkObjectName("slot", name); err != nil {
		return pglogrepl.CreateReplicationSlotResult{}, err
	}
	return pglogrepl.CreateReplicationSlot(ctx, conn, name, "pgoutput",
		pglogrepl.CreateReplicationSlotOptions{Mode: pglogrepl.LogicalReplication, SnapshotAction: "EXPORT_SNAPSHOT"})
}

// dropSlot drops slot name when it exists, waiting for a session still
// using it to end. It uses a plain connection.
func dropSlot(ctx context.Context, db replication.DB, name string) error {
	if err := checkObjectName("slot", name); err != nil {
		return err
	}
	_, err := db.Exec(ctx, `SELECT pg_catalog.pg_drop_replication_slot(slot_name) FROM pg_catalog.pg_replication_slots
		WHERE slot_name = $1 AND database = current_database()`, name)
	if err != nil {
		return fmt.Errorf("drop replication slot %s: %w", name, err)
	}
	return nil
}

// SlotHealth is what a logical job's replication slot holds back on the
// source.
type SlotHealth struct {
	// Slot is the slot's name.
	Slot string
	// Active: a session is reading the slot now.
	Active bool
	// RetainedBytes is the WAL the server keeps for the slot (from its
	// restart position to the current WAL end).
	RetainedBytes int64
	// LagBytes is the WAL not yet confirmed by the job (from its
	// confirmed position to the current WAL end).
	LagBytes int64
}

// slotHealth reads the health of slot name.
func slotHealth(ctx context.Context, db replication.DB, name string) (SlotHealth, error) {
	h := SlotHealth{Slot: name}
	err := db.QueryRow(ctx, `SELECT active,
		COALESCE(pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), restart_lsn), 0)::int8,
		COALESCE(pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), confirmed_flush_lsn), 0)::int8
		FROM pg_catalog.pg_replication_slots WHERE slot_name = $1`, name).Scan(&h.Active, &h.RetainedBytes, &h.LagBytes)
	if err != nil {
		return h, fmt.Errorf("read replication slot %s: %w", name, err)
	}
	return h, nil
}

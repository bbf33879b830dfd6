package dml

import (
	"context"
	"fmt"
	"math"
	"strconv"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgmimeo/pgmimeo/internal/copypipe"
)

// Reading a slot goes through logical decoding's SQL interface
// (pg_logical_slot_peek_binary_changes) on an ordinary source session
// rather than a replication connection's stream: the walsender sends
// every message on its own and polls the socket after every WAL record,
// which made reading 100,000 one-row transactions take several times
// longer than decoding them, while the function hands the same pgoutput
// messages over as rows of one result. Peeking leaves the slot where it
// is; the position is confirmed (pg_replication_slot_advance) only after
// the destination committed.

// peekSQL reads the slot's pgoutput messages up to an LSN ($2) or a
// number of rows ($3, NULL for no limit). The function materializes its
// result on the source (spilling to a temporary file past work_mem)
// before it returns the first row.
const peekSQL = `SELECT data FROM pg_catalog.pg_logical_slot_peek_binary_changes($1, $2::pg_lsn, $3::int4, 'proto_version', '1', 'publication_names', $4)`

// rowsPerChange bounds the messages a change of the table comes with in
// the worst case (a transaction of one change: begin, change, commit).
const rowsPerChange = 3

// readSlot folds into f the changes of f's table that slot holds after
// f's start, up to the WAL flushed when the read starts, or until f's
// limit of changes is read; f loads full folds as pieces as it goes. conn
// is an ordinary source session. The end of the WAL is known up front, so
// the read never waits: the position set in f's change set is that end
// when nothing was left out, even if no change of the table came before
// it, so an idle table's slot moves on.
func readSlot(ctx context.Context, conn *pgconn.PgConn, f *folder, pub string) error {
	if err := checkObjectName("slot", f.slot); err != nil {
		return err
	}
	if err := checkObjectName("publication", pub); err != nil {
		return err
	}
	end, err := walFlushEnd(ctx, conn)
	if err != nil {
		return err
	}
	// Enough rows for limit changes however they are spread over
	// transactions; the function stops only after a whole WAL record, so
	// it may return more.
	var bound []byte
	var rowLimit int64
	if f.limit > 0 {
		rowLimit = min(f.limit*rowsPerChange+16, math.MaxInt32)
		bound = strconv.AppendInt(nil, rowLimit, 10)
	}
	// The values of the messages are printed under copypipe.TextSettings,
	// in a transaction of their own, rolled back after.
	endTx, err := copypipe.TextTx(ctx, conn)
	if err != nil {
		return fmt.Errorf("read slot %s: %w", f.slot, err)
	}
	defer func() { _ = endTx(false) }()
	rr := conn.ExecParams(ctx, peekSQL, [][]byte{[]byte(f.slot), []byte(end.String()), bound, []byte(pub)},
		nil, nil, []int16{pgx.BinaryFormatCode})
	var rows int64
	full := false
	for !full && rr.NextRow() {
		rows++
		if full, err = f.add(rr.Values()[0]); err != nil {
			_, _ = rr.Close()
			return err
		}
	}
	if _, err := rr.Close(); err != nil {
		return fmt.Errorf("read slot %s: %w", f.slot, err)
	}
	cs := f.cs
	cs.next = f.position()
	switch {
	case full, rowLimit > 0 && rows >= rowLimit:
		// A limit ended the read, perhaps before the WAL end: go on from
		// the position reached.
		cs.more = true
	case cs.next.Xact == "":
		if cur, err := cs.next.lsn(); err == nil && end > cur {
			cs.next.LSN = end.String()
		}
	}
	return nil
}

// walFlushEnd reads the end of the WAL flushed on the source, where a read
// of a slot that starts now stops, so that it never waits. conn is an
// ordinary source session.
func walFlushEnd(ctx context.Context, conn *pgconn.PgConn) (pglogrepl.LSN, error) {
	res := conn.ExecParams(ctx, `SELECT pg_catalog.pg_current_wal_flush_lsn()::text`, nil, nil, nil, nil).Read()
	if res.Err != nil {
		return 0, fmt.Errorf("read WAL end on the source: %w", res.Err)
	}
	end, err := pglogrepl.ParseLSN(string(res.Rows[0][0]))
	if err != nil {
		return 0, fmt.Errorf("read WAL end on the source: %w", err)
	}
	return end, nil
}

// confirmSlot confirms pos to slot (pg_replication_slot_advance), when
// the slot's confirmed position is older: the source may then recycle
// the WAL before it. conn is an ordinary source session.
func confirmSlot(ctx context.Context, conn *pgconn.PgConn, slot string, pos pglogrepl.LSN) error {
	res := conn.ExecParams(ctx, `SELECT pg_catalog.pg_replication_slot_advance(slot_name, $2::pg_lsn)
		FROM pg_catalog.pg_replication_slots WHERE slot_name = $1 AND confirmed_flush_lsn < $2::pg_lsn`,
		[][]byte{[]byte(slot), []byte(pos.String())}, nil, nil, nil).Read()
	if res.Err != nil {
		return fmt.Errorf("confirm position %s on slot %s: %w", pos, slot, res.Err)
	}
	return nil
}

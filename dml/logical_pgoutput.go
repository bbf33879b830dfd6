package dml

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pglogrepl"
)

// The row messages of pgoutput (insert, update, delete) and the begin and
// commit messages around them are nearly all of what a slot holds, and a
// refresh needs little of them. They are decoded here in place, without
// the copies and the allocations (one per column) of pglogrepl.Parse,
// which decodes every other message.

// rowMessage is an insert ('I'), update ('U') or delete ('D') message of
// pgoutput, protocol version 1. Its tuples refer to the message's bytes.
type rowMessage struct {
	kind     byte
	relation uint32
	// old is the key or the old row (updates and deletes that carry it),
	// new the new row (inserts and updates); nil when absent.
	old, new []tupleColumn
}

// tupleColumn is one column of a tuple: its kind ('n' null, 'u' unchanged
// TOASTed value, 't' text, 'b' binary) and, for text and binary, its
// value.
type tupleColumn struct {
	kind byte
	data []byte
}

var errRowMessage = errors.New("malformed row message")

var errXactMessage = errors.New("malformed begin or commit message")

// pgEpochMicros is the origin of PostgreSQL timestamps, 2000-01-01 UTC,
// in microseconds since the Unix epoch.
const pgEpochMicros = 946684800 * 1000000

// decodeBegin decodes a begin message ('B'): the LSN of the transaction's
// commit record and its commit time.
func decodeBegin(data []byte) (final pglogrepl.LSN, commitTime time.Time, err error) {
	if len(data) != 21 || data[0] != 'B' {
		return 0, time.Time{}, fmt.Errorf("%w: %d bytes", errXactMessage, len(data))
	}
	final = pglogrepl.LSN(binary.BigEndian.Uint64(data[1:]))
	micros := int64(binary.BigEndian.Uint64(data[9:]))
	return final, time.UnixMicro(pgEpochMicros + micros), nil
}

// decodeCommit decodes a commit message ('C'): the end of the
// transaction's commit record.
func decodeCommit(data []byte) (end pglogrepl.LSN, err error) {
	if len(data) != 26 || data[0] != 'C' {
		return 0, fmt.Errorf("%w: %d bytes", errXactMessage, len(data))
	}
	return pglogrepl.LSN(binary.BigEndian.Uint64(data[10:])), nil
}

// isRowMessage reports whether a pgoutput message is a row message.
func isRowMessage(data []byte) bool {
	return len(data) > 0 && (data[0] == 'I' || data[0] == 'U' || data[0] == 'D')
}

// decodeRow decodes row message data. The column slices of m are reused
// (their backing arrays passed in as oldBuf and newBuf) so that decoding
// allocates nothing.
func decodeRow(data []byte, oldBuf, newBuf []tupleColumn) (m rowMessage, err error) {
	if len(data) < 6 {
		return m, fmt.Errorf("%w: %d bytes", errRowMessage, len(data))
	}
	m.kind, m.relation = data[0], binary.BigEndian.Uint32(data[1:5])
	rest := data[5:]
	tag := rest[0]
	switch {
	case m.kind == 'I' && tag == 'N':
	case m.kind == 'U' && (tag == 'K' || tag == 'O' || tag == 'N'):
	case m.kind == 'D' && (tag == 'K' || tag == 'O'):
	default:
		return m, fmt.Errorf("%w: tuple tag %q in message %q", errRowMessage, tag, m.kind)
	}
	if tag != 'N' {
		if m.old, rest, err = decodeTuple(rest[1:], oldBuf[:0]); err != nil {
			return m, err
		}
		if m.kind == 'D' {
			if len(rest) != 0 {
				return m, fmt.Errorf("%w: %d bytes after the tuple", errRowMessage, len(rest))
			}
			return m, nil
		}
		if len(rest) == 0 || rest[0] != 'N' {
			return m, fmt.Errorf("%w: no new tuple", errRowMessage)
		}
	}
	if m.new, rest, err = decodeTuple(rest[1:], newBuf[:0]); err != nil {
		return m, err
	}
	if len(rest) != 0 {
		return m, fmt.Errorf("%w: %d bytes after the tuple", errRowMessage, len(rest))
	}
	return m, nil
}

// decodeTuple decodes the tuple data at the start of data, appending its
// columns to cols, and returns the bytes after it.
func decodeTuple(data []byte, cols []tupleColumn) ([]tupleColumn, []byte, error) {
	if len(data) < 2 {
		return nil, nil, fmt.Errorf("%w: truncated tuple", errRowMessage)
	}
	n := int(binary.BigEndian.Uint16(data))
	data = data[2:]
	if n == 0 {
		// a replicated table has at least its key column; the nil slice
		// would also read as no tuple
		return nil, nil, fmt.Errorf("%w: tuple of no columns", errRowMessage)
	}
	for i := 0; i < n; i++ {
		if len(data) < 1 {
			return nil, nil, fmt.Errorf("%w: truncated tuple", errRowMessage)
		}
		c := tupleColumn{kind: data[0]}
		data = data[1:]
		switch c.kind {
		case 'n', 'u':
		case 't', 'b':
			if len(data) < 4 {
				return nil, nil, fmt.Errorf("%w: truncated tuple", errRowMessage)
			}
			size := binary.BigEndian.Uint32(data)
			data = data[4:]
			if uint64(size) > uint64(len(data)) {
				return nil, nil, fmt.Errorf("%w: truncated tuple", errRowMessage)
			}
			c.data, data = data[:size:size], data[size:]
		default:
			return nil, nil, fmt.Errorf("%w: column kind %q", errRowMessage, c.kind)
		}
		cols = append(cols, c)
	}
	return cols, data, nil
}

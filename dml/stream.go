package dml

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgmimeo/pgmimeo/replication"
)

// streamState is where logical capture stands. It is saved in the
// destination transaction that applies the changes it describes.
type streamState struct {
	// LSN: every transaction that ended at or before it is applied.
	LSN string `json:"lsn"`
	// Xact is the final LSN of a transaction of which a batch limit let
	// only the first XactDone changes of the table be applied.
	Xact     string `json:"xact,omitempty"`
	XactDone int64  `json:"xact_done,omitempty"`
}

func (s streamState) lsn() (pglogrepl.LSN, error) {
	l, err := pglogrepl.ParseLSN(s.LSN)
	if err != nil {
		return 0, fmt.Errorf("stream position %q: %w", s.LSN, err)
	}
	return l, nil
}

// heartbeatPrefix is the prefix of the logical decoding messages a refresh
// emits on the source to learn where the WAL ends.
const heartbeatPrefix = "pgmimeo"

// change is what the stream says of one key since the last applied
// position.
type change struct {
	// key are the key values in text form.
	key []*string
	// image is, for variants that keep deleted rows, the replicated
	// columns of the key's last deleted row (text form), nil when none.
	image     []*string
	deletedAt time.Time
}

// changeSet is the stream read by one refresh, folded by key.
type changeSet struct {
	keys map[string]*change
	// changes is the number of changes of the table read.
	changes int64
	// truncatedAt is the commit time of the last TRUNCATE read, zero when
	// none.
	truncatedAt time.Time
	// next is the position after these changes.
	next streamState
	// more: the batch limit ended the read before the end of the WAL.
	more bool
}

// relation maps the stream's columns of the source table.
type relation struct {
	id uint32
	// key[i] and cols[i] are the stream column positions of the key
	// columns and of the replicated columns.
	key, cols []int
}

func (cs *changeSet) entry(vals []*string) *change {
	var b strings.Builder
	for _, v := range vals {
		if v == nil {
			b.WriteString("N")
		} else {
			fmt.Fprintf(&b, "%d:%s", len(*v), *v)
		}
	}
	k := b.String()
	c := cs.keys[k]
	if c == nil {
		c = &change{key: vals}
		cs.keys[k] = c
	}
	return c
}

// streamReader reads a slot's stream for one table.
type streamReader struct {
	conn  *pgconn.PgConn
	spec  *TableSpec
	slot  string
	pub   string
	keeps bool
	// confirmed is the position already durable on the destination,
	// reported in answers to keep-alives.
	confirmed pglogrepl.LSN
}

func (s *streamReader) start(ctx context.Context, from pglogrepl.LSN) error {
	if err := checkObjectName("slot", s.slot); err != nil {
		return err
	}
	if err := checkObjectName("publication", s.pub); err != nil {
		return err
	}
	err := pglogrepl.StartReplication(ctx, s.conn, s.slot, from, pglogrepl.StartReplicationOptions{
		Mode:       pglogrepl.LogicalReplication,
		PluginArgs: []string{"proto_version '1'", "publication_names '" + s.pub + "'", "messages 'true'"},
	})
	if err != nil {
		return fmt.Errorf("start reading slot %s: %w", s.slot, err)
	}
	return nil
}

// end ends the stream so that the server releases the slot before the
// connection closes, best effort (bounded by five seconds).
func (s *streamReader) end(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_, _ = pglogrepl.SendStandbyCopyDone(ctx, s.conn)
}

// status sends a standby status update confirming pos.
func (s *streamReader) status(ctx context.Context, pos pglogrepl.LSN) error {
	if err := pglogrepl.SendStandbyStatusUpdate(ctx, s.conn, pglogrepl.StandbyStatusUpdate{WALWritePosition: pos}); err != nil {
		return fmt.Errorf("confirm position %s on slot %s: %w", pos, s.slot, err)
	}
	return nil
}

// newNonce draws the payload of a heartbeat message.
func newNonce() (string, error) {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return hex.EncodeToString(b[:]), nil
}

// read reads the stream from state until the heartbeat message carrying
// nonce (emitted after the read started, so at or past the WAL end of
// then) or until limit changes (0: no limit) of the table are read.
func (s *streamReader) read(ctx context.Context, state streamState, nonce string, limit int64) (*changeSet, error) {
	cs := &changeSet{keys: map[string]*change{}, next: state}
	applied, err := state.lsn()
	if err != nil {
		return nil, err
	}
	var rel *relation
	var xact pglogrepl.LSN
	var xactTime time.Time
	var idx, skip int64
	for {
		msg, err := s.conn.ReceiveMessage(ctx)
		if err != nil {
			return nil, fmt.Errorf("read slot %s: %w", s.slot, err)
		}
		var data []byte
		switch m := msg.(type) {
		case *pgproto3.CopyData:
			data = m.Data
		case *pgproto3.ErrorResponse:
			return nil, fmt.Errorf("read slot %s: %w", s.slot, pgconn.ErrorResponseToPgError(m))
		default:
			return nil, fmt.Errorf("read slot %s: unexpected message %T", s.slot, msg)
		}
		if len(data) == 0 {
			continue
		}
		switch data[0] {
		case pglogrepl.PrimaryKeepaliveMessageByteID:
			ka, err := pglogrepl.ParsePrimaryKeepaliveMessage(data[1:])
			if err != nil {
				return nil, fmt.Errorf("read slot %s: %w", s.slot, err)
			}
			if ka.ReplyRequested {
				if err := s.status(ctx, s.confirmed); err != nil {
					return nil, err
				}
			}
			continue
		case pglogrepl.XLogDataByteID:
		default:
			continue
		}
		xld, err := pglogrepl.ParseXLogData(data[1:])
		if err != nil {
			return nil, fmt.Errorf("read slot %s: %w", s.slot, err)
		}
		lm, err := pglogrepl.Parse(xld.WALData)
		if err != nil {
			return nil, fmt.Errorf("decode slot %s: %w", s.slot, err)
		}
		switch m := lm.(type) {
		case *pglogrepl.RelationMessage:
			// A partitioned table's partitions are described too, though
			// their changes come under the table's own relation.
			if m.Namespace != s.spec.Source.Schema || m.RelationName != s.spec.Source.Name {
				continue
			}
			if rel, err = s.relation(m); err != nil {
				return nil, err
			}
		case *pglogrepl.BeginMessage:
			xact, xactTime, idx, skip = m.FinalLSN, m.CommitTime, 0, 0
			switch {
			case state.Xact == xact.String():
				skip = state.XactDone
			case xact < applied:
				// applied already (the server resends from its own
				// confirmed position when that is older)
				skip = 1 << 62
			}
		case *pglogrepl.CommitMessage:
			cs.next = streamState{LSN: m.TransactionEndLSN.String()}
		case *pglogrepl.LogicalDecodingMessage:
			if !m.Transactional && m.Prefix == heartbeatPrefix && string(m.Content) == nonce {
				if cs.next.Xact == "" {
					if cur, err := cs.next.lsn(); err == nil && m.LSN > cur {
						cs.next.LSN = m.LSN.String()
					}
				}
				return cs, nil
			}
		case *pglogrepl.InsertMessage, *pglogrepl.UpdateMessage, *pglogrepl.DeleteMessage, *pglogrepl.TruncateMessage:
			mine, err := s.fold(cs, rel, lm, xactTime)
			if err != nil {
				return nil, err
			}
			if !mine {
				continue
			}
			idx++
			if idx <= skip {
				continue
			}
			cs.changes++
			if limit > 0 && cs.changes >= limit {
				// cs.next.LSN is the end of the last transaction read
				// whole (or the start position).
				cs.next = streamState{LSN: cs.next.LSN, Xact: xact.String(), XactDone: idx}
				cs.more = true
				return cs, nil
			}
		}
	}
}

// relation checks a relation message of the source table and maps its
// columns. A replicated column the source no longer has is an error, as
// it is for the trigger capture (see the package documentation on column
// changes); a column added to the source is ignored.
func (s *streamReader) relation(m *pglogrepl.RelationMessage) (*relation, error) {
	rel := &relation{id: m.RelationID}
	pos := map[string]int{}
	for i, c := range m.Columns {
		pos[c.Name] = i
	}
	for _, name := range s.spec.ColumnNames() {
		i, ok := pos[name]
		if !ok {
			return nil, &replication.ColumnError{Table: s.spec.Source, Column: name, Err: replication.ErrColumnNotFound,
				Fix: "the source no longer has this replicated column (see the package documentation on column changes)"}
		}
		rel.cols = append(rel.cols, i)
	}
	for _, k := range s.spec.Key {
		rel.key = append(rel.key, pos[k])
	}
	return rel, nil
}

// fold adds one change message to cs and reports whether it was a change
// of the source table.
func (s *streamReader) fold(cs *changeSet, rel *relation, lm pglogrepl.Message, at time.Time) (bool, error) {
	switch m := lm.(type) {
	case *pglogrepl.TruncateMessage:
		if rel == nil {
			return false, nil
		}
		for _, id := range m.RelationIDs {
			if id == rel.id {
				cs.truncatedAt = at
				return true, nil
			}
		}
		return false, nil
	}
	var id uint32
	var newT, oldT *pglogrepl.TupleData
	switch m := lm.(type) {
	case *pglogrepl.InsertMessage:
		id, newT = m.RelationID, m.Tuple
	case *pglogrepl.UpdateMessage:
		id, newT, oldT = m.RelationID, m.NewTuple, m.OldTuple
	case *pglogrepl.DeleteMessage:
		id, oldT = m.RelationID, m.OldTuple
	}
	if rel == nil || id != rel.id {
		return false, nil
	}
	if oldT != nil {
		key, err := s.values(oldT, rel.key)
		if err != nil {
			return true, err
		}
		c := cs.entry(key)
		if newT == nil && s.keeps {
			// A delete: keep the row's last values (REPLICA IDENTITY FULL
			// sends them whole, detoasted).
			img, err := s.values(oldT, rel.cols)
			if err != nil {
				return true, err
			}
			c.image, c.deletedAt = img, at
		}
	}
	if newT != nil {
		key, err := s.values(newT, rel.key)
		if err != nil {
			return true, err
		}
		cs.entry(key)
	}
	return true, nil
}

var errUnchangedToast = errors.New("a value the stream did not carry (unchanged TOAST)")

// values returns the text values of tuple columns pos.
func (s *streamReader) values(t *pglogrepl.TupleData, pos []int) ([]*string, error) {
	out := make([]*string, len(pos))
	for i, p := range pos {
		if p >= len(t.Columns) {
			return nil, fmt.Errorf("decode slot %s: tuple has %d columns, want column %d", s.slot, len(t.Columns), p)
		}
		c := t.Columns[p]
		switch c.DataType {
		case pglogrepl.TupleDataTypeNull:
		case pglogrepl.TupleDataTypeText:
			v := string(c.Data)
			out[i] = &v
		default:
			return nil, fmt.Errorf("decode slot %s: %w", s.slot, errUnchangedToast)
		}
	}
	return out, nil
}

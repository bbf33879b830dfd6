package dml

import (
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/jackc/pglogrepl"
	"github.com/stretchr/testify/require"
)

// encodeTuple makes pgoutput tuple data of columns given as kind and
// value.
func encodeTuple(cols ...tupleColumn) []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(len(cols)))
	for _, c := range cols {
		b = append(b, c.kind)
		if c.kind == 't' || c.kind == 'b' {
			b = binary.BigEndian.AppendUint32(b, uint32(len(c.data)))
			b = append(b, c.data...)
		}
	}
	return b
}

// encodeRow makes a row message; a nil tuple is left out with its tag.
func encodeRow(kind byte, rel uint32, oldTag byte, old, new []byte) []byte {
	b := binary.BigEndian.AppendUint32([]byte{kind}, rel)
	if old != nil {
		b = append(append(b, oldTag), old...)
	}
	if new != nil {
		b = append(append(b, 'N'), new...)
	}
	return b
}

func TestDecodeRow(t *testing.T) {
	row := encodeTuple(tupleColumn{'t', []byte("42")}, tupleColumn{'n', nil}, tupleColumn{'u', nil}, tupleColumn{'t', []byte("")})
	key := encodeTuple(tupleColumn{'t', []byte("7")}, tupleColumn{'n', nil}, tupleColumn{'n', nil}, tupleColumn{'n', nil})
	for _, c := range []struct {
		name string
		data []byte
		err  bool
	}{
		{"insert", encodeRow('I', 16384, 0, nil, row), false},
		{"update", encodeRow('U', 1, 0, nil, row), false},
		{"update of the key", encodeRow('U', 1, 'K', key, row), false},
		{"update with the old row", encodeRow('U', 1, 'O', row, row), false},
		{"delete", encodeRow('D', 99, 'K', key, nil), false},
		{"delete with the old row", encodeRow('D', 99, 'O', row, nil), false},
		{"insert without a tuple", encodeRow('I', 1, 0, nil, nil), true},
		{"insert with an old tuple", encodeRow('I', 1, 'K', key, row), true},
		{"delete with a new tuple", encodeRow('D', 1, 'K', key, row), true},
		{"update without a new tuple", encodeRow('U', 1, 'K', key, nil), true},
		{"truncated", encodeRow('U', 1, 'K', key, row)[:20], true},
		{"trailing bytes", append(encodeRow('I', 1, 0, nil, row), 0), true},
		{"unknown column kind", encodeRow('I', 1, 0, nil, []byte{0, 1, 'x'}), true},
		{"tuple of no columns", encodeRow('I', 1, 0, nil, []byte{0, 0}), true},
	} {
		t.Run(c.name, func(t *testing.T) {
			m, err := decodeRow(c.data, nil, nil)
			if c.err {
				require.ErrorIs(t, err, errRowMessage)
				return
			}
			require.NoError(t, err)
			requireSameAsPglogrepl(t, c.data, m)
		})
	}
}

// FuzzDecodeRow: what decodeRow accepts, pglogrepl decodes alike.
func FuzzDecodeRow(f *testing.F) {
	row := encodeTuple(tupleColumn{'t', []byte("42")}, tupleColumn{'n', nil}, tupleColumn{'u', nil}, tupleColumn{'b', []byte{0, 1}})
	key := encodeTuple(tupleColumn{'t', []byte("7")})
	f.Add(encodeRow('I', 16384, 0, nil, row))
	f.Add(encodeRow('U', 1, 'K', key, row))
	f.Add(encodeRow('U', 1, 'O', row, row))
	f.Add(encodeRow('D', 2, 'O', row, nil))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := decodeRow(data, nil, nil)
		if err != nil {
			require.ErrorIs(t, err, errRowMessage)
			return
		}
		requireSameAsPglogrepl(t, data, m)
	})
}

// requireSameAsPglogrepl checks m against pglogrepl's decoding of data.
func requireSameAsPglogrepl(t *testing.T, data []byte, m rowMessage) {
	t.Helper()
	var lm pglogrepl.Message
	func() {
		defer func() {
			if p := recover(); p != nil {
				t.Fatalf("pglogrepl panics on a message decodeRow accepts: %v", p)
			}
		}()
		var err error
		lm, err = pglogrepl.Parse(data)
		require.NoError(t, err)
	}()
	cols := func(td *pglogrepl.TupleData) []tupleColumn {
		if td == nil {
			return nil
		}
		out := []tupleColumn{}
		for _, c := range td.Columns {
			tc := tupleColumn{kind: c.DataType}
			if c.DataType == 't' || c.DataType == 'b' {
				tc.data = c.Data
			}
			out = append(out, tc)
		}
		return out
	}
	var want rowMessage
	switch x := lm.(type) {
	case *pglogrepl.InsertMessage:
		want = rowMessage{kind: 'I', relation: x.RelationID, new: cols(x.Tuple)}
	case *pglogrepl.UpdateMessage:
		want = rowMessage{kind: 'U', relation: x.RelationID, old: cols(x.OldTuple), new: cols(x.NewTuple)}
	case *pglogrepl.DeleteMessage:
		want = rowMessage{kind: 'D', relation: x.RelationID, old: cols(x.OldTuple)}
	default:
		t.Fatalf("pglogrepl decodes %T", lm)
	}
	norm := func(m rowMessage) string {
		f := func(cs []tupleColumn) string {
			if cs == nil {
				return "absent"
			}
			s := ""
			for _, c := range cs {
				s += fmt.Sprintf("%c%q,", c.kind, c.data)
			}
			return s
		}
		return fmt.Sprintf("%c %d old=%s new=%s", m.kind, m.relation, f(m.old), f(m.new))
	}
	require.Equal(t, norm(want), norm(m))
}

// encodeXact makes a begin message, or with end > 0 a commit message.
func encodeXact(lsn, end uint64, micros int64) []byte {
	if end == 0 {
		b := binary.BigEndian.AppendUint64([]byte{'B'}, lsn)
		b = binary.BigEndian.AppendUint64(b, uint64(micros))
		return binary.BigEndian.AppendUint32(b, 7)
	}
	b := binary.BigEndian.AppendUint64([]byte{'C', 0}, lsn)
	b = binary.BigEndian.AppendUint64(b, end)
	return binary.BigEndian.AppendUint64(b, uint64(micros))
}

// FuzzDecodeXact: what decodeBegin and decodeCommit accept, pglogrepl
// decodes alike.
func FuzzDecodeXact(f *testing.F) {
	f.Add(encodeXact(0x16AFD550, 0, 817000000123456))
	f.Add(encodeXact(0x16AFD550, 0x16AFD580, 817000000123456))
	f.Add([]byte("B"))
	f.Fuzz(func(t *testing.T, data []byte) {
		final, at, berr := decodeBegin(data)
		end, cerr := decodeCommit(data)
		if berr != nil && cerr != nil {
			require.ErrorIs(t, berr, errXactMessage)
			require.ErrorIs(t, cerr, errXactMessage)
			return
		}
		lm, err := pglogrepl.Parse(data)
		require.NoError(t, err)
		switch m := lm.(type) {
		case *pglogrepl.BeginMessage:
			require.NoError(t, berr)
			require.Equal(t, m.FinalLSN, final)
			if micros := int64(binary.BigEndian.Uint64(data[9:])); micros > -1e15 && micros < 1e15 {
				require.True(t, m.CommitTime.Equal(at), "%v %v", m.CommitTime, at)
			}
		case *pglogrepl.CommitMessage:
			require.NoError(t, cerr)
			require.Equal(t, m.TransactionEndLSN, end)
		default:
			t.Fatalf("pglogrepl decodes %T", lm)
		}
	})
}

func TestAppendCopyText(t *testing.T) {
	for in, want := range map[string]string{
		"":                   "",
		"plain":              "plain",
		`\N`:                 `\\N`,
		"a\tb\nc\rd\\e":      `a\tb\nc\rd\\e`,
		"é\x00\x01 \\\\ end": "é\x00\x01 \\\\\\\\ end",
	} {
		require.Equal(t, want, string(appendCopyText([]byte("x"), []byte(in)))[1:], "%q", in)
	}
}

package dml

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/require"
)

// encodeBinary makes a binary COPY stream of the tuples (nil field: NULL).
func encodeBinary(tuples [][][]byte) []byte {
	var b bytes.Buffer
	b.Write(binarySignature)
	b.Write([]byte{0, 0, 0, 0, 0, 0, 0, 0})
	for _, t := range tuples {
		_ = binary.Write(&b, binary.BigEndian, int16(len(t)))
		for _, f := range t {
			if f == nil {
				_ = binary.Write(&b, binary.BigEndian, int32(-1))
				continue
			}
			_ = binary.Write(&b, binary.BigEndian, int32(len(f)))
			b.Write(f)
		}
	}
	b.Write([]byte{0xff, 0xff})
	return b.Bytes()
}

// splitAll cuts stream into pieces of n tuples.
func splitAll(t testing.TB, stream []byte, isBinary bool, n int) ([][]byte, []int) {
	s := newTupleSplitter(bytes.NewReader(stream), isBinary)
	var pieces [][]byte
	var counts []int
	for {
		more, err := s.more()
		require.NoError(t, err)
		if !more {
			return pieces, counts
		}
		var w bytes.Buffer
		c, err := s.copyTuples(&w, n)
		require.NoError(t, err)
		pieces = append(pieces, w.Bytes())
		counts = append(counts, c)
	}
}

// tuplesFromFuzz turns fuzz bytes into tuples of fields, some NULL.
func tuplesFromFuzz(data []byte, fields int) [][][]byte {
	var tuples [][][]byte
	for len(data) > 0 {
		t := make([][]byte, fields)
		for i := range t {
			if len(data) == 0 {
				break
			}
			size := int(data[0] % 17)
			data = data[1:]
			if size == 16 {
				continue // NULL
			}
			size = min(size, len(data))
			t[i] = append([]byte{}, data[:size]...)
			data = data[size:]
		}
		tuples = append(tuples, t)
	}
	return tuples
}

func FuzzSplitBinary(f *testing.F) {
	f.Add([]byte("abcdefghijklmnopqrstuvwxyz0123456789"), uint8(3), uint8(2))
	f.Add([]byte{0xff, 0xff, 0, 0, 16, 16, 3, 'a', 'b', 'c'}, uint8(1), uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, fields, n uint8) {
		nf := int(fields%5) + 1
		tuples := tuplesFromFuzz(data, nf)
		pieces, counts := splitAll(t, encodeBinary(tuples), true, int(n%7))
		// Every piece is a whole stream; together they hold the tuples in
		// order, at most n each.
		var got [][][]byte
		for i, p := range pieces {
			if n%7 > 0 {
				require.LessOrEqual(t, counts[i], int(n%7))
			}
			sub, _ := splitAll(t, p, true, 0)
			require.Len(t, sub, 1)
			require.Equal(t, p, sub[0], "a piece splits into itself")
			got = append(got, decodeBinary(t, p)...)
		}
		if len(tuples) == 0 {
			require.Empty(t, got)
			return
		}
		require.Equal(t, tuples, got)
	})
}

func decodeBinary(t testing.TB, stream []byte) [][][]byte {
	require.True(t, bytes.HasPrefix(stream, binarySignature))
	stream = stream[len(binarySignature)+8:]
	var out [][][]byte
	for {
		n := int(int16(binary.BigEndian.Uint16(stream)))
		stream = stream[2:]
		if n == -1 {
			require.Empty(t, stream)
			return out
		}
		tuple := make([][]byte, n)
		for i := range tuple {
			size := int32(binary.BigEndian.Uint32(stream))
			stream = stream[4:]
			if size < 0 {
				continue
			}
			tuple[i] = append([]byte{}, stream[:size]...)
			stream = stream[size:]
		}
		out = append(out, tuple)
	}
}

func FuzzSplitText(f *testing.F) {
	f.Add("a\tb\\nc\n\\N\tx\n", uint8(1))
	f.Add("one line without end", uint8(2))
	f.Fuzz(func(t *testing.T, text string, n uint8) {
		lines := bytes.SplitAfter([]byte(text), []byte("\n"))
		var stream []byte
		for _, l := range lines {
			if len(l) > 0 && l[len(l)-1] == '\n' {
				stream = append(stream, l...)
			}
		}
		pieces, counts := splitAll(t, stream, false, int(n%5))
		require.Equal(t, string(stream), string(bytes.Join(pieces, nil)))
		for i, p := range pieces {
			require.Equal(t, counts[i], bytes.Count(p, []byte("\n")))
			if n%5 > 0 {
				require.LessOrEqual(t, counts[i], int(n%5))
			}
		}
	})
}

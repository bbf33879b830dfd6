// Package copypipe streams rows from one PostgreSQL server to another with
// COPY: "COPY (SELECT …) TO STDOUT" on the source feeds "COPY … FROM STDIN"
// on the destination through a large buffer, so rows are never decoded in Go.
//
// pgconn's CopyTo hands each row to its writer as one small Write; a 1 MiB
// buffer in front of the pipe turns those into few large writes, which is
// what lets the Go pipe match a psql | psql pipe.
package copypipe

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgmimeo/pgmimeo/internal/catalog"
)

// DefaultBufferSize is the buffer between the two COPY streams.
const DefaultBufferSize = 1 << 20

// Spec says what to copy.
type Spec struct {
	// Query is the SELECT run on the source.
	Query string
	// Dest is the destination table, already quoted (Table.Sanitize).
	Dest string
	// Columns are the destination columns, unquoted, in the order the
	// query returns them. Empty means every column in table order.
	Columns []string
	// Binary uses the binary COPY format (see CanBinary); else text.
	Binary bool
	// Freeze adds FREEZE (allowed when the table was created or truncated in
	// the destination's current transaction).
	Freeze bool
	// BufferSize is the buffer between the streams; 0 means DefaultBufferSize.
	BufferSize int
	// Progress, if set, is called with the bytes moved so far, about every
	// ProgressEvery bytes, from the copying goroutine.
	Progress func(bytes int64)
	// ProgressEvery defaults to 64 MiB.
	ProgressEvery int64
}

// Stats is what a copy moved.
type Stats struct {
	// Rows is the number of rows the destination loaded.
	Rows int64
	// Bytes is the size of the COPY stream.
	Bytes int64
	// Binary tells which format was used.
	Binary bool
}

// errAborted is given to the source side when the destination stops reading.
var errAborted = errors.New("copy aborted: the destination stopped reading")

// OutSQL returns the source COPY statement for spec.
func (s Spec) OutSQL() string {
	return fmt.Sprintf("COPY (%s) TO STDOUT (FORMAT %s)", s.Query, s.format())
}

// InSQL returns the destination COPY statement for spec.
func (s Spec) InSQL() string {
	var b strings.Builder
	b.WriteString("COPY ")
	b.WriteString(s.Dest)
	if len(s.Columns) > 0 {
		b.WriteString(" (")
		for i, c := range s.Columns {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(pgx.Identifier{c}.Sanitize())
		}
		b.WriteString(")")
	}
	b.WriteString(" FROM STDIN (FORMAT ")
	b.WriteString(s.format())
	if s.Freeze {
		b.WriteString(", FREEZE")
	}
	b.WriteString(")")
	return b.String()
}

func (s Spec) format() string {
	if s.Binary {
		return "binary"
	}
	return "text"
}

// TextSettings sets, for the current transaction, the settings that the
// text form of values depends on to fixed values: values printed under
// them on one server read back the same under them on another, whatever
// DateStyle, IntervalStyle, extra_float_digits, bytea_output, lc_monetary
// or TimeZone a role or database sets (a day-first DateStyle read as
// month-first swaps days and months; extra_float_digits below 1 cuts
// floats).
const TextSettings = `SELECT pg_catalog.set_config('DateStyle', 'ISO, YMD', true),
	pg_catalog.set_config('IntervalStyle', 'postgres', true), pg_catalog.set_config('extra_float_digits', '3', true),
	pg_catalog.set_config('bytea_output', 'hex', true), pg_catalog.set_config('lc_monetary', 'C', true),
	pg_catalog.set_config('TimeZone', 'UTC', true)`

// TextTx readies conn to print or read values in text form: it applies
// TextSettings in conn's transaction, first beginning one when conn is
// not in one. end finishes the transaction it began (committing when ok),
// and does nothing otherwise.
func TextTx(ctx context.Context, conn *pgconn.PgConn) (end func(ok bool) error, err error) {
	sql := TextSettings
	began := conn.TxStatus() == 'I'
	if began {
		sql = "BEGIN; " + sql
	}
	if err := conn.Exec(ctx, sql).Close(); err != nil {
		return nil, fmt.Errorf("set text settings: %w", err)
	}
	return func(ok bool) error {
		if !began || conn.IsClosed() {
			return nil
		}
		if !ok {
			return conn.Exec(context.WithoutCancel(ctx), "ROLLBACK").Close()
		}
		return conn.Exec(ctx, "COMMIT").Close()
	}, nil
}

// Copy runs spec from src to dst. Either connection may be inside a
// transaction. In text form both sides print and read values under
// TextSettings, set for their transaction (one that Copy begins and ends
// itself on a side that is not in one). When ctx ends or either side
// fails, both COPYs stop; the source connection is then closed (pgconn
// cannot resume a half-read COPY), the destination's COPY fails and its
// transaction must be rolled back.
func Copy(ctx context.Context, src, dst *pgconn.PgConn, spec Spec) (st Stats, err error) {
	if !spec.Binary {
		for _, conn := range []*pgconn.PgConn{src, dst} {
			end, err := TextTx(ctx, conn)
			if err != nil {
				return Stats{}, err
			}
			defer func() {
				if eerr := end(err == nil); eerr != nil && err == nil {
					err = fmt.Errorf("copy %s: %w", spec.Dest, eerr)
				}
			}()
		}
	}
	size := spec.BufferSize
	if size <= 0 {
		size = DefaultBufferSize
	}
	pr, pw := io.Pipe()
	cw := &countingWriter{w: pw, progress: spec.Progress, every: spec.ProgressEvery}
	if cw.every <= 0 {
		cw.every = 64 << 20
	}
	cw.next = cw.every
	bw := bufio.NewWriterSize(cw, size)
	srcDone := make(chan error, 1)
	go func() {
		_, err := src.CopyTo(ctx, bw, spec.OutSQL())
		if err == nil {
			err = bw.Flush()
		}
		pw.CloseWithError(err) // nil: the reader sees EOF
		srcDone <- err
	}()
	tag, dstErr := dst.CopyFrom(ctx, pr, spec.InSQL())
	if dstErr != nil {
		pr.CloseWithError(errAborted)
	}
	srcErr := <-srcDone
	st = Stats{Rows: tag.RowsAffected(), Bytes: cw.n.Load(), Binary: spec.Binary}
	if srcErr != nil && !errors.Is(srcErr, errAborted) {
		return st, fmt.Errorf("copy out of source: %w", srcErr)
	}
	if dstErr != nil {
		return st, fmt.Errorf("copy into %s: %w", spec.Dest, dstErr)
	}
	return st, nil
}

type countingWriter struct {
	w        io.Writer
	n        atomic.Int64
	progress func(int64)
	every    int64
	next     int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	total := c.n.Add(int64(n))
	if c.progress != nil && total >= c.next {
		c.next = total + c.every
		c.progress(total)
	}
	return n, err
}

// CanBinary reports whether rows of src columns can be loaded into dst
// columns (pairwise) in binary form: every type must be built in and the
// same on both sides. Types made in a database (enums, domains, composites,
// arrays of those) carry OIDs that differ between databases, so they go as
// text.
func CanBinary[S, D ~catalog.ColumnFields](src []S, dst []D) bool {
	if len(src) != len(dst) {
		return false
	}
	for i := range src {
		s, d := catalog.Column(src[i]), catalog.Column(dst[i])
		if !s.Builtin || !d.Builtin || s.TypeOID != d.TypeOID {
			return false
		}
	}
	return true
}

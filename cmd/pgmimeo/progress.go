package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/term"

	"github.com/pgmimeo/pgmimeo/replication"
)

// progress prints a copy's progress on one terminal line: bytes, the
// rows they make at the source's average row size, the rate and, when the
// total is known, the time left.
type progress struct {
	mu       sync.Mutex
	w        io.Writer
	label    string
	total    int64   // estimated bytes; 0: unknown
	rowBytes float64 // estimated bytes a row; 0: unknown
	start    time.Time
	now      func() time.Time
	printed  bool
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// update is the copy's Progress callback.
func (p *progress) update(bytes int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprint(p.w, "\r"+p.line(bytes)+"\x1b[K")
	p.printed = true
}

// done ends the progress line.
func (p *progress) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.printed {
		fmt.Fprint(p.w, "\r\x1b[K")
	}
}

// line is the progress text after bytes were copied.
func (p *progress) line(bytes int64) string {
	elapsed := p.now().Sub(p.start)
	s := p.label + ": " + size(bytes)
	if p.total > 0 {
		s += " of ~" + size(p.total)
	}
	if p.rowBytes > 0 {
		s += fmt.Sprintf(", ~%d rows", int64(float64(bytes)/p.rowBytes))
	}
	if elapsed > 0 {
		rate := float64(bytes) / elapsed.Seconds()
		s += ", " + size(int64(rate)) + "/s"
		if p.total > bytes && rate > 0 {
			left := time.Duration(float64(p.total-bytes) / rate * float64(time.Second))
			s += ", ETA " + left.Round(time.Second).String()
		}
	}
	return s
}

// size prints bytes in B, kB, MB or GB (powers of 1000).
func size(b int64) string {
	switch {
	case b >= 1e9:
		return fmt.Sprintf("%.1f GB", float64(b)/1e9)
	case b >= 1e6:
		return fmt.Sprintf("%.1f MB", float64(b)/1e6)
	case b >= 1e3:
		return fmt.Sprintf("%.1f kB", float64(b)/1e3)
	}
	return fmt.Sprintf("%d B", b)
}

// progressFor returns the progress of a copy of source table t, or nil
// when standard output is not a terminal (or --json): quiet then.
func (a *app) progressFor(ctx context.Context, src *pgxpool.Pool, label string, t replication.Table) *progress {
	if a.json || !isTerminal(a.stdout) {
		return nil
	}
	p := &progress{w: a.stdout, label: label, start: time.Now(), now: time.Now}
	var tuples float64
	if err := src.QueryRow(ctx, `SELECT pg_catalog.pg_table_size(c.oid), c.reltuples::float8 FROM pg_catalog.pg_class c WHERE c.oid = pg_catalog.to_regclass($1)`,
		t.String()).Scan(&p.total, &tuples); err == nil && tuples > 0 {
		p.rowBytes = float64(p.total) / tuples
	}
	return p
}

// callback is p's Progress function; nil for a nil p.
func (p *progress) callback() func(int64) {
	if p == nil {
		return nil
	}
	return p.update
}

// finish ends p's line, if any.
func (p *progress) finish() {
	if p != nil {
		p.done()
	}
}

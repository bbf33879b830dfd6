package check

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pgmimeo/pgmimeo/replication"
)

// ChecksumHash names the row hash a checksum validation uses.
type ChecksumHash string

// Row hashes.
const (
	// HashAuto uses HashText when both servers compute it alike (it is
	// built into PostgreSQL but not promised to be the same on every
	// platform), else HashMD5.
	HashAuto ChecksumHash = ""
	// HashText is PostgreSQL's 64-bit hashtextextended of the row text:
	// the fastest.
	HashText ChecksumHash = "hashtextextended"
	// HashMD5 is the first 64 bits of the MD5 of the row text: the same on
	// every server, about a third slower.
	HashMD5 ChecksumHash = "md5"
)

// Defaults and limits of ChecksumConfig.
const (
	DefaultChecksumRanges = 16
	DefaultLeafRows       = 100
	DefaultMaxRanges      = 1000
	maxChecksumRanges     = 1024
	maxChecksumDepth      = 64
	// sampleAbove is the row count of a whole table above which the first
	// split takes its boundaries from a sample instead of reading every key
	// in order; samplePerPart is the sampled rows wanted per part.
	sampleAbove   = 100_000
	samplePerPart = 200
)

// ChecksumConfig configures a checksum validation. A nil or zero config
// compares every column of every row, keyed by the source's key.
type ChecksumConfig struct {
	// Columns are the compared columns, in the source's column order, as
	// the job's column filter. They must include the key. Default: every
	// source column. All must exist on the destination.
	Columns []string

	// Key are the columns that identify a row, in order. Default: the
	// source's primary key or first usable unique index. Their types must
	// be the same on both sides. Text keys are compared under COLLATE "C"
	// on both sides, so that the two databases' collations cannot disagree
	// about which range a key falls in; as an index of another collation
	// cannot serve such a comparison, each step of the descent then reads
	// the table in full instead of just the range.
	Key []string

	// Condition restricts the source rows, in mimeo's form (see
	// Options.Condition). Default: every row.
	Condition string

	// DestCondition restricts the destination rows: an expression on the
	// destination's columns, with or without a leading WHERE. Default:
	// every row.
	DestCondition string

	// Control, Lower and Upper bound both sides by the control column of
	// an incremental job, as in RowCountOptions, so that rows the job has
	// not pulled yet are not reported. Default: no bounds.
	Control string
	Lower   string
	Upper   string

	// Ranges is how many key ranges a differing range is split into at
	// each step (2 to 1024). Default DefaultChecksumRanges (16).
	Ranges int

	// LeafRows is the size, in rows, under which a differing range is not
	// split further; its differing rows are listed instead. Default
	// DefaultLeafRows (100).
	LeafRows int

	// MaxRanges caps the work on tables that differ widely: when more than
	// this many ranges differ at one step, they are reported as they are,
	// without splitting them further or listing their rows (and the result
	// is marked Truncated). Default DefaultMaxRanges (1000).
	MaxRanges int

	// Hash is the row hash. Default HashAuto.
	Hash ChecksumHash

	// Lock, when set, is a session on the destination that holds the
	// destination table's refresh lock while the check runs, so that no
	// refresh changes it half-way. A refresh holding the lock makes the
	// check fail with ErrLocked (after LockWait). Default nil: no lock.
	Lock replication.Locker

	// LockWait is how long to wait for Lock (see Options.LockWait).
	// Default nil: do not wait.
	LockWait *time.Duration
}

func (c *ChecksumConfig) validate() error {
	switch {
	case c.Ranges != 0 && (c.Ranges < 2 || c.Ranges > maxChecksumRanges):
		return &replication.OptionError{Field: "ChecksumConfig.Ranges", Problem: fmt.Sprintf("must be 0 (default %d) or 2 to %d", DefaultChecksumRanges, maxChecksumRanges)}
	case c.LeafRows < 0:
		return &replication.OptionError{Field: "ChecksumConfig.LeafRows", Problem: fmt.Sprintf("must be 0 (default %d) or positive", DefaultLeafRows)}
	case c.MaxRanges < 0:
		return &replication.OptionError{Field: "ChecksumConfig.MaxRanges", Problem: fmt.Sprintf("must be 0 (default %d) or positive", DefaultMaxRanges)}
	case c.Hash != HashAuto && c.Hash != HashText && c.Hash != HashMD5:
		return &replication.OptionError{Field: "ChecksumConfig.Hash", Problem: fmt.Sprintf("unknown hash %q", c.Hash)}
	case c.Control == "" && (c.Lower != "" || c.Upper != ""):
		return &replication.OptionError{Field: "ChecksumConfig.Lower/Upper", Problem: "need ChecksumConfig.Control"}
	}
	if c.Ranges == 0 {
		c.Ranges = DefaultChecksumRanges
	}
	if c.LeafRows == 0 {
		c.LeafRows = DefaultLeafRows
	}
	if c.MaxRanges == 0 {
		c.MaxRanges = DefaultMaxRanges
	}
	return checkDestCondition("ChecksumConfig.DestCondition", c.DestCondition)
}

// RowChange says how one row differs.
type RowChange string

// Row changes, seen from the destination.
const (
	// RowMissing: the source row is not on the destination.
	RowMissing RowChange = "missing"
	// RowExtra: the destination row is not on the source (or is a second
	// row with the same key).
	RowExtra RowChange = "extra"
	// RowChanged: the row is on both sides with other contents.
	RowChanged RowChange = "changed"
)

// RowDiff is one differing row of a leaf range.
type RowDiff struct {
	// Key is the row's key, each part as text.
	Key    []string
	Change RowChange
}

// KeyRange is a range of keys whose rows differ between source and
// destination.
type KeyRange struct {
	// From is the range's inclusive lower bound, To its exclusive upper
	// bound: key values as text, in key column order; nil is unbounded.
	// Keys compare as rows: (a, b) < (c, d) when a < c, or a = c and b < d.
	From []string
	To   []string
	// SourceRows and DestRows are the rows in the range on each side.
	SourceRows int64
	DestRows   int64
	// Leaf is true when the range was split down to LeafRows; Rows then
	// lists its differing rows in key order (missing and changed rows,
	// then extra rows where the key orders disagree).
	Leaf bool
	Rows []RowDiff
	// NullKey marks the rows whose key has a NULL part, which no range
	// holds; From and To are nil.
	NullKey bool
}

// Bounds returns the range's bounds and whether it is the range of keys
// with a NULL part.
func (r KeyRange) Bounds() (from, to []string, nullKey bool) { return r.From, r.To, r.NullKey }

// String describes the range, e.g. "(100) <= key < (200)".
func (r KeyRange) String() string {
	b := func(k []string) string { return "(" + strings.Join(k, ", ") + ")" }
	switch {
	case r.NullKey:
		return "key with NULL"
	case r.From == nil && r.To == nil:
		return "every key"
	case r.From == nil:
		return "key < " + b(r.To)
	case r.To == nil:
		return "key >= " + b(r.From)
	}
	return b(r.From) + " <= key < " + b(r.To)
}

// ChecksumResult is the outcome of a checksum validation.
type ChecksumResult struct {
	Source replication.Table
	Dest   replication.Table
	// Key and Columns are the key and compared columns.
	Key     []string
	Columns []string
	// Hash is the row hash used.
	Hash ChecksumHash
	// SourceRows and DestRows are the rows compared on each side.
	SourceRows int64
	DestRows   int64
	// Match is true when every row is the same on both sides.
	Match bool
	// Ranges are the differing key ranges, in key order.
	Ranges []KeyRange
	// Truncated is true when MaxRanges stopped the search early.
	Truncated bool
	// RangesCompared counts the key ranges hashed on both sides.
	RangesCompared int
	// ControlBounds are the control-value bounds used, if any.
	ControlBounds
}

// csRange is a key range under comparison.
type csRange struct {
	from, to   []string
	src, dst   int64
	srcH, dstH string
	// path orders ranges by key: the indexes of the parts chosen from the
	// whole table down to this range.
	path []int
	// nulls: the range is the whole table, rows with NULL key parts
	// included (and counted apart).
	nulls bool
}

func (r *csRange) differs() bool { return r.src != r.dst || r.srcH != r.dstH }

// Checksum compares the contents of source table source (on src) and
// destination table or view destTable (on dest) and names the key ranges
// whose rows differ. It splits the key space into cfg.Ranges ranges of
// about equal row counts (by the keys of the larger side), hashes the rows
// of each range on both sides at once, and splits the ranges that differ
// again until they hold at most cfg.LeafRows rows; for those it lists the
// differing rows. The first step reads each side in full once (a large
// table's split points come from a sample of its keys); later steps read
// only the ranges that differ, by the key's index. Each side is read in one
// read-only REPEATABLE READ transaction. Rows are hashed as their text, with the session settings
// that shape text (time zone, date and float formats) fixed to the same
// values on both sides.
func Checksum(ctx context.Context, src, dest replication.DB, source, destTable replication.Table, cfg *ChecksumConfig) (*ChecksumResult, error) {
	var c ChecksumConfig
	if cfg != nil {
		c = *cfg
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	s, d, res, err := prepareChecksum(ctx, src, dest, source, destTable, &c)
	if err != nil {
		return nil, err
	}
	if c.Lock != nil {
		lock, err := replication.AcquireLock(ctx, c.Lock, destTable, c.LockWait)
		if err != nil {
			return nil, err
		}
		defer func() { _ = lock.Release(context.WithoutCancel(ctx)) }()
	}
	if s.tx, err = beginCheck(ctx, src); err != nil {
		return nil, fmt.Errorf("checksum %s: %w", source, err)
	}
	defer endCheck(ctx, s.tx)
	if d.tx, err = beginCheck(ctx, dest); err != nil {
		return nil, fmt.Errorf("checksum %s: %w", destTable, err)
	}
	defer endCheck(ctx, d.tx)

	if res.Hash, err = chooseHash(ctx, s.tx, d.tx, c.Hash); err != nil {
		return nil, err
	}
	s.hash, d.hash = res.Hash, res.Hash
	if c.Control != "" {
		o := &RowCountOptions{DestCondition: c.DestCondition, Control: c.Control, Lower: c.Lower, Upper: c.Upper}
		res.ControlBounds.Control = c.Control
		if err := res.ControlBounds.bounds(ctx, d.tx, &replication.TableInfo{Table: destTable}, *d.control, o); err != nil {
			return nil, err
		}
		s.bounds, d.bounds = &res.ControlBounds, &res.ControlBounds
		if res.DestMax == nil {
			// An empty destination: nothing bounds the source.
			s.control, d.control = nil, nil
		}
	}
	w := &csWalk{ctx: ctx, s: s, d: d, cfg: &c, res: res}
	if err := w.run(); err != nil {
		return nil, err
	}
	res.Match = len(res.Ranges) == 0
	return res, nil
}

// prepareChecksum describes both tables and settles the compared columns,
// the key and the sides' SQL.
func prepareChecksum(ctx context.Context, src, dest replication.DB, source, destTable replication.Table, c *ChecksumConfig) (s, d *csSide, res *ChecksumResult, err error) {
	srcInfo, err := replication.Describe(ctx, src, source)
	if err != nil {
		return nil, nil, nil, err
	}
	dstInfo, err := replication.Describe(ctx, dest, destTable)
	if err != nil {
		return nil, nil, nil, err
	}
	cols, err := srcInfo.Select(c.Columns)
	if err != nil {
		return nil, nil, nil, err
	}
	key := c.Key
	if len(key) == 0 {
		if key, err = srcInfo.KeyColumns(); err != nil {
			return nil, nil, nil, err
		}
	}
	if _, err := srcInfo.Select(key); err != nil {
		return nil, nil, nil, err
	}
	if err := replication.RequireColumns(source, cols, key, "key the checksum compares rows by"); err != nil {
		return nil, nil, nil, err
	}
	srcCond, err := replication.NormalizeCondition(source, c.Condition)
	if err != nil {
		return nil, nil, nil, err
	}
	dstCond, err := replication.NormalizeCondition(destTable, c.DestCondition)
	if err != nil {
		return nil, nil, nil, err
	}
	s = &csSide{table: source, cond: c.Condition, from: srcCond,
		cols: cols, oid: srcInfo.OID, sampleable: srcInfo.Kind == replication.KindTable || srcInfo.Kind == replication.KindMatView}
	d = &csSide{table: destTable, cond: c.DestCondition, from: dstCond,
		oid: dstInfo.OID, sampleable: dstInfo.Kind == replication.KindTable || dstInfo.Kind == replication.KindMatView}
	for _, sc := range cols {
		dc, ok := dstInfo.Column(sc.Name)
		if !ok {
			return nil, nil, nil, &replication.ColumnError{Table: destTable, Column: sc.Name, Err: replication.ErrColumnNotFound,
				Fix: "add the column to the destination, or leave it out of ChecksumConfig.Columns"}
		}
		d.cols = append(d.cols, dc)
	}
	for _, k := range key {
		sk, _ := srcInfo.Column(k)
		dk, _ := dstInfo.Column(k)
		if sk.Type != dk.Type {
			return nil, nil, nil, &replication.ColumnError{Table: destTable, Column: k, Err: replication.ErrBadOption,
				Fix: fmt.Sprintf("key columns must have the same type on both sides: %s on the source, %s here", sk.Type, dk.Type)}
		}
		coll, err := collatable(ctx, src, sk.TypeOID)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("checksum %s: %w", source, err)
		}
		s.keys, d.keys = append(s.keys, sk), append(d.keys, dk)
		s.collate, d.collate = append(s.collate, coll), append(d.collate, coll)
	}
	if c.Control != "" {
		sc, err := controlColumn(srcInfo, c.Control)
		if err != nil {
			return nil, nil, nil, err
		}
		dc, err := controlColumn(dstInfo, c.Control)
		if err != nil {
			return nil, nil, nil, err
		}
		s.control, d.control = &sc, &dc
	}
	res = &ChecksumResult{Source: source, Dest: destTable, Key: key}
	for _, col := range cols {
		res.Columns = append(res.Columns, col.Name)
	}
	return s, d, res, nil
}

// collatable reports whether values of type oid have a collation.
func collatable(ctx context.Context, db replication.DB, oid uint32) (bool, error) {
	var coll bool
	err := db.QueryRow(ctx, `SELECT typcollation <> 0 FROM pg_catalog.pg_type WHERE oid = $1`, oid).Scan(&coll)
	return coll, err
}

// hashProbe is hashed on both servers to learn whether they compute
// hashtextextended alike.
const hashProbe = "pgmimeo checksum probe: ÄÖÜ 0123456789"

func chooseHash(ctx context.Context, s, d pgx.Tx, want ChecksumHash) (ChecksumHash, error) {
	if want != HashAuto {
		return want, nil
	}
	var hs, hd int64
	if err := s.QueryRow(ctx, `SELECT hashtextextended($1, 0)`, hashProbe).Scan(&hs); err != nil {
		return "", fmt.Errorf("probe hash on source: %w", err)
	}
	if err := d.QueryRow(ctx, `SELECT hashtextextended($1, 0)`, hashProbe).Scan(&hd); err != nil {
		return "", fmt.Errorf("probe hash on destination: %w", err)
	}
	if hs == hd {
		return HashText, nil
	}
	return HashMD5, nil
}

// csWalk is one checksum's descent through the key space.
type csWalk struct {
	ctx  context.Context
	s, d *csSide
	cfg  *ChecksumConfig
	res  *ChecksumResult
}

// both runs f on the source and the destination at the same time.
func (w *csWalk) both(f func(s *csSide) error) error {
	done := make(chan error, 1)
	go func() { done <- f(w.s) }()
	errD := f(w.d)
	if errS := <-done; errS != nil {
		return errS
	}
	return errD
}

func (w *csWalk) fail(s *csSide, what string, err error) error {
	return checkQueryError(what, s.table, s.cond, err)
}

func (w *csWalk) run() error {
	level, err := w.top()
	if err != nil {
		return err
	}
	var found []*csRange
	rows := map[*csRange][]RowDiff{}
	for depth := 1; len(level) > 0; depth++ {
		var next []*csRange
		for _, r := range level {
			var parts []*csRange
			if max(r.src, r.dst) > int64(w.cfg.LeafRows) && depth < maxChecksumDepth {
				if parts, err = w.split(r); err != nil {
					return err
				}
			}
			if parts == nil {
				// Small enough, or its keys repeat so that it cannot be
				// split: list its rows.
				diffs, err := w.leaf(r)
				if err != nil {
					return err
				}
				if len(diffs) > 0 {
					found = append(found, r)
					rows[r] = diffs
				}
				continue
			}
			for _, p := range parts {
				if p.differs() {
					next = append(next, p)
				}
			}
		}
		if len(next) > w.cfg.MaxRanges {
			found = append(found, next...)
			w.res.Truncated = true
			break
		}
		level = next
	}
	slices.SortFunc(found, func(a, b *csRange) int { return slices.Compare(a.path, b.path) })
	for _, r := range found {
		diffs, leaf := rows[r]
		w.res.Ranges = append(w.res.Ranges, KeyRange{From: r.from, To: r.to, SourceRows: r.src, DestRows: r.dst,
			Leaf: leaf, Rows: diffs})
	}
	return nil
}

// top compares the table as a whole and returns the ranges to descend
// into. A large table is split at once by a sample of its keys, and its
// rows (those with NULL key parts apart) are counted by the same pass that
// hashes the parts; otherwise both sides are counted first.
func (w *csWalk) top() ([]*csRange, error) {
	var est [2]float64
	err := w.both(func(s *csSide) error {
		if !s.sampleable {
			est[w.index(s)] = -1
			return nil
		}
		return s.tx.QueryRow(w.ctx, `SELECT reltuples FROM pg_catalog.pg_class WHERE oid = $1`, s.oid).Scan(&est[w.index(s)])
	})
	if err != nil {
		return nil, fmt.Errorf("checksum %s: estimate rows: %w", w.res.Source, err)
	}
	by := w.s
	if est[1] > est[0] {
		by = w.d
	}
	if e := est[w.index(by)]; by.sampleable && e >= sampleAbove {
		whole := &csRange{nulls: true}
		pct := min(100, 100*float64(samplePerPart*w.cfg.Ranges)/e)
		bounds, err := w.boundaries(by, &csRange{}, w.cfg.Ranges, 0, pct)
		if err != nil {
			return nil, err
		}
		if len(bounds) > 0 {
			parts, nulls, err := w.hashParts(whole, bounds)
			if err != nil {
				return nil, err
			}
			w.nullRange(nulls)
			var next []*csRange
			for _, p := range parts {
				w.res.SourceRows += p.src
				w.res.DestRows += p.dst
				if p.differs() {
					next = append(next, p)
				}
			}
			return next, nil
		}
	}

	var nulls, counts [2]int64
	err = w.both(func(s *csSide) error {
		q, a := s.countSQL()
		i := w.index(s)
		if err := s.tx.QueryRow(w.ctx, q, a...).Scan(&counts[i], &nulls[i]); err != nil {
			return w.fail(s, "count rows", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	w.res.SourceRows, w.res.DestRows = counts[0], counts[1]
	w.nullRange(nulls)
	if counts[0] == 0 && counts[1] == 0 {
		return nil, nil
	}
	return []*csRange{{src: counts[0], dst: counts[1], srcH: "unknown"}}, nil
}

// nullRange reports the rows with NULL key parts, if there are any.
func (w *csWalk) nullRange(nulls [2]int64) {
	if nulls[0] > 0 || nulls[1] > 0 {
		w.res.SourceRows += nulls[0]
		w.res.DestRows += nulls[1]
		w.res.Ranges = append(w.res.Ranges, KeyRange{NullKey: true, SourceRows: nulls[0], DestRows: nulls[1]})
	}
}

func (w *csWalk) index(s *csSide) int {
	if s == w.s {
		return 0
	}
	return 1
}

// split divides r into parts by keys of the side with more rows in it, and
// counts and hashes each part on both sides; nil when r cannot be split.
func (w *csWalk) split(r *csRange) ([]*csRange, error) {
	by := w.s
	rows := r.src
	if r.dst > r.src {
		by, rows = w.d, r.dst
	}
	bounds, err := w.boundaries(by, r, w.cfg.Ranges, rows, 0)
	if err != nil || len(bounds) == 0 {
		return nil, err
	}
	parts, _, err := w.hashParts(r, bounds)
	return parts, err
}

// hashParts counts and hashes, on both sides at once, the parts that
// bounds split r into; with r.nulls it also returns the count of rows with
// NULL key parts on each side.
func (w *csWalk) hashParts(r *csRange, bounds [][]string) ([]*csRange, [2]int64, error) {
	var nulls [2]int64
	parts := make([]*csRange, len(bounds)+1)
	for i := range parts {
		p := &csRange{from: r.from, to: r.to, path: append(slices.Clip(r.path), i)}
		if i > 0 {
			p.from = bounds[i-1]
		}
		if i < len(bounds) {
			p.to = bounds[i]
		}
		parts[i] = p
	}
	w.res.RangesCompared += len(parts)
	err := w.both(func(s *csSide) error {
		q, a := s.bucketSQL(r, bounds)
		res, err := s.tx.Query(w.ctx, q, a...)
		if err != nil {
			return w.fail(s, "hash key ranges", err)
		}
		defer res.Close()
		for res.Next() {
			var b int
			var count int64
			var hash string
			if err := res.Scan(&b, &count, &hash); err != nil {
				return w.fail(s, "hash key ranges", err)
			}
			switch {
			case b < 0:
				nulls[w.index(s)] = count
			case s == w.s:
				parts[b].src, parts[b].srcH = count, hash
			default:
				parts[b].dst, parts[b].dstH = count, hash
			}
		}
		if err := res.Err(); err != nil {
			return w.fail(s, "hash key ranges", err)
		}
		return nil
	})
	return parts, nulls, err
}

// boundaries reads the keys that split r into about n parts on side s,
// from a sample of pct percent when pct > 0. Repeated keys (possible on a
// destination without a unique key) are dropped, as is a first key equal
// to the range's lower bound.
func (w *csWalk) boundaries(s *csSide, r *csRange, n int, rows int64, pct float64) ([][]string, error) {
	q, a := s.boundariesSQL(r, n, rows, pct)
	res, err := s.tx.Query(w.ctx, q, a...)
	if err != nil {
		return nil, w.fail(s, "split key range", err)
	}
	keys, err := pgx.CollectRows(res, pgx.RowTo[[]string])
	if err != nil {
		return nil, w.fail(s, "split key range", err)
	}
	out := keys[:0]
	for _, k := range keys {
		if len(out) > 0 && slices.Equal(out[len(out)-1], k) || r.from != nil && slices.Equal(r.from, k) {
			continue
		}
		out = append(out, k)
	}
	return out, nil
}

type csRow struct {
	key  []string
	hash string
}

// leaf lists the rows of r on both sides and returns those that differ.
func (w *csWalk) leaf(r *csRange) ([]RowDiff, error) {
	var lists [2][]csRow
	err := w.both(func(s *csSide) error {
		q, a := s.rowsSQL(r)
		res, err := s.tx.Query(w.ctx, q, a...)
		if err != nil {
			return w.fail(s, "list rows", err)
		}
		list, err := pgx.CollectRows(res, func(row pgx.CollectableRow) (csRow, error) {
			var c csRow
			err := row.Scan(&c.key, &c.hash)
			return c, err
		})
		if err != nil {
			return w.fail(s, "list rows", err)
		}
		lists[w.index(s)] = list
		return nil
	})
	if err != nil {
		return nil, err
	}
	r.src, r.dst = int64(len(lists[0])), int64(len(lists[1]))
	return diffRows(lists[0], lists[1]), nil
}

// diffRows compares two row lists in the same key order and returns the
// differing rows in that order (a destination row repeating a key comes
// where the repetition is noticed).
func diffRows(src, dst []csRow) []RowDiff {
	id := func(k []string) string { return strings.Join(k, "\x00") }
	inSrc := make(map[string]bool, len(src))
	for _, r := range src {
		inSrc[id(r.key)] = true
	}
	at := make(map[string][]int, len(dst))
	for x, r := range dst {
		at[id(r.key)] = append(at[id(r.key)], x)
	}
	used := make([]bool, len(dst))
	var out []RowDiff
	compare := func(s csRow, x int) {
		used[x] = true
		if s.hash != dst[x].hash {
			out = append(out, RowDiff{Key: s.key, Change: RowChanged})
		}
	}
	i, j := 0, 0
	for {
		for j < len(dst) && used[j] {
			j++
		}
		switch {
		case i == len(src) && j == len(dst):
			return out
		case i == len(src):
			out = append(out, RowDiff{Key: dst[j].key, Change: RowExtra})
			used[j] = true
		case j < len(dst) && id(src[i].key) == id(dst[j].key):
			compare(src[i], j)
			i++
		case j < len(dst) && !inSrc[id(dst[j].key)]:
			out = append(out, RowDiff{Key: dst[j].key, Change: RowExtra})
			used[j] = true
		default:
			// The source row is not next on the destination: it is missing,
			// or its twin comes later (a repeated key before it).
			twin := -1
			for _, x := range at[id(src[i].key)] {
				if !used[x] {
					twin = x
					break
				}
			}
			if twin < 0 {
				out = append(out, RowDiff{Key: src[i].key, Change: RowMissing})
			} else {
				compare(src[i], twin)
			}
			i++
		}
	}
}

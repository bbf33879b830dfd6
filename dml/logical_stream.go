package dml

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pglogrepl"

	"github.com/pgmimeo/pgmimeo/dml/internal/keyapply"
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

// change is what the stream says of a changed key: its state after the
// last change read.
type change struct {
	// row is the key's row after its last change, as fields of a COPY text
	// row of the replicated columns, when live: that change was an insert
	// or an update that carried every replicated column.
	row  string
	live bool
	// image is, for variants that keep deleted rows, the replicated
	// columns of the key's last deleted row as fields of a COPY text row;
	// deleted says whether there is one.
	image     string
	deleted   bool
	deletedAt time.Time
}

// takeDeletion gives c the last deletion of d, when d has one.
func (c *change) takeDeletion(d change) {
	if d.deleted {
		c.image, c.deleted, c.deletedAt = d.image, true, d.deletedAt
	}
}

// changeSet is the stream read by one refresh, folded by key. A key is its
// values as COPY text fields joined by tabs, which tells all keys apart
// (NULL is \N; backslashes, tabs and line ends in values are escaped).
type changeSet struct {
	// keys holds the keys folded since the last piece was loaded, whose
	// state the stream gives.
	keys map[string]change
	// fetch holds the keys whose rows are read from the source after the
	// stream (see logical_image.go), with their last deleted row, for
	// variants that keep deleted rows.
	fetch map[string]change
	// fetchAll: every key goes to fetch (a condition, or in one piece
	// after a TRUNCATE or past the cap on row images).
	fetchAll bool
	// imageBytes is the size of the keys and row images in keys, as they
	// were folded (values replaced since still count).
	imageBytes int64
	// truncatedAt is the commit time of a TRUNCATE read and not yet loaded
	// with a piece; zero when none.
	truncatedAt time.Time
	// changes is the number of changes of the table read.
	changes int64
	// next is the position after these changes.
	next streamState
	// more: a limit ended the read before the end of the WAL.
	more bool
}

// relation maps the stream's columns of the source table.
type relation struct {
	id uint32
	// key[i] and cols[i] are the stream column positions of the key
	// columns and of the replicated columns.
	key, cols []int
}

// folder folds the pgoutput messages of one read of a slot into a change
// set, for one table.
type folder struct {
	spec  *keyapply.TableSpec
	slot  string
	keeps bool
	// limit is the batch limit in changes of the table, 0 for none.
	limit int64
	// maxImages caps the bytes of row images held (see defaultMaxImageBytes).
	maxImages int64
	// chunk is the number of keys of a piece, 0 for one piece; emit loads
	// the keys folded, after the TRUNCATE read before them (zero for
	// none), as pieces and sends them to be applied.
	chunk int
	emit  func(keys map[string]change, truncate time.Time) error
	// from is the LSN the read starts from; partial, when not zero, is a
	// transaction of which the first partialDone changes are applied.
	from, partial pglogrepl.LSN
	partialDone   int64
	start         streamState
	cs            *changeSet
	// committed is the end of the last transaction read; zero when none.
	committed pglogrepl.LSN
	// full: the batch limit is reached.
	full bool

	rel      *relation
	xact     pglogrepl.LSN
	xactTime time.Time
	// idx counts the table's changes of the current transaction, of
	// which the first skip were applied already.
	idx, skip int64
	// oldCols and newCols are reused by the row decoder, scratch to
	// build keys.
	oldCols, newCols []tupleColumn
	scratch          []byte
}

// newFolder starts folding a read from state.
func newFolder(spec *keyapply.TableSpec, slot string, keeps bool, state streamState, limit, maxImages int64) (*folder, error) {
	from, err := state.lsn()
	if err != nil {
		return nil, err
	}
	f := &folder{spec: spec, slot: slot, keeps: keeps, limit: limit, maxImages: maxImages, start: state, from: from,
		cs: &changeSet{keys: map[string]change{}, fetch: map[string]change{}, fetchAll: spec.Condition != ""}}
	if state.Xact != "" {
		if f.partial, err = pglogrepl.ParseLSN(state.Xact); err != nil {
			return nil, fmt.Errorf("stream position %q: %w", state.Xact, err)
		}
		f.partialDone = state.XactDone
	}
	return f, nil
}

// add folds one pgoutput message, and reports whether the batch limit is
// reached: the read ends there, and the position records how many changes
// of the current transaction were read.
func (f *folder) add(data []byte) (full bool, err error) {
	switch {
	case isRowMessage(data):
		m, err := decodeRow(data, f.oldCols, f.newCols)
		if err != nil {
			return false, fmt.Errorf("decode slot %s: %w", f.slot, err)
		}
		f.oldCols, f.newCols = m.old, m.new
		if f.rel == nil || m.relation != f.rel.id || f.applied() {
			return false, nil
		}
		if err := f.foldRow(m); err != nil {
			return false, err
		}
		return f.counted(), nil
	case len(data) > 0 && data[0] == 'B':
		final, at, err := decodeBegin(data)
		if err != nil {
			return false, fmt.Errorf("decode slot %s: %w", f.slot, err)
		}
		f.begin(final, at)
		return false, nil
	case len(data) > 0 && data[0] == 'C':
		end, err := decodeCommit(data)
		if err != nil {
			return false, fmt.Errorf("decode slot %s: %w", f.slot, err)
		}
		f.committed = end
		return false, nil
	}
	lm, err := pglogrepl.Parse(data)
	if err != nil {
		return false, fmt.Errorf("decode slot %s: %w", f.slot, err)
	}
	switch m := lm.(type) {
	case *pglogrepl.RelationMessage:
		// A partitioned table's partitions are described too, though
		// their changes come under the table's own relation.
		if m.Namespace != f.spec.Source.Schema || m.RelationName != f.spec.Source.Name {
			return false, nil
		}
		f.rel, err = f.relation(m)
		return false, err
	case *pglogrepl.TruncateMessage:
		if f.rel == nil || !slices.Contains(m.RelationIDs, f.rel.id) || f.applied() {
			return false, nil
		}
		// The keys folded before it are applied before it; in one piece,
		// the TRUNCATE comes first and every row is read from the source.
		if f.chunk <= 0 {
			f.cs.dropImages()
		} else if len(f.cs.keys) > 0 {
			if err := f.emitFold(); err != nil {
				return false, err
			}
		}
		f.cs.truncatedAt = f.xactTime
		return f.counted(), nil
	}
	return false, nil
}

// begin starts a transaction whose commit record is at final.
func (f *folder) begin(final pglogrepl.LSN, at time.Time) {
	f.xact, f.xactTime, f.idx, f.skip = final, at, 0, 0
	switch {
	case f.partial != 0 && f.xact == f.partial:
		f.skip = f.partialDone
	case f.xact < f.from:
		// applied already (the slot's confirmed position is older when a
		// refresh ended between the destination commit and the
		// confirmation)
		f.skip = 1 << 62
	}
}

// applied numbers a change of the table in its transaction and reports
// whether an earlier refresh applied it.
func (f *folder) applied() bool {
	f.idx++
	return f.idx <= f.skip
}

// counted counts a change of the table folded, and reports whether the
// batch limit is reached.
func (f *folder) counted() bool {
	f.cs.changes++
	f.full = f.limit > 0 && f.cs.changes >= f.limit
	return f.full
}

// position returns the position after the messages folded: the end of
// the last transaction read whole (the start position when none), and
// when the batch limit was reached inside a transaction, how many of its
// changes were read.
func (f *folder) position() streamState {
	pos := f.start
	if f.committed != 0 {
		pos = streamState{LSN: f.committed.String()}
	}
	if f.full {
		pos = streamState{LSN: pos.LSN, Xact: f.xact.String(), XactDone: f.idx}
	}
	return pos
}

// relation checks a relation message of the source table and maps its
// columns. A replicated column the source no longer has is an error, as
// it is for the trigger capture (see the package documentation on column
// changes); a column added to the source is ignored.
func (f *folder) relation(m *pglogrepl.RelationMessage) (*relation, error) {
	rel := &relation{id: m.RelationID}
	pos := map[string]int{}
	for i, c := range m.Columns {
		pos[c.Name] = i
	}
	for _, name := range f.spec.ColumnNames() {
		i, ok := pos[name]
		if !ok {
			return nil, &replication.ColumnError{Table: f.spec.Source, Column: name, Err: replication.ErrColumnNotFound,
				Fix: "the source no longer has this replicated column (see the package documentation on column changes)"}
		}
		rel.cols = append(rel.cols, i)
	}
	for _, k := range f.spec.Key {
		rel.key = append(rel.key, pos[k])
	}
	return rel, nil
}

// foldRow adds a row message of the source table to the change set: the
// key of an old tuple (a delete, an update that changed the key, or any
// update under REPLICA IDENTITY FULL) loses its row, for variants that
// keep deleted rows a delete keeps the row's last values, and the key of a
// new tuple gets the tuple's values, or is read from the source when the
// tuple lacks some (an unchanged TOASTed value). A fold past the cap on
// row images is loaded.
func (f *folder) foldRow(m rowMessage) error {
	cs := f.cs
	if m.old != nil {
		key, err := f.fields(f.scratch[:0], m.old, f.rel.key)
		f.scratch = key
		if err != nil {
			return err
		}
		var img []byte
		deleted := m.kind == 'D' && f.keeps
		if deleted {
			// REPLICA IDENTITY FULL sends a deleted row whole, detoasted.
			if img, err = f.fields(nil, m.old, f.rel.cols); err != nil {
				return err
			}
		}
		if cs.fetchAll {
			c := cs.fetch[string(key)]
			if deleted {
				c.image, c.deleted, c.deletedAt = string(img), true, f.xactTime
			}
			cs.fetch[string(key)] = c
		} else {
			c, seen := cs.keys[string(key)]
			if !seen {
				cs.imageBytes += int64(len(key))
			}
			c.row, c.live = "", false
			if deleted {
				c.image, c.deleted, c.deletedAt = string(img), true, f.xactTime
				cs.imageBytes += int64(len(img))
				if fc, ok := cs.fetch[string(key)]; ok {
					fc.takeDeletion(c)
					cs.fetch[string(key)] = fc
				}
			}
			cs.keys[string(key)] = c
		}
	}
	if m.new != nil {
		key, err := f.fields(f.scratch[:0], m.new, f.rel.key)
		f.scratch = key
		if err != nil {
			return err
		}
		switch {
		case cs.fetchAll:
			if _, ok := cs.fetch[string(key)]; !ok {
				cs.fetch[string(key)] = change{}
			}
		case !carried(m.new, f.rel.cols):
			fc := cs.fetch[string(key)]
			if c, ok := cs.keys[string(key)]; ok {
				fc.takeDeletion(c)
				delete(cs.keys, string(key))
			}
			cs.fetch[string(key)] = fc
		default:
			row, err := f.fields(nil, m.new, f.rel.cols)
			if err != nil {
				return err
			}
			c, seen := cs.keys[string(key)]
			if !seen {
				cs.imageBytes += int64(len(key))
			}
			c.row, c.live = string(row), true
			cs.keys[string(key)] = c
			cs.imageBytes += int64(len(row))
		}
	}
	switch {
	case cs.imageBytes > f.maxImages && f.chunk <= 0:
		cs.dropImages()
	case cs.imageBytes > f.maxImages:
		return f.emitFold()
	}
	return nil
}

// emitFold loads the keys folded, after the TRUNCATE read before them, and
// starts a new fold.
func (f *folder) emitFold() error {
	if err := f.emit(f.cs.keys, f.cs.truncatedAt); err != nil {
		return err
	}
	f.cs.keys, f.cs.truncatedAt, f.cs.imageBytes = map[string]change{}, time.Time{}, 0
	return nil
}

// carried reports whether tuple t carries the values of columns pos (none
// is an unchanged TOASTed value).
func carried(t []tupleColumn, pos []int) bool {
	for _, p := range pos {
		if p < len(t) && t[p].kind == 'u' {
			return false
		}
	}
	return true
}

// dropImages sends every key of the set, and every key read from now on,
// to be read from the source, and frees the row images.
func (cs *changeSet) dropImages() {
	if cs.fetchAll {
		return
	}
	cs.fetchAll, cs.imageBytes = true, 0
	for k, c := range cs.keys {
		fc := cs.fetch[k]
		fc.takeDeletion(c)
		cs.fetch[k] = fc
	}
	cs.keys = map[string]change{}
}

var errUnchangedToast = errors.New("a value the stream did not carry (unchanged TOAST)")

// fields appends tuple columns pos to dst as COPY text fields joined by
// tabs.
func (f *folder) fields(dst []byte, t []tupleColumn, pos []int) ([]byte, error) {
	for i, p := range pos {
		if p >= len(t) {
			return dst, fmt.Errorf("decode slot %s: tuple has %d columns, want column %d", f.slot, len(t), p)
		}
		if i > 0 {
			dst = append(dst, '\t')
		}
		switch c := t[p]; c.kind {
		case 'n':
			dst = append(dst, `\N`...)
		case 't':
			dst = appendCopyText(dst, c.data)
		case 'u':
			return dst, fmt.Errorf("decode slot %s: %w", f.slot, errUnchangedToast)
		default:
			return dst, fmt.Errorf("decode slot %s: unexpected column kind %q", f.slot, c.kind)
		}
	}
	return dst, nil
}

// appendCopyText appends a text value to dst escaped for COPY text
// format.
func appendCopyText(dst, v []byte) []byte {
	if !bytes.ContainsAny(v, "\\\t\n\r") {
		return append(dst, v...)
	}
	for _, c := range v {
		switch c {
		case '\\':
			dst = append(dst, `\\`...)
		case '\t':
			dst = append(dst, `\t`...)
		case '\n':
			dst = append(dst, `\n`...)
		case '\r':
			dst = append(dst, `\r`...)
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

package export

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/pgmimeo/pgmimeo/replication"
)

// FormatVersion is the version of the batch format described in the
// package documentation; a batch of another version is refused.
const FormatVersion = 1

// Names of the files of a batch.
const (
	ManifestFile = "manifest.json"
	ColumnsFile  = "columns.csv"
	IDsFile      = "ids.copy"
	RowsFile     = "rows.copy"
)

// Manifest describes one batch: what it is for, where it stands in its
// stream, and its three data files.
type Manifest struct {
	// Format is FormatVersion.
	Format int `json:"format"`
	// Source is the source's name (ExporterConfig.SourceName).
	Source string `json:"source"`
	// Table is the exported table; Key its key column.
	Table replication.Table `json:"table"`
	Key   string            `json:"key"`
	// Target is the receiver the batch is for.
	Target Target `json:"target"`
	// Batch is the batch's number, counted per table and target from 1.
	Batch int64 `json:"batch"`
	// Since is the last batch the target had acknowledged when this one was
	// exported: the batch holds every change made after that one. 0 for a
	// full batch.
	Since int64 `json:"since"`
	// Full batches hold every row of the table: the importer replaces the
	// destination's rows with them.
	Full bool `json:"full"`
	// Snapshot is the source snapshot the batch was read in (pg_snapshot
	// text), for the record.
	Snapshot string `json:"snapshot"`
	// ExportedAt is when the batch was read.
	ExportedAt time.Time `json:"exported_at"`
	// Columns, IDs and Rows are the three data files.
	Columns File `json:"columns"`
	IDs     File `json:"ids"`
	Rows    File `json:"rows"`
}

// File is one data file of a batch.
type File struct {
	// Name is the file's name in the batch directory.
	Name string `json:"name"`
	// Rows is the number of lines (records) after a header, if any.
	Rows int64 `json:"rows"`
	// Bytes is its size.
	Bytes int64 `json:"bytes"`
	// SHA256 is the hex SHA-256 of its content.
	SHA256 string `json:"sha256"`
}

// Ack is an acknowledgement: the importer writes it once a batch is
// committed on the destination, and the exporter advances the target's
// position when it reads it.
type Ack struct {
	Source string            `json:"source"`
	Table  replication.Table `json:"table"`
	Target Target            `json:"target"`
	Batch  int64             `json:"batch"`
	// ManifestSHA256 is the hex SHA-256 of the applied batch's manifest.
	ManifestSHA256 string `json:"manifest_sha256"`
	// Dest is the destination table; AppliedAt when the batch committed
	// (or, for a batch applied before, when that was found).
	Dest      replication.Table `json:"dest"`
	AppliedAt time.Time         `json:"applied_at"`
}

// ReadManifest reads and checks the manifest of the batch in dir. It
// returns the manifest and the SHA-256 of its bytes.
func ReadManifest(dir string) (*Manifest, string, error) {
	raw, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if err != nil {
		fix := "ship the whole batch directory again"
		if errors.Is(err, fs.ErrNotExist) {
			fix = "the batch is incomplete: " + fix
		}
		return nil, "", &BatchError{Dir: dir, Err: ErrCorrupt, Detail: err.Error(), Fix: fix}
	}
	var m Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, "", &BatchError{Dir: dir, Err: ErrCorrupt, Detail: "manifest: " + err.Error(), Fix: "ship the whole batch directory again"}
	}
	if m.Format != FormatVersion {
		return nil, "", &BatchError{Dir: dir, Batch: m.Batch, Err: ErrCorrupt,
			Detail: fmt.Sprintf("format %d, this version reads %d", m.Format, FormatVersion), Fix: "import with the same pgmimeo version as the export"}
	}
	for _, f := range []File{m.Columns, m.IDs, m.Rows} {
		if f.Name == "" || filepath.Base(f.Name) != f.Name || f.Name == ManifestFile {
			return nil, "", &BatchError{Dir: dir, Batch: m.Batch, Err: ErrCorrupt, Detail: fmt.Sprintf("manifest names file %q", f.Name)}
		}
	}
	sum := sha256.Sum256(raw)
	return &m, hex.EncodeToString(sum[:]), nil
}

// verifiedReader reads a data file and checks, at its end, that its size
// and checksum are the manifest's.
type verifiedReader struct {
	dir  string
	want File
	m    *Manifest
	f    *os.File
	h    hashCounter
}

func openVerified(dir string, m *Manifest, want File) (*verifiedReader, error) {
	f, err := os.Open(filepath.Join(dir, want.Name))
	if err != nil {
		return nil, &BatchError{Dir: dir, Batch: m.Batch, Err: ErrCorrupt, Detail: err.Error(), Fix: "ship the whole batch directory again"}
	}
	return &verifiedReader{dir: dir, want: want, m: m, f: f, h: newHashCounter()}, nil
}

func (v *verifiedReader) Read(p []byte) (int, error) {
	n, err := v.f.Read(p)
	v.h.Write(p[:n])
	if err == io.EOF {
		if cerr := v.check(); cerr != nil {
			return n, cerr
		}
	}
	return n, err
}

// check compares what was read with the manifest.
func (v *verifiedReader) check() error {
	if v.h.n != v.want.Bytes || v.h.sum() != v.want.SHA256 {
		return &BatchError{Dir: v.dir, Batch: v.m.Batch, Err: ErrCorrupt,
			Detail: fmt.Sprintf("%s has %d bytes with SHA-256 %s, the manifest says %d bytes with %s",
				v.want.Name, v.h.n, v.h.sum(), v.want.Bytes, v.want.SHA256),
			Fix: "ship the whole batch directory again, or export again"}
	}
	return nil
}

func (v *verifiedReader) Close() error { return v.f.Close() }

// verifyFiles reads every data file of a batch and checks it.
func verifyFiles(dir string, m *Manifest) error {
	for _, f := range []File{m.Columns, m.IDs, m.Rows} {
		r, err := openVerified(dir, m, f)
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, r)
		r.Close()
		if err != nil {
			var be *BatchError
			if errors.As(err, &be) {
				return err
			}
			return &BatchError{Dir: dir, Batch: m.Batch, Err: ErrCorrupt, Detail: err.Error()}
		}
	}
	return nil
}

// hashCounter is a SHA-256 with a byte count.
type hashCounter struct {
	h interface {
		io.Writer
		Sum([]byte) []byte
	}
	n int64
}

func newHashCounter() hashCounter { return hashCounter{h: sha256.New()} }

func (c *hashCounter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return c.h.Write(p)
}

func (c *hashCounter) sum() string { return hex.EncodeToString(c.h.Sum(nil)) }

package export

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/pgmimeo/pgmimeo/replication"
)

// tmpPrefix starts the names of directories and files being written; a
// reader ignores them.
const tmpPrefix = ".pgmimeo-tmp-"

// batchDirName is the directory of batch n of a stream in the export
// directory: table, target and the batch number, zero-padded so that the
// names sort in batch order.
func batchDirName(stream string, n int64) string {
	return fmt.Sprintf("%s.%010d", stream, n)
}

// streamName names a table and target in file names.
func streamName(table replication.Table, t Target) string {
	return fileName(table.Schema+"."+table.Name) + "." + fileName(t.Database+"@"+t.Host)
}

// batchWriter writes a batch into a temporary directory and renames it into
// place when every file is durable.
type batchWriter struct {
	parent, tmp, final string
}

// newBatchWriter starts batch directory name in parent, removing what an
// earlier interrupted export of the same stream left (the caller holds the
// stream's lock).
func newBatchWriter(parent, stream, name string) (*batchWriter, error) {
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return nil, fmt.Errorf("make export directory: %w", err)
	}
	old, _ := filepath.Glob(filepath.Join(parent, tmpPrefix+stream+".*"))
	for _, o := range old {
		_ = os.RemoveAll(o)
	}
	tmp, err := os.MkdirTemp(parent, tmpPrefix+stream+".")
	if err != nil {
		return nil, fmt.Errorf("make batch directory: %w", err)
	}
	return &batchWriter{parent: parent, tmp: tmp, final: filepath.Join(parent, name)}, nil
}

// fileWriter is one data file being written: buffered, hashed, counted.
type fileWriter struct {
	f    *os.File
	buf  *bufio.Writer
	hash hashCounter
	name string
}

func (w *batchWriter) create(name string) (*fileWriter, error) {
	f, err := os.OpenFile(filepath.Join(w.tmp, name), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", name, err)
	}
	fw := &fileWriter{f: f, hash: newHashCounter(), name: name}
	fw.buf = bufio.NewWriterSize(writerFunc(func(p []byte) (int, error) {
		fw.hash.Write(p)
		return f.Write(p)
	}), 1<<20)
	return fw, nil
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func (fw *fileWriter) Write(p []byte) (int, error) { return fw.buf.Write(p) }

// finish flushes, syncs and closes the file and describes it.
func (fw *fileWriter) finish(rows int64) (File, error) {
	err := fw.buf.Flush()
	if err == nil {
		err = fw.f.Sync()
	}
	if cerr := fw.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return File{}, fmt.Errorf("write %s: %w", fw.name, err)
	}
	return File{Name: fw.name, Rows: rows, Bytes: fw.hash.n, SHA256: fw.hash.sum()}, nil
}

// close closes the file after a failure.
func (fw *fileWriter) close() { _ = fw.f.Close() }

// writeManifest writes the manifest last and returns its SHA-256.
func (w *batchWriter) writeManifest(m *Manifest) (string, error) {
	raw, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return "", fmt.Errorf("encode manifest: %w", err)
	}
	raw = append(raw, '\n')
	fw, err := w.create(ManifestFile)
	if err != nil {
		return "", err
	}
	if _, err := fw.Write(raw); err != nil {
		fw.close()
		return "", fmt.Errorf("write manifest: %w", err)
	}
	f, err := fw.finish(0)
	if err != nil {
		return "", err
	}
	return f.SHA256, nil
}

// commit makes the batch visible under its final name, durably.
func (w *batchWriter) commit() error {
	if err := syncDir(w.tmp); err != nil {
		return err
	}
	if err := os.Rename(w.tmp, w.final); err != nil {
		return fmt.Errorf("publish batch: %w", err)
	}
	return syncDir(w.parent)
}

// abort removes the temporary directory.
func (w *batchWriter) abort() { _ = os.RemoveAll(w.tmp) }

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}

// writeFileAtomic writes data to path through a synced temporary file and
// a rename.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, tmpPrefix+strings.TrimSuffix(filepath.Base(path), ".json")+".")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		_ = os.Remove(f.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	return syncDir(dir)
}

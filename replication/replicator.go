package replication

import "context"

// Kind names a replication method; it is stored in the catalog.
type Kind string

// The replication kinds.
const (
	KindSnapshot       Kind = "snapshot"
	KindTableReload    Kind = "table"
	KindInserterTime   Kind = "inserter_time"
	KindInserterSerial Kind = "inserter_serial"
	KindUpdaterTime    Kind = "updater_time"
	KindUpdaterSerial  Kind = "updater_serial"
	KindDML            Kind = "dml"
	KindLogDel         Kind = "logdel"
)

// Replicator is the contract every replication kind fulfils for one
// destination table.
type Replicator interface {
	// Dest returns the destination table.
	Dest() Table
	// Setup creates the destination (and any source objects), records the
	// job in the catalog, and pulls the data unless told not to. It fails
	// with ErrExists if the destination exists where it must not, and leaves
	// nothing behind on either side when it fails.
	Setup(ctx context.Context) error
	// Refresh brings the destination up to date with the source, under the
	// destination table's advisory lock.
	Refresh(ctx context.Context) (Result, error)
	// Destroy removes the job: catalog row, source objects, and the
	// destination table unless opts.KeepTable.
	Destroy(ctx context.Context, opts *DestroyOptions) error
}

// Spooler is a Replicator that reads its job's changes ahead of its
// refreshes, between them, so that a refresh only applies what was read
// (dml.Replicator with logical capture).
type Spooler interface {
	Replicator
	// Spool reads until ctx ends, and then returns nil; it returns an
	// error wrapping ErrLocked, without reading, when a Spool of the job
	// runs elsewhere, and any other error when it cannot go on.
	Spool(ctx context.Context) error
}

// DestroyOptions say what Destroy keeps. The zero value drops everything.
type DestroyOptions struct {
	// KeepTable keeps the destination data as a plain table.
	KeepTable bool
}

// Keep reports whether the destination table is to be kept.
func (o *DestroyOptions) Keep() bool { return o != nil && o.KeepTable }

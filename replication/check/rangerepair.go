package check

import (
	"context"

	"github.com/pgmimeo/pgmimeo/replication"
)

// RangeRepairer is a Replicator that can repair its destination where a
// checksum validation of its job (see ChecksumJob) found key ranges that
// differ from the source: it re-pulls just those ranges, in the kind's own
// consistent way (one source snapshot, one destination transaction, under
// the destination's refresh lock), so that they equal the source again.
// The scheduler package's Repair validates, repairs and validates again.
type RangeRepairer interface {
	replication.Replicator
	// RepairRanges re-pulls the ranges of diff, which must come from a
	// checksum of this job's source and destination, and reports the rows
	// it deleted and inserted. A diff that matched changes nothing.
	RepairRanges(ctx context.Context, diff *ChecksumResult) (replication.Result, error)
}

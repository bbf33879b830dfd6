package dml

import (
	"context"

	"github.com/pgmimeo/pgmimeo/replication"
)

var _ replication.LagReporter = (*Replicator)(nil)

// LagDetail implements replication.LagReporter: for the trigger capture
// the entries queued and not applied (Backlog); for the logical capture
// the WAL its slot retains and the WAL past its confirmed position.
func (r *Replicator) LagDetail(ctx context.Context) (replication.LagDetail, error) {
	var d replication.LagDetail
	if r.Capture() == CaptureLogical {
		h, err := r.SlotHealth(ctx)
		if err != nil {
			return d, err
		}
		d.RetainedWAL, d.UnconfirmedWAL = &h.RetainedBytes, &h.LagBytes
		return d, nil
	}
	qs, err := r.QueueStats(ctx)
	if err != nil {
		return d, err
	}
	n := qs.Entries()
	d.Backlog = &n
	return d, nil
}

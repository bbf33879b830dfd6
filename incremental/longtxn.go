package incremental

import (
	"context"
	"fmt"
	"time"
)

// longTxnSQL finds writing transactions (those with a transaction id) in the
// source database, other than ours, open longer than $1 microseconds by the
// source's clock. Sessions of other roles show no xact_start unless the
// connecting role has pg_read_all_stats (pg_monitor), so they go unseen
// without it.
const longTxnSQL = `SELECT count(*), COALESCE(extract(epoch FROM max(now() - xact_start)), 0)::float8,
	COALESCE((array_agg(pid ORDER BY xact_start))[1], 0)
FROM pg_catalog.pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_xid IS NOT NULL
  AND xact_start < now() - $1::bigint * interval '1 microsecond'`

// longTxnThreshold is the age past which an open source transaction may
// write rows that a pull has already passed by.
func (j *job) longTxnThreshold(t ControlType) time.Duration {
	switch {
	case j.cfg.LongTransaction > 0:
		return j.cfg.LongTransaction
	case t == Serial:
		return DefaultSerialLongTxn
	case j.cfg.LateCommit:
		return *j.cfg.Boundary + j.cfg.LookBack
	default:
		return *j.cfg.Boundary
	}
}

// longTxnWarning returns a warning when the source has a writing transaction
// open longer than the threshold, else "".
func (j *job) longTxnWarning(ctx context.Context, s *sourceRead, t ControlType) (string, error) {
	limit := j.longTxnThreshold(t)
	var n int64
	var oldest float64
	var pid int32
	if err := s.tx.QueryRow(ctx, longTxnSQL, limit.Microseconds()).Scan(&n, &oldest, &pid); err != nil {
		return "", fmt.Errorf("check source for long transactions: %w", err)
	}
	if n == 0 {
		return "", nil
	}
	age := time.Duration(oldest * float64(time.Second)).Round(time.Second)
	return fmt.Sprintf("%d source transaction(s) open longer than %v (oldest: pid %d, open %v): rows they write below the pulled range would be missed; raise the boundary or use late-commit mode",
		n, limit, pid, age), nil
}

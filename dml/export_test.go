package dml

import "context"

// Phase tells a test hook which backends are at work.
type Phase = phase

// SetHooks places fault-injection hooks in r, for tests: afterFetch runs
// when a chunk is staged, midApply after its apply statements and before
// the commit, afterCommit after the destination commit and before the
// source queue is cleaned up.
func SetHooks(r *Replicator, afterFetch, midApply, afterCommit func(ctx context.Context, p Phase) error) {
	r.hooks = hooks{afterFetch: afterFetch, midApply: midApply, afterCommit: afterCommit}
}

// Package jobctx carries, in a context, which database backend does the work
// of a logged job, so that replication (which sets it) and jobmon (which
// records it) agree without importing each other.
package jobctx

import "context"

type pidKey struct{}

// WithPID returns ctx carrying backend process id pid.
func WithPID(ctx context.Context, pid uint32) context.Context {
	return context.WithValue(ctx, pidKey{}, pid)
}

// PID returns the backend process id carried by ctx, 0 when none.
func PID(ctx context.Context) uint32 {
	pid, _ := ctx.Value(pidKey{}).(uint32)
	return pid
}

package dml

import "errors"

// ErrWritersOpen is wrapped by the error of a refresh or repull that gave
// up waiting for the transactions that were writing to the source table
// when it switched queue tables (see Options.DDLLockTimeout): until they
// end, the queue table they may still fill cannot be drained. Nothing is
// lost; the next refresh waits again.
var ErrWritersOpen = errors.New("source transactions that may still fill the closed queue table are open")

// Package advisory is the one place pgmimeo's advisory locks are taken,
// let go and looked for.
//
// Every pgmimeo advisory lock has two keys: a class, which says what the
// lock guards (the refresh lock of a destination table, a logical job's
// spool), and the hash of the destination table's quoted name. Two-key
// locks never collide with the single-key advisory locks of other
// software. Each is held by a session, not a transaction: the same session
// lets it go, or its end does.
package advisory

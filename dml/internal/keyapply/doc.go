// Package keyapply is the key-based apply machinery that dml, its
// LogDeletes variant (package logdel, through dml) and dml/export's
// importer share: a table's replicated shape ([TableSpec]), a batch of
// changed keys staged in a temporary table of one destination transaction
// ([Batch], [StageBatch]), and the set-wise statements that make the
// destination match it ([MergeRows], [ReplaceRows], [ReplaceRanges]).
//
// A [Variant] is what a kind built on the machinery changes: [Plain] removes
// the rows of deleted keys; [KeepDeleted] keeps them, stamped with their
// deletion time in [DeletedAtColumn]. The captures (trigger queue, logical
// decoding) and the job lifecycle stay in package dml.
//
// Replay by key is idempotent: applying a batch twice leaves the
// destination as applying it once, which is what lets a capture re-deliver
// after a crash.
package keyapply

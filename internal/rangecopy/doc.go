// Package rangecopy re-pulls key ranges of a replicated table: for each
// range it deletes the destination's rows and streams the source's rows of
// that range in with COPY, inside the caller's destination transaction and
// source snapshot. The ranges are those a checksum validation names: bounds
// are key values as text, in key column order, compared as rows (a row
// (a, b) is below (c, d) when a < c, or a = c and b < d), text keys under
// COLLATE "C" on both sides, so that the two databases' collations cannot
// disagree about which range a key falls in.
package rangecopy

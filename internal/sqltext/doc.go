// Package sqltext holds the rules for SQL text that pgmimeo builds around
// what a user typed: a row condition is checked to be a closed unit of SQL
// before it is placed in any statement, and statements that carry one are
// probed through the extended protocol, which accepts one statement only.
package sqltext

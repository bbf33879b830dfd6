// Package sqltext is pgmimeo's one SQL toolkit for text it builds:
//
//   - string literals that read the same whatever
//     standard_conforming_strings is (Literal), quoted identifiers and
//     identifier lists (Ident, IdentList);
//   - SQLSTATE predicates (SQLState, IsLockTimeout);
//   - the lock-timeout retry every statement that locks a live table runs
//     under (LockRetry);
//   - the rule for text a user typed: a row condition is checked to be one
//     closed piece of SQL before it is placed in any statement
//     (CheckCondition), and statements that carry one are probed through
//     the extended protocol, which accepts one statement only (Probe).
package sqltext

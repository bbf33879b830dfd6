package pgtest

import "testing"

// Victim is the table that InjectionConditions try to drop.
const Victim = "victim"

// InjectionConditions are row conditions that each try, in another way,
// to make the server run a second statement (DROP TABLE victim) wherever
// a condition is placed: after a WHERE, inside a COPY (…), in a subquery,
// with the rest of the caller's line commented out, with a quote that
// standard_conforming_strings=off reads differently, or after a join.
func InjectionConditions() []string {
	return []string{
		`true; DROP TABLE victim`,
		`true; DROP TABLE victim; SELECT 1 WHERE true`,
		`true; DROP TABLE victim; --`,
		`WHERE true; DROP TABLE victim; --`,
		`true) TO STDOUT; DROP TABLE victim; COPY (SELECT 1 --`,
		`true)) mimeo; DROP TABLE victim; --`,
		`true /* x */ ; DROP TABLE victim /* y */`,
		`true
; DROP TABLE victim;
SELECT 1 WHERE true`,
		`id::text <> 'a\'' ; DROP TABLE victim; SELECT '`,
		`, (SELECT 1) v WHERE true; DROP TABLE victim; --`,
	}
}

// CreateVictim creates the table InjectionConditions try to drop.
func CreateVictim(tb testing.TB, db Execer) {
	tb.Helper()
	MustExec(tb, db, `CREATE TABLE `+Victim+` (id int PRIMARY KEY)`)
	MustExec(tb, db, `INSERT INTO `+Victim+` VALUES (1), (2), (3)`)
}

// RequireVictim fails the test unless the victim table is still there
// with its rows, after condition was tried.
func RequireVictim(tb testing.TB, db Querier, condition string) {
	tb.Helper()
	rows := Rows(tb, db, `SELECT relname FROM pg_catalog.pg_class WHERE relname = '`+Victim+`' AND relkind = 'r'`)
	if len(rows) != 1 {
		tb.Fatalf("the condition %q reached the server as a statement: the victim table is gone", condition)
	}
	if got := Rows(tb, db, `SELECT id FROM `+Victim+` ORDER BY id`); len(got) != 3 {
		tb.Fatalf("the condition %q reached the server as a statement: victim rows %v", condition, got)
	}
}

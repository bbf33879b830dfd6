package main

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgmimeo/pgmimeo/replication"
)

// monitorGrants are what the plugin's role needs: to read the job log and
// run its check function, and to read the job catalog, whose jobs' lag it
// judges.
func monitorGrants(schema, role string) []string {
	s, r := replication.QuoteIdent(schema), replication.QuoteIdent(role)
	c := replication.QuoteIdent(replication.DefaultCatalogSchema)
	return []string{
		"GRANT USAGE ON SCHEMA " + s + " TO " + r,
		"GRANT SELECT ON ALL TABLES IN SCHEMA " + s + " TO " + r,
		"GRANT EXECUTE ON FUNCTION " + s + ".check_job_status() TO " + r,
		"GRANT USAGE ON SCHEMA " + c + " TO " + r,
		"GRANT SELECT ON " + c + ".jobs TO " + r,
	}
}

// createRole creates the plugin's login role with password and grants it
// what it needs on the destination, printing the statements.
func createRole(ctx context.Context, dest *pgxpool.Pool, role, password, schema string, stdout io.Writer) error {
	// The password is a parameter of format(), never part of the text.
	var create string
	if err := dest.QueryRow(ctx, `SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', $1::text, $2::text)`, role, password).Scan(&create); err != nil {
		return err
	}
	if _, err := dest.Exec(ctx, create); err != nil {
		return fmt.Errorf("create role %s: %w", replication.QuoteIdent(role), err)
	}
	fmt.Fprintf(stdout, "Created the check's login role; as a DBA you would run:\n  CREATE ROLE %s LOGIN PASSWORD '…';\n", replication.QuoteIdent(role))
	for _, g := range monitorGrants(schema, role) {
		if _, err := dest.Exec(ctx, g); err != nil {
			return fmt.Errorf("%s: %w", g, err)
		}
		fmt.Fprintf(stdout, "  %s;\n", g)
	}
	return nil
}

// dropRole removes the role and what was granted to it.
func dropRole(ctx context.Context, dest *pgxpool.Pool, role string, stdout io.Writer) {
	r := replication.QuoteIdent(role)
	if _, err := dest.Exec(ctx, "DROP OWNED BY "+r); err != nil {
		fmt.Fprintln(stdout, "cleanup: drop owned by role:", err)
		return
	}
	if _, err := dest.Exec(ctx, "DROP ROLE "+r); err != nil {
		fmt.Fprintln(stdout, "cleanup: drop role:", err)
		return
	}
	fmt.Fprintf(stdout, "Removed the role %s.\n", r)
}

// roleDSN is the destination DSN with the role as user and no password.
func roleDSN(dsn, role string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", fmt.Errorf("parse destination DSN: %s", replication.RedactDSN(dsn))
		}
		u.User = url.User(role)
		dsn = u.String()
	} else {
		dsn += " user='" + strings.ReplaceAll(strings.ReplaceAll(role, `\`, `\\`), `'`, `\'`) + "'"
	}
	return replication.StripPassword(dsn)
}

package snapshot

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/pgmimeo/pgmimeo/replication"
)

// privileges are what a destination relation carries that a rebuild must
// not lose: its owner, the privileges granted on it, its comment and (for a
// view) its options such as security_barrier.
type privileges struct {
	owner   string
	grants  []grant
	comment *string
	options []string
}

type grant struct {
	grantee   string // "" is PUBLIC
	privilege string
	grantable bool
}

const privilegesSQL = `
SELECT pg_catalog.pg_get_userbyid(c.relowner), c.reloptions, pg_catalog.obj_description(c.oid, 'pg_class')
FROM pg_catalog.pg_class c WHERE c.oid = $1::regclass`

const grantsSQL = `
SELECT CASE WHEN a.grantee = 0 THEN '' ELSE pg_catalog.pg_get_userbyid(a.grantee) END, a.privilege_type, a.is_grantable
FROM pg_catalog.pg_class c CROSS JOIN LATERAL pg_catalog.aclexplode(c.relacl) a
WHERE c.oid = $1::regclass AND a.grantee <> c.relowner
ORDER BY 1, 2`

// capturePrivileges reads the privileges of t; nil when t does not exist.
func capturePrivileges(ctx context.Context, tx pgx.Tx, t replication.Table) (*privileges, error) {
	kind, err := relKind(ctx, tx, t)
	if err != nil || kind == "" {
		return nil, err
	}
	var p privileges
	if err := tx.QueryRow(ctx, privilegesSQL, t.Sanitize()).Scan(&p.owner, &p.options, &p.comment); err != nil {
		return nil, fmt.Errorf("read privileges of %s: %w", t, err)
	}
	rows, err := tx.Query(ctx, grantsSQL, t.Sanitize())
	if err != nil {
		return nil, fmt.Errorf("read grants on %s: %w", t, err)
	}
	p.grants, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (grant, error) {
		var g grant
		err := r.Scan(&g.grantee, &g.privilege, &g.grantable)
		return g, err
	})
	if err != nil {
		return nil, fmt.Errorf("read grants on %s: %w", t, err)
	}
	return &p, nil
}

// apply gives relation t (kind "TABLE" or "VIEW") the captured privileges:
// the grants, the comment and, when it differs from the current role, the
// owner.
func (p *privileges) apply(ctx context.Context, tx pgx.Tx, kind string, t replication.Table) error {
	if p == nil {
		return nil
	}
	for _, g := range p.grants {
		to := "PUBLIC"
		if g.grantee != "" {
			to = replication.QuoteIdent(g.grantee)
		}
		// privilege_type is one of PostgreSQL's fixed keywords.
		stmt := "GRANT " + g.privilege + " ON TABLE " + t.Sanitize() + " TO " + to
		if g.grantable {
			stmt += " WITH GRANT OPTION"
		}
		if _, err := tx.Exec(ctx, stmt); err != nil {
			return privilegeError(t, fmt.Errorf("restore grant %s to %s on %s: %w", g.privilege, to, t, err),
				"the refreshing role must be able to grant what was granted on the destination")
		}
	}
	if p.comment != nil {
		var stmt string
		if err := tx.QueryRow(ctx, "SELECT pg_catalog.format('COMMENT ON %s %s IS %L', $1::text, $2::text, $3::text)",
			kind, t.Sanitize(), *p.comment).Scan(&stmt); err != nil {
			return fmt.Errorf("restore comment on %s: %w", t, err)
		}
		if _, err := tx.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("restore comment on %s: %w", t, err)
		}
	}
	var me string
	if err := tx.QueryRow(ctx, "SELECT current_user").Scan(&me); err != nil {
		return err
	}
	if p.owner != me {
		if _, err := tx.Exec(ctx, "ALTER "+kind+" "+t.Sanitize()+" OWNER TO "+replication.QuoteIdent(p.owner)); err != nil {
			return privilegeError(t, fmt.Errorf("restore owner %s of %s: %w", replication.QuoteIdent(p.owner), t, err),
				"the refreshing role must be a member of the destination's owner role")
		}
	}
	return nil
}

package dml_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/dml"
	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/logdel"
	"github.com/pgmimeo/pgmimeo/replication"
	"github.com/pgmimeo/pgmimeo/replication/check"
)

// TestSetupAgreesWithPreflight: for source roles lacking one thing or
// another, check.Preflight (given dml.Method and logdel.Method) calls a
// capture possible exactly when Setup succeeds, and when it does not,
// Setup's error is the one Preflight's report gives for the job's
// prerequisite. A publication of the table that exists already used to
// make Preflight say yes where Setup then refused the role.
func TestSetupAgreesWithPreflight(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		attrs []string
		// grants are run as a superuser, with %R the role and %D the
		// source database.
		grants []string
		cfg    dml.Config
		ok     bool
	}{
		{"trigger without TRIGGER", nil, []string{`GRANT SELECT ON accounts TO %R`, `CREATE SCHEMA mimeo_queue AUTHORIZATION %R`},
			dml.Config{}, false},
		{"trigger without a queue schema", nil, []string{`GRANT SELECT, TRIGGER ON accounts TO %R`}, dml.Config{}, false},
		{"trigger", nil, []string{`GRANT SELECT, TRIGGER ON accounts TO %R`, `CREATE SCHEMA mimeo_queue AUTHORIZATION %R`},
			dml.Config{}, true},
		{"logical without REPLICATION", nil, []string{`ALTER TABLE accounts OWNER TO %R`, `GRANT CREATE ON DATABASE %D TO %R`},
			dml.Config{Capture: dml.CaptureLogical}, false},
		{"logical without CREATE on the database", []string{"REPLICATION"}, []string{`ALTER TABLE accounts OWNER TO %R`},
			dml.Config{Capture: dml.CaptureLogical}, false},
		{"logical, published already, not the owner", []string{"REPLICATION"},
			[]string{`GRANT SELECT ON accounts TO %R`, `GRANT CREATE ON DATABASE %D TO %R`, `CREATE PUBLICATION theirs FOR TABLE accounts`},
			dml.Config{Capture: dml.CaptureLogical}, false},
		{"logical", []string{"REPLICATION"}, []string{`ALTER TABLE accounts OWNER TO %R`, `GRANT CREATE ON DATABASE %D TO %R`},
			dml.Config{Capture: dml.CaptureLogical}, true},
		{"logical, keeping deletes, default identity", []string{"REPLICATION"},
			[]string{`ALTER TABLE accounts OWNER TO %R`, `GRANT CREATE ON DATABASE %D TO %R`},
			dml.Config{Capture: dml.CaptureLogical, KeepDeleted: true}, false},
		{"logical, keeping deletes, identity full", []string{"REPLICATION"},
			[]string{`ALTER TABLE accounts OWNER TO %R`, `GRANT CREATE ON DATABASE %D TO %R`, `ALTER TABLE accounts REPLICA IDENTITY FULL`},
			dml.Config{Capture: dml.CaptureLogical, KeepDeleted: true}, true},
		{"logical, explicit key not the identity", []string{"REPLICATION"},
			[]string{`ALTER TABLE accounts OWNER TO %R`, `GRANT CREATE ON DATABASE %D TO %R`},
			dml.Config{Capture: dml.CaptureLogical, Key: []string{"owner"}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := pgtest.Setup(t)
			ctx := context.Background()
			role := b.CreateRole(t, tc.attrs...)
			pgtest.MustExec(t, b.Source, accountsDDL)
			pgtest.MustExec(t, b.Source, `INSERT INTO accounts SELECT g, 'o' || g, g, NULL, NULL, NULL FROM generate_series(1, 20) g`)
			for _, g := range tc.grants {
				g = strings.ReplaceAll(strings.ReplaceAll(g, "%R", replication.QuoteIdent(role.Name)), "%D", replication.QuoteIdent(b.SourceDB))
				pgtest.MustExec(t, b.Source, g)
			}
			src := pgtest.Pool(t, b.DSN(b.SourceDB, role))
			rep, err := check.Preflight(ctx, src, accounts, &check.PreflightConfig{Key: tc.cfg.Key, QueueSchema: dml.DefaultQueueSchema,
				Methods: []replication.Method{dml.Method, logdel.Method}})
			require.NoError(t, err)
			p := tc.cfg.Prerequisite()
			kr, found := rep.Kind(p.Kind, p.Logical)
			require.True(t, found)
			require.Equal(t, tc.ok, kr.Possible, "%+v", kr.Missing)

			cfg := tc.cfg
			r, err := dml.New(src, b.Dest, accounts, &cfg)
			require.NoError(t, err)
			err = r.Setup(ctx)
			if tc.ok {
				require.NoError(t, err)
				requireSame(t, b, `SELECT id, owner, balance FROM accounts`, `SELECT id, owner, balance FROM accounts`)
				require.NoError(t, r.Destroy(ctx, nil))
				return
			}
			require.Error(t, err)
			require.Equal(t, rep.RequireOf(p).Error(), err.Error())
			requireNothingMade(t, b, "public.accounts")
		})
	}
}

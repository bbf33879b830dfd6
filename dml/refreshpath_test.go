package dml_test

import (
	"context"
	"os"
	"testing"

	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/replication"
)

// TestRefreshPath sets up a trigger job, changes the source and refreshes
// once; with PGMIMEO_PATH_SETUP_ONLY set it stops before the refresh.
// .ci/refresh-path compares the coverage of both runs to list the files a
// refresh runs code in, from Refresh to the destination commit.
func TestRefreshPath(t *testing.T) {
	b := pgtest.Setup(t)
	ctx := context.Background()
	pgtest.MustExec(t, b.Source, `CREATE TABLE t (id int PRIMARY KEY, v text)`)
	pgtest.MustExec(t, b.Source, `INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 1000) g`)
	r := newDML(t, b, replication.T("public", "t"), nil)
	if err := r.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	pgtest.MustExec(t, b.Source, `UPDATE t SET v = 'x' WHERE id % 10 = 0; DELETE FROM t WHERE id % 7 = 0; INSERT INTO t VALUES (1001, 'new')`)
	if os.Getenv("PGMIMEO_PATH_SETUP_ONLY") != "" {
		return
	}
	refresh(t, r)
	requireSame(t, b, `SELECT * FROM t`, `SELECT * FROM t`)
}

package replication_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/replication"
)

func TestCatalogMigratesConcurrentlyAndOnce(t *testing.T) {
	t.Parallel()
	b := pgtest.Setup(t)
	ctx := context.Background()
	cat := replication.NewCatalog("Mimeo Catalog")
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); errs <- cat.Migrate(ctx, b.Dest) }()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.Equal(t, []string{"(1,001_catalog.sql)", "(2,002_scheduler.sql)", "(3,003_run_settings.sql)", "(4,004_lag.sql)", "(5,005_sync_lag.sql)"},
		pgtest.Rows(t, b.Dest, `SELECT version, name FROM "Mimeo Catalog".schema_version`))
}

func TestCatalogJobLifecycle(t *testing.T) {
	t.Parallel()
	b, cat := setupCatalog(t)
	ctx := context.Background()
	dest := replication.T("public", "Orders-Copy")

	_, err := cat.Job(ctx, b.Dest, dest)
	require.ErrorIs(t, err, replication.ErrNotManaged)

	j := &replication.Job{Kind: replication.KindSnapshot, SourceName: "default",
		SourceTable: replication.T("public", "orders"), Dest: dest,
		Config: json.RawMessage(`{"columns":["a"]}`), Period: 90 * time.Second}
	require.NoError(t, cat.CreateJob(ctx, b.Dest, j))
	require.NotZero(t, j.ID)
	err = cat.CreateJob(ctx, b.Dest, &replication.Job{Kind: replication.KindTableReload, SourceName: "default",
		SourceTable: replication.T("public", "other"), Dest: dest})
	require.ErrorIs(t, err, replication.ErrExists)

	// State written in a transaction that rolls back is not kept.
	tx, err := b.Dest.Begin(ctx)
	require.NoError(t, err)
	require.NoError(t, cat.SaveState(ctx, tx, j.ID, map[string]int{"last": 7}))
	require.NoError(t, tx.Rollback(ctx))
	got, err := cat.Job(ctx, b.Dest, dest)
	require.NoError(t, err)
	require.JSONEq(t, `{}`, string(got.State))
	require.Nil(t, got.LastOK)

	require.NoError(t, cat.RecordFailure(ctx, b.Dest, j.ID, errors.New("boom")))
	require.NoError(t, cat.RecordFailure(ctx, b.Dest, j.ID, errors.New("boom again")))
	got, err = cat.Job(ctx, b.Dest, dest)
	require.NoError(t, err)
	require.Equal(t, 2, got.Failures)
	require.Equal(t, "boom again", got.LastError)

	// Progress between runs is no run: the failures stay counted.
	require.NoError(t, cat.SaveProgress(ctx, b.Dest, j.ID, map[string]int{"spooled": 3}))
	got, err = cat.Job(ctx, b.Dest, dest)
	require.NoError(t, err)
	require.JSONEq(t, `{"spooled":3}`, string(got.State))
	require.Equal(t, 2, got.Failures)
	require.Equal(t, "boom again", got.LastError)
	require.Nil(t, got.LastOK)
	require.ErrorIs(t, cat.SaveProgress(ctx, b.Dest, j.ID+1000, map[string]int{}), replication.ErrNotManaged)

	require.NoError(t, cat.SaveState(ctx, b.Dest, j.ID, map[string]int{"last": 8}))
	got, err = cat.Job(ctx, b.Dest, dest)
	require.NoError(t, err)
	require.JSONEq(t, `{"last":8}`, string(got.State))
	require.JSONEq(t, `{"columns":["a"]}`, string(got.Config))
	require.Equal(t, 0, got.Failures)
	require.NotNil(t, got.LastOK)
	require.Equal(t, 90*time.Second, got.Period)
	require.Equal(t, replication.KindSnapshot, got.Kind)
	require.True(t, got.Enabled)

	all, err := cat.Jobs(ctx, b.Dest, nil)
	require.NoError(t, err)
	require.Len(t, all, 1)
	require.Equal(t, j.ID, all[0].ID)

	require.NoError(t, cat.DeleteJob(ctx, b.Dest, dest))
	require.ErrorIs(t, cat.DeleteJob(ctx, b.Dest, dest), replication.ErrNotManaged)
}

func TestCatalogStoresSourcesWithoutSecrets(t *testing.T) {
	t.Parallel()
	b, cat := setupCatalog(t)
	ctx := context.Background()
	require.NoError(t, cat.PutSource(ctx, b.Dest, "prod", "postgres://repl:s3cr3t@db.example:5432/app?sslmode=verify-full"))
	require.NoError(t, cat.PutSource(ctx, b.Dest, "kv", "host=db user=repl password='s3 cr3t' dbname=app"))
	require.NoError(t, cat.PutSource(ctx, b.Dest, "tls", "host=db user=repl sslkey=/k.pem sslpassword=s3keypass sslmode=verify-full"))
	require.NoError(t, cat.PutSource(ctx, b.Dest, "tlsurl", "postgres://repl@db/app?sslpassword=s3keypass&sslcert=/c.pem&password=s3pw"))
	dump := pgtest.Rows(t, b.Dest, `SELECT name, conninfo FROM mimeo.sources`)
	require.Equal(t, []string{
		`(kv,"host=db user=repl dbname=app")`,
		`(prod,postgres://repl@db.example:5432/app?sslmode=verify-full)`,
		`(tls,"host=db user=repl sslkey=/k.pem sslmode=verify-full")`,
		`(tlsurl,postgres://repl@db/app?sslcert=%2Fc.pem)`,
	}, dump)
	// A URL that does not parse is refused with an error that shows none of it.
	err := cat.PutSource(ctx, b.Dest, "bad", "postgres://repl:s3%zz@db/app")
	require.Error(t, err)
	require.NotContains(t, err.Error(), "s3")
	for _, row := range dump {
		require.NotContains(t, row, "s3")
	}
	// The stored DSN connects when the password comes from elsewhere.
	require.NoError(t, cat.PutSource(ctx, b.Dest, "default", b.SourceDSN))
	dsn, err := cat.Source(ctx, b.Dest, "default")
	require.NoError(t, err)
	require.NotContains(t, dsn, b.Server.Password)
	cfg, err := pgxpool.ParseConfig(dsn)
	require.NoError(t, err)
	cfg.ConnConfig.Password = b.Server.Password // the caller's secret
	p, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	defer p.Close()
	require.NoError(t, p.Ping(ctx))
}

// Jobs keeps what its filter asks for, in destination order, in a catalog
// schema whose name needs quoting; a source name is a value, never SQL.
func TestCatalogJobsFilter(t *testing.T) {
	t.Parallel()
	b := pgtest.Setup(t)
	ctx := context.Background()
	cat := replication.NewCatalog("Mimeo Catalog")
	require.NoError(t, cat.Migrate(ctx, b.Dest))
	for i, j := range []struct {
		source string
		kind   replication.Kind
	}{{"a", replication.KindSnapshot}, {"a", replication.KindDML}, {"b'; DROP TABLE x; --", replication.KindDML}, {"b", replication.KindLogDel}} {
		require.NoError(t, cat.CreateJob(ctx, b.Dest, &replication.Job{Kind: j.kind, SourceName: j.source,
			SourceTable: replication.T("public", "t"), Dest: replication.T("public", string(rune('z'-i)))}))
	}
	pgtest.MustExec(t, b.Dest, `UPDATE "Mimeo Catalog".jobs SET enabled = false WHERE dest_table = 'y'`)
	dests := func(f *replication.JobFilter) []string {
		jobs, err := cat.Jobs(ctx, b.Dest, f)
		require.NoError(t, err)
		out := []string{}
		for _, j := range jobs {
			out = append(out, j.Dest.Name)
		}
		return out
	}
	off, on := false, true
	require.Equal(t, []string{"w", "x", "y", "z"}, dests(nil))
	require.Equal(t, []string{"w", "x", "y", "z"}, dests(&replication.JobFilter{}))
	require.Equal(t, []string{"y", "z"}, dests(&replication.JobFilter{Source: "a"}))
	require.Equal(t, []string{"x"}, dests(&replication.JobFilter{Source: "b'; DROP TABLE x; --"}))
	require.Equal(t, []string{"x", "y"}, dests(&replication.JobFilter{Kinds: []replication.Kind{replication.KindDML}}))
	require.Equal(t, []string{"w", "x", "y"}, dests(&replication.JobFilter{Kinds: []replication.Kind{replication.KindDML, replication.KindLogDel}}))
	require.Equal(t, []string{"y"}, dests(&replication.JobFilter{Enabled: &off}))
	require.Equal(t, []string{"x"}, dests(&replication.JobFilter{Kinds: []replication.Kind{replication.KindDML}, Enabled: &on}))
	require.Equal(t, []string{}, dests(&replication.JobFilter{Source: "a", Kinds: []replication.Kind{replication.KindLogDel}}))
}

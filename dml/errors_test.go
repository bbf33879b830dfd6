package dml_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/dml"
	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/replication"
)

// requireNothingMade checks that a failed setup left no object behind.
func requireNothingMade(t *testing.T, b *pgtest.Bundle, dest string) {
	t.Helper()
	require.Equal(t, []string{}, pgtest.Rows(t, b.Source, `SELECT tgname FROM pg_trigger WHERE NOT tgisinternal`))
	require.Equal(t, []string{}, pgtest.Rows(t, b.Source,
		`SELECT relname FROM pg_class WHERE relnamespace = to_regnamespace('mimeo_queue') AND relname ~ '^q[0-9]'`))
	require.Equal(t, []string{}, pgtest.Rows(t, b.Source,
		`SELECT proname FROM pg_proc WHERE pronamespace = to_regnamespace('mimeo_queue')`))
	require.Equal(t, []string{}, pgtest.Rows(t, b.Dest, `SELECT 1 WHERE to_regclass($1) IS NOT NULL`, dest))
}

func TestSetupErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		ddl   []string
		table replication.Table
		cfg   dml.Config
		want  error
		// text the error must contain
		says string
	}{
		{name: "unknown table", table: replication.T("public", "nope"), want: replication.ErrTableNotFound},
		{name: "no key", ddl: []string{`CREATE TABLE t (a int, b text)`}, table: replication.T("public", "t"), want: replication.ErrNoKey},
		{name: "nullable unique index is no key", ddl: []string{`CREATE TABLE t (a int UNIQUE, b text)`}, table: replication.T("public", "t"), want: replication.ErrNoKey},
		{name: "explicit key not null", ddl: []string{`CREATE TABLE t (a int, b text)`}, table: replication.T("public", "t"),
			cfg: dml.Config{Key: []string{"a"}}, want: replication.ErrNoKey, says: "NOT NULL"},
		{name: "explicit key unknown", ddl: []string{`CREATE TABLE t (a int, b text)`}, table: replication.T("public", "t"),
			cfg: dml.Config{Key: []string{"x"}}, want: replication.ErrColumnNotFound},
		{name: "filter drops key", ddl: []string{`CREATE TABLE t (a int PRIMARY KEY, b text)`}, table: replication.T("public", "t"),
			cfg: dml.Config{Options: replication.Options{Columns: []string{"b"}}}, want: replication.ErrFilterDropsKey},
		{name: "filter unknown column", ddl: []string{`CREATE TABLE t (a int PRIMARY KEY, b text)`}, table: replication.T("public", "t"),
			cfg: dml.Config{Options: replication.Options{Columns: []string{"a", "zz"}}}, want: replication.ErrColumnNotFound},
		{name: "bad condition", ddl: []string{`CREATE TABLE t (a int PRIMARY KEY, b text)`}, table: replication.T("public", "t"),
			cfg: dml.Config{Options: replication.Options{Condition: "WHERE nosuchcol > 1"}}, want: replication.ErrBadCondition, says: "nosuchcol"},
		{name: "view", ddl: []string{`CREATE TABLE t (a int PRIMARY KEY)`, `CREATE VIEW v AS SELECT * FROM t`}, table: replication.T("public", "v"),
			want: replication.ErrBadOption, says: "view"},
		{name: "destination exists", ddl: []string{`CREATE TABLE t (a int PRIMARY KEY)`}, table: replication.T("public", "t"),
			cfg: dml.Config{Options: replication.Options{Dest: replication.T("public", "taken")}}, want: replication.ErrExists},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := pgtest.Setup(t)
			for _, s := range tc.ddl {
				pgtest.MustExec(t, b.Source, s)
			}
			pgtest.MustExec(t, b.Dest, `CREATE TABLE taken (x int)`)
			cfg := tc.cfg
			r := newDML(t, b, tc.table, &cfg)
			err := r.Setup(context.Background())
			require.ErrorIs(t, err, tc.want)
			var te *replication.TableError
			var ce *replication.ColumnError
			require.True(t, errors.As(err, &te) || errors.As(err, &ce), "typed error: %T %v", err, err)
			require.Contains(t, err.Error(), tc.table.Name)
			if tc.says != "" {
				require.Contains(t, err.Error(), tc.says)
			}
			if tc.name != "destination exists" {
				requireNothingMade(t, b, r.Dest().Sanitize())
			} else {
				requireNothingMade(t, b, `public.nothing`)
			}
		})
	}
}

func TestConfigErrors(t *testing.T) {
	t.Parallel()
	b := pgtest.Setup(t)
	for field, cfg := range map[string]dml.Config{
		"Config.ChunkSize":       {ChunkSize: -1},
		"Options.DDLLockTimeout": {Options: replication.Options{DDLLockTimeout: -time.Second}},
		"Config.QueueSchema":     {QueueSchema: "mimeo"},
		"Config.Key":             {Key: []string{"a", "a"}},
		"Options.BatchLimit":     {Options: replication.Options{BatchLimit: -5}},
		"Options.Dest":           {Options: replication.Options{Dest: replication.T("x", "")}},
		"Config.QueueSchema len": {QueueSchema: string(make([]byte, 64))},
		"Config.Logical.Spool":   {Logical: dml.LogicalConfig{Spool: true}}, // with the trigger capture
	} {
		_, err := dml.New(b.Source, b.Dest, accounts, &cfg)
		require.ErrorIs(t, err, replication.ErrBadOption, field)
		var oe *replication.OptionError
		require.ErrorAs(t, err, &oe)
		require.Contains(t, field, oe.Field)
	}
	_, err := dml.New(nil, b.Dest, accounts, nil)
	require.ErrorIs(t, err, replication.ErrBadOption)
	_, err = dml.New(b.Source, b.Dest, replication.T("", "x"), nil)
	require.ErrorIs(t, err, replication.ErrBadName)
}

func TestSetupTwice(t *testing.T) {
	t.Parallel()
	b := pgtest.Setup(t)
	ctx := context.Background()
	pgtest.MustExec(t, b.Source, accountsDDL)
	r := newDML(t, b, accounts, nil)
	require.NoError(t, r.Setup(ctx))
	err := r.Setup(ctx)
	require.ErrorIs(t, err, replication.ErrExists)
	// the first job's queue is the only one
	require.Len(t, pgtest.Rows(t, b.Source, `SELECT 1 FROM mimeo_queue.queues`), 1)
	require.Len(t, pgtest.Rows(t, b.Source, `SELECT 1 FROM pg_trigger WHERE tgrelid = 'accounts'::regclass`), 3)
}

func TestRefreshErrors(t *testing.T) {
	t.Parallel()
	b := pgtest.Setup(t)
	ctx := context.Background()
	pgtest.MustExec(t, b.Source, accountsDDL)
	r := newDML(t, b, accounts, nil)
	_, err := r.Refresh(ctx)
	require.ErrorIs(t, err, replication.ErrNotManaged)
	require.NoError(t, r.Setup(ctx))

	// Another refresh holds the lock: no wait fails at once, a wait waits.
	conn, err := b.Dest.Acquire(ctx)
	require.NoError(t, err)
	defer conn.Release()
	lock, err := replication.AcquireLock(ctx, conn, r.Dest(), nil)
	require.NoError(t, err)
	log := &memLog{}
	busy := newDML(t, b, accounts, &dml.Config{Options: replication.Options{JobLog: log}})
	res, err := busy.Refresh(ctx)
	require.ErrorIs(t, err, replication.ErrLocked)
	require.True(t, res.Skipped)
	require.Equal(t, []string{"Refresh DML: public.accounts WARNING"}, log.closed())
	waiting := newDML(t, b, accounts, &dml.Config{Options: replication.Options{LockWait: replication.Wait(10 * time.Second)}})
	go func() {
		// Released once the waiting refresh is seen waiting for it.
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			var waiters int
			if err := b.Dest.QueryRow(ctx, `SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`).Scan(&waiters); err != nil || waiters > 0 {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		_ = lock.Release(ctx)
	}()
	pgtest.MustExec(t, b.Source, `INSERT INTO accounts VALUES (1, 'a', 1, NULL, NULL, NULL)`)
	res, err = waiting.Refresh(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(1), res.Inserted)

	// A job of another kind.
	pgtest.MustExec(t, b.Dest, `UPDATE mimeo.jobs SET kind = 'logdel'`)
	_, err = r.Refresh(ctx)
	require.ErrorIs(t, err, replication.ErrWrongKind)
	pgtest.MustExec(t, b.Dest, `UPDATE mimeo.jobs SET kind = 'dml'`)

	// A replicated column cannot be dropped while the job captures it; when
	// it is dropped with CASCADE (which drops the update trigger), the
	// refresh says so.
	_, err = b.Source.Exec(ctx, `ALTER TABLE accounts DROP COLUMN note`)
	require.Error(t, err)
	pgtest.MustExec(t, b.Source, `ALTER TABLE accounts DROP COLUMN note CASCADE`)
	_, err = r.Refresh(ctx)
	require.ErrorIs(t, err, replication.ErrColumnNotFound)
	require.ErrorContains(t, err, "note")
	require.Equal(t, []string{"(1)"}, pgtest.Rows(t, b.Dest, `SELECT failures FROM mimeo.jobs`))
}

func TestSmallDestinationPool(t *testing.T) {
	t.Parallel()
	b := pgtest.Setup(t)
	ctx := context.Background()
	pgtest.MustExec(t, b.Source, accountsDDL)
	one, err := pgxpool.New(ctx, b.DestDSN+"&pool_max_conns=1")
	require.NoError(t, err)
	defer one.Close()
	_, err = dml.New(b.Source, one, accounts, nil)
	require.ErrorIs(t, err, replication.ErrBadOption)
	two, err := pgxpool.New(ctx, b.DestDSN+"&pool_max_conns=2")
	require.NoError(t, err)
	defer two.Close()
	r, err := dml.New(b.Source, two, accounts, &dml.Config{ChunkSize: 3})
	require.NoError(t, err)
	require.NoError(t, r.Setup(ctx))
	pgtest.MustExec(t, b.Source, `INSERT INTO accounts SELECT g, 'o', g, NULL, NULL, NULL FROM generate_series(1, 20) g`)
	res, err := r.Refresh(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(20), res.Inserted)
	requireSame(t, b, `SELECT * FROM accounts`, `SELECT * FROM accounts`)
}

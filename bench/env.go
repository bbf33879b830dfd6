package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgmimeo/pgmimeo/dml"
	"github.com/pgmimeo/pgmimeo/internal/copypipe"
	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/replication"
	"github.com/pgmimeo/pgmimeo/snapshot"
)

// mimeoControl is the mimeo extension's control file of the server
// binaries pgtest's local source runs.
func mimeoControl() string { return "/usr/share/postgresql/15/extension/mimeo.control" }

var dbSeq atomic.Int64

// env is one layout: a source and a destination database with both
// tools' jobs set up on pgbench_accounts.
type env struct {
	src, dst *pgxpool.Pool
	snap     *snapshot.Snapshot
	table    *snapshot.Table
	dml      *dml.Replicator
	logdel   *dml.Replicator
	rows     int
	drop     []func()
}

func (e *env) close() {
	for i := len(e.drop) - 1; i >= 0; i-- {
		e.drop[i]()
	}
}

// database makes a database on s and returns a pool on it.
func (e *env) database(ctx context.Context, s *pgtest.Server) (*pgxpool.Pool, string, error) {
	name := fmt.Sprintf("bench_%d_%d", time.Now().UnixNano()%1000000, dbSeq.Add(1))
	conn, err := s.Connect(ctx, "postgres")
	if err != nil {
		return nil, "", err
	}
	defer func() { _ = conn.Close(ctx) }()
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return nil, "", err
	}
	pool, err := pgxpool.New(ctx, s.AdminDSN(name))
	if err != nil {
		return nil, "", err
	}
	e.drop = append(e.drop, func() {
		pool.Close()
		if c, err := s.Connect(context.Background(), "postgres"); err == nil {
			_, _ = c.Exec(context.Background(), "DROP DATABASE "+name+" WITH (FORCE)")
			_ = c.Close(context.Background())
		}
	})
	return pool, name, nil
}

func prepare(ctx context.Context, srcServer, dstServer *pgtest.Server, rows int) (*env, error) {
	e := &env{rows: rows}
	var srcName string
	var err error
	if e.src, srcName, err = e.database(ctx, srcServer); err != nil {
		return e, err
	}
	if e.dst, _, err = e.database(ctx, dstServer); err != nil {
		return e, err
	}
	for _, sql := range []string{
		`CREATE TABLE pgbench_accounts (aid int NOT NULL, bid int, abalance int, filler char(84))`,
		fmt.Sprintf(`INSERT INTO pgbench_accounts SELECT g, (g - 1) / 100000 + 1, 0, '' FROM generate_series(1, %d) g`, rows),
		`ALTER TABLE pgbench_accounts ADD PRIMARY KEY (aid)`,
		`VACUUM ANALYZE pgbench_accounts`,
		// LogDeletes on a copy: mimeo names its queue after the source
		// table, so one table cannot carry mimeo's dml and logdel jobs.
		`CREATE TABLE pgbench_accounts_ld (LIKE pgbench_accounts INCLUDING ALL)`,
		`INSERT INTO pgbench_accounts_ld SELECT * FROM pgbench_accounts`,
		`VACUUM ANALYZE pgbench_accounts_ld`,
		`CREATE SCHEMA mimeo`, // mimeo's dml queue and trigger function on the source
	} {
		if _, err := e.src.Exec(ctx, sql); err != nil {
			return e, fmt.Errorf("source: %w", err)
		}
	}
	for _, sql := range []string{
		`CREATE EXTENSION dblink`,
		`CREATE SCHEMA mimeo`,
		`CREATE EXTENSION mimeo SCHEMA mimeo`,
		`CREATE SCHEMA m`, // mimeo's destinations
		`CREATE SCHEMA p`, // pgmimeo's
		`CREATE TABLE baseline (aid int NOT NULL, bid int, abalance int, filler char(84), PRIMARY KEY (aid))`,
	} {
		if _, err := e.dst.Exec(ctx, sql); err != nil {
			return e, fmt.Errorf("destination: %w", err)
		}
	}
	var id int
	if err := e.dst.QueryRow(ctx, `INSERT INTO mimeo.dblink_mapping_mimeo (data_source, username, pwd)
		VALUES (format('host=%s port=%s dbname=%s', $1::text, $2::text, $3::text), $4, $5) RETURNING data_source_id`,
		srcServer.Host, srcServer.Port, srcName, srcServer.User, srcServer.Password).Scan(&id); err != nil {
		return e, fmt.Errorf("mimeo's dblink mapping: %w", err)
	}
	for _, m := range []struct{ maker, src, dest string }{
		{"snapshot_maker", "public.pgbench_accounts", "m.snap"}, {"table_maker", "public.pgbench_accounts", "m.tbl"},
		{"dml_maker", "public.pgbench_accounts", "m.dml"}, {"logdel_maker", "public.pgbench_accounts_ld", "m.logdel"},
	} {
		if _, err := e.dst.Exec(ctx, `SELECT mimeo.`+m.maker+`($1, $2, $3, p_jobmon := false)`, m.src, id, m.dest); err != nil {
			return e, fmt.Errorf("mimeo.%s: %w", m.maker, err)
		}
	}
	accounts := replication.T("public", "pgbench_accounts")
	if e.snap, err = snapshot.New(e.src, e.dst, accounts, &snapshot.Config{Options: replication.Options{Dest: replication.T("p", "snap")}}); err != nil {
		return e, err
	}
	if e.table, err = snapshot.NewTable(e.src, e.dst, accounts, &snapshot.TableConfig{Options: replication.Options{Dest: replication.T("p", "tbl")}}); err != nil {
		return e, err
	}
	if e.dml, err = dml.New(e.src, e.dst, accounts, &dml.Config{Options: replication.Options{Dest: replication.T("p", "dml")}}); err != nil {
		return e, err
	}
	if e.logdel, err = dml.New(e.src, e.dst, replication.T("public", "pgbench_accounts_ld"),
		&dml.Config{KeepDeleted: true, Options: replication.Options{Dest: replication.T("p", "logdel")}}); err != nil {
		return e, err
	}
	for _, s := range []interface{ Setup(context.Context) error }{e.snap, e.table, e.dml, e.logdel} {
		if err := s.Setup(ctx); err != nil {
			return e, err
		}
	}
	return e, nil
}

// timed runs f and returns how long it took.
func timed(f func() error) (time.Duration, error) {
	start := time.Now()
	err := f()
	return time.Since(start), err
}

// measure runs the workloads runs times each, the tools taking turns.
func (e *env) measure(ctx context.Context, layout string, changes, runs int, out io.Writer) ([]result, error) {
	baseline := func() error {
		if _, err := e.dst.Exec(ctx, `TRUNCATE baseline`); err != nil {
			return err
		}
		sc, err := e.src.Acquire(ctx)
		if err != nil {
			return err
		}
		defer sc.Release()
		dc, err := e.dst.Acquire(ctx)
		if err != nil {
			return err
		}
		defer dc.Release()
		st, err := copypipe.Copy(ctx, sc.Conn().PgConn(), dc.Conn().PgConn(), copypipe.Spec{
			Query: `SELECT * FROM pgbench_accounts`, Dest: "baseline", Binary: true})
		if err == nil && st.Rows != int64(e.rows) {
			err = fmt.Errorf("baseline copied %d rows of %d", st.Rows, e.rows)
		}
		return err
	}
	exec := func(sql string) func() error {
		return func() error { _, err := e.dst.Exec(ctx, sql); return err }
	}
	refresh := func(r replication.Replicator) func() error {
		return func() error { _, err := r.Refresh(ctx); return err }
	}
	full := []struct {
		name                    string
		pgmimeo, mimeo, copyFun func() error
	}{
		{"P1 snapshot", refresh(e.snap), exec(`SELECT mimeo.refresh_snap('m.snap', p_jobmon := false, p_check_stats := false)`), baseline},
		{"P1 table", refresh(e.table), exec(`SELECT mimeo.refresh_table('m.tbl', p_jobmon := false)`), baseline},
	}
	var results []result
	for _, w := range full {
		r := result{Layout: layout, Workload: w.name}
		for i := range runs {
			steps := []struct {
				into *[]time.Duration
				f    func() error
			}{{&r.Pgmimeo, w.pgmimeo}, {&r.Mimeo, w.mimeo}, {&r.Baseline, w.copyFun}}
			for k := range steps {
				s := steps[(k+i)%len(steps)]
				d, err := timed(s.f)
				if err != nil {
					return results, fmt.Errorf("%s: %w", w.name, err)
				}
				*s.into = append(*s.into, d)
			}
		}
		fmt.Fprintf(out, "  %s done\n", w.name)
		results = append(results, r)
	}

	// P3 (dml) and P3b (logdel): single-row updates, deletes and inserts,
	// scattered, captured by both tools' triggers; each run changes keys of
	// its own.
	keys := func(offset int) string {
		return fmt.Sprintf(`SELECT (g * 7919) %% %d * 10 + %d FROM generate_series(0, %d) g`, changes, offset, changes-1)
	}
	each := func(table, stmt string, offset int) string {
		return `DO $$ DECLARE k int; BEGIN FOR k IN ` + keys(offset) + ` LOOP ` + strings.ReplaceAll(stmt, "{table}", table) + `; END LOOP; END $$`
	}
	workloads := []struct {
		name string
		sql  func(table string, run int) string
	}{
		{"updates", func(t string, _ int) string {
			return each(t, `UPDATE {table} SET abalance = abalance + 1 WHERE aid = k`, 7)
		}},
		{"deletes", func(t string, run int) string { return each(t, `DELETE FROM {table} WHERE aid = k`, 3+run%7) }},
		{"inserts", func(t string, run int) string {
			return fmt.Sprintf(`INSERT INTO %s SELECT %d + g, 1, 0, '' FROM generate_series(1, %d) g`, t, e.rows+(run+1)*changes*10, changes)
		}},
	}
	for _, job := range []struct {
		label, table, mimeoSQL string
		r                      *dml.Replicator
	}{
		{"P3 dml", "pgbench_accounts", `SELECT mimeo.refresh_dml('m.dml', p_jobmon := false)`, e.dml},
		{"P3b logdel", "pgbench_accounts_ld", `SELECT mimeo.refresh_logdel('m.logdel', p_jobmon := false)`, e.logdel},
	} {
		for _, w := range workloads {
			r := result{Layout: layout, Workload: fmt.Sprintf("%s, %d %s", job.label, changes, w.name)}
			for i := range runs {
				if _, err := e.src.Exec(ctx, w.sql(job.table, i)); err != nil {
					return results, fmt.Errorf("%s: %w", r.Workload, err)
				}
				steps := []struct {
					into *[]time.Duration
					f    func() error
				}{{&r.Pgmimeo, refresh(job.r)}, {&r.Mimeo, exec(job.mimeoSQL)}}
				for k := range steps {
					s := steps[(k+i)%len(steps)]
					d, err := timed(s.f)
					if err != nil {
						return results, fmt.Errorf("%s: %w", r.Workload, err)
					}
					*s.into = append(*s.into, d)
				}
				if err := e.same(ctx, job.table); err != nil {
					return results, fmt.Errorf("%s: %w", r.Workload, err)
				}
			}
			results = append(results, r)
		}
		fmt.Fprintf(out, "  %s done\n", job.label)
	}
	return results, nil
}

// same checks that both tools' destinations of table hold the source's
// live rows: their number and balances (rows a logdel job keeps deleted
// left out).
func (e *env) same(ctx context.Context, table string) error {
	var src, p, m string
	if err := e.src.QueryRow(ctx, `SELECT count(*) || '/' || sum(abalance) FROM `+table).Scan(&src); err != nil {
		return err
	}
	pt, mt, live := "p.dml", "m.dml", ""
	if table == "pgbench_accounts_ld" {
		pt, mt, live = "p.logdel", "m.logdel", " WHERE mimeo_source_deleted IS NULL"
	}
	if err := e.dst.QueryRow(ctx, `SELECT (SELECT count(*) || '/' || sum(abalance) FROM `+pt+live+`),
		(SELECT count(*) || '/' || sum(abalance) FROM `+mt+live+`)`).Scan(&p, &m); err != nil {
		return err
	}
	if p != src || m != src {
		return fmt.Errorf("rows/balances differ: source %s, pgmimeo %s, mimeo %s", src, p, m)
	}
	return nil
}

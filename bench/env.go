package main

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgmimeo/pgmimeo/dml"
	"github.com/pgmimeo/pgmimeo/incremental"
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
	logical  *dml.Replicator
	// spooler is the logical job, polling often, for Spool.
	spooler  *dml.Replicator
	ins      *incremental.Inserter
	upd      *incremental.Updater
	rows     int
	mimeo    bool // mimeo's jobs are set up beside pgmimeo's
	inserted int  // keys the P3 inserts have taken, past 2 × rows
	mimeoID  int  // mimeo's dblink mapping to the source
	// srcServer and srcName are the source database, for pgbench.
	srcServer *pgtest.Server
	srcName   string
	drop      []func()
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

// setup says what prepare makes beside pgbench_accounts and its pgmimeo
// jobs.
type setup struct {
	mimeo bool // mimeo's jobs beside pgmimeo's
	p2    bool // the incremental tables and jobs
}

func prepare(ctx context.Context, srcServer, dstServer *pgtest.Server, rows int, with setup) (*env, error) {
	e := &env{rows: rows, mimeo: with.mimeo, srcServer: srcServer}
	var srcName string
	var err error
	if e.src, srcName, err = e.database(ctx, srcServer); err != nil {
		return e, err
	}
	e.srcName = srcName
	if e.dst, _, err = e.database(ctx, dstServer); err != nil {
		return e, err
	}
	source := []string{
		`CREATE TABLE pgbench_accounts (aid int NOT NULL, bid int, abalance int, filler char(84))`,
		fmt.Sprintf(`INSERT INTO pgbench_accounts SELECT g, (g - 1) / 100000 + 1, 0, '' FROM generate_series(1, %d) g`, rows),
		`ALTER TABLE pgbench_accounts ADD PRIMARY KEY (aid)`,
		`VACUUM ANALYZE pgbench_accounts`,
		// LogDeletes and logical capture on copies: mimeo names its queue
		// after the source table, so one table cannot carry mimeo's dml and
		// logdel jobs; and the logical job's table has no trigger.
		`CREATE TABLE pgbench_accounts_ld (LIKE pgbench_accounts INCLUDING ALL)`,
		`INSERT INTO pgbench_accounts_ld SELECT * FROM pgbench_accounts`,
		`VACUUM ANALYZE pgbench_accounts_ld`,
		`CREATE TABLE pgbench_accounts_lg (LIKE pgbench_accounts INCLUDING ALL)`,
		`INSERT INTO pgbench_accounts_lg SELECT * FROM pgbench_accounts`,
		`VACUUM ANALYZE pgbench_accounts_lg`,
		// The unrelated writes of the logical capture's second workload.
		`CREATE TABLE noise (id int PRIMARY KEY, v int NOT NULL, pad text NOT NULL)`,
		`INSERT INTO noise SELECT g, 0, repeat('x', 80) FROM generate_series(1, 100000) g`,
	}
	if with.p2 {
		source = append(source, p2Tables(rows)...)
	}
	if with.mimeo {
		source = append(source, `CREATE SCHEMA mimeo`) // mimeo's dml queue and trigger function on the source
	}
	for _, sql := range source {
		if _, err := e.src.Exec(ctx, sql); err != nil {
			return e, fmt.Errorf("source: %w", err)
		}
	}
	dest := []string{`CREATE SCHEMA p`, // pgmimeo's destinations
		`CREATE TABLE baseline (aid int NOT NULL, bid int, abalance int, filler char(84), PRIMARY KEY (aid))`}
	if with.mimeo {
		dest = append(dest, `CREATE EXTENSION dblink`, `CREATE SCHEMA mimeo`, `CREATE EXTENSION mimeo SCHEMA mimeo`,
			`CREATE SCHEMA m`) // mimeo's destinations
	}
	for _, sql := range dest {
		if _, err := e.dst.Exec(ctx, sql); err != nil {
			return e, fmt.Errorf("destination: %w", err)
		}
	}
	if with.mimeo {
		if err := e.mimeoJobs(ctx, srcServer, srcName, with.p2); err != nil {
			return e, err
		}
	}
	return e, e.pgmimeoJobs(ctx, with.p2)
}

// mimeoJobs makes mimeo's jobs, logging off, through a dblink mapping to
// the source.
func (e *env) mimeoJobs(ctx context.Context, srcServer *pgtest.Server, srcName string, p2 bool) error {
	if err := e.dst.QueryRow(ctx, `INSERT INTO mimeo.dblink_mapping_mimeo (data_source, username, pwd)
		VALUES (format('host=%s port=%s dbname=%s', $1::text, $2::text, $3::text), $4, $5) RETURNING data_source_id`,
		srcServer.Host, srcServer.Port, srcName, srcServer.User, srcServer.Password).Scan(&e.mimeoID); err != nil {
		return fmt.Errorf("mimeo's dblink mapping: %w", err)
	}
	makers := []string{
		`SELECT mimeo.snapshot_maker('public.pgbench_accounts', $1, 'm.snap', p_jobmon := false)`,
		`SELECT mimeo.table_maker('public.pgbench_accounts', $1, 'm.tbl', p_jobmon := false)`,
		`SELECT mimeo.dml_maker('public.pgbench_accounts', $1, 'm.dml', p_jobmon := false)`,
		`SELECT mimeo.logdel_maker('public.pgbench_accounts_ld', $1, 'm.logdel', p_jobmon := false)`,
	}
	if p2 {
		makers = append(makers,
			`SELECT mimeo.inserter_maker('public.p2_ins', 'time', 'mtime', $1, p_dest_table := 'm.ins', p_jobmon := false)`,
			`SELECT mimeo.updater_maker('public.p2_upd', 'time', 'mtime', $1, p_dest_table := 'm.upd', p_jobmon := false)`)
	}
	for _, m := range makers {
		if _, err := e.dst.Exec(ctx, m, e.mimeoID); err != nil {
			return fmt.Errorf("%s: %w", m, err)
		}
	}
	return nil
}

// pgmimeoJobs sets up pgmimeo's jobs.
func (e *env) pgmimeoJobs(ctx context.Context, p2 bool) error {
	accounts := replication.T("public", "pgbench_accounts")
	dest := func(name string) replication.Options { return replication.Options{Dest: replication.T("p", name)} }
	var err error
	if e.snap, err = snapshot.New(e.src, e.dst, accounts, &snapshot.Config{Options: dest("snap")}); err != nil {
		return err
	}
	if e.table, err = snapshot.NewTable(e.src, e.dst, accounts, &snapshot.TableConfig{Options: dest("tbl")}); err != nil {
		return err
	}
	if e.dml, err = dml.New(e.src, e.dst, accounts, &dml.Config{Options: dest("dml")}); err != nil {
		return err
	}
	if e.logdel, err = dml.New(e.src, e.dst, replication.T("public", "pgbench_accounts_ld"),
		&dml.Config{KeepDeleted: true, Options: dest("logdel")}); err != nil {
		return err
	}
	if e.logical, err = dml.New(e.src, e.dst, replication.T("public", "pgbench_accounts_lg"),
		&dml.Config{Capture: dml.CaptureLogical, Options: dest("logical")}); err != nil {
		return err
	}
	if e.spooler, err = dml.New(e.src, e.dst, replication.T("public", "pgbench_accounts_lg"),
		&dml.Config{Capture: dml.CaptureLogical, Options: dest("logical"), Logical: dml.LogicalConfig{PollInterval: 100 * time.Millisecond}}); err != nil {
		return err
	}
	jobs := []replication.Replicator{e.snap, e.table, e.dml, e.logdel, e.logical}
	if p2 {
		if e.ins, err = incremental.NewInserter(e.src, e.dst, replication.T("public", "p2_ins"),
			&incremental.Config{Control: "mtime", Options: dest("ins")}); err != nil {
			return err
		}
		if e.upd, err = incremental.NewUpdater(e.src, e.dst, replication.T("public", "p2_upd"),
			&incremental.Config{Control: "mtime", Options: dest("upd")}); err != nil {
			return err
		}
		jobs = append(jobs, e.ins, e.upd)
	}
	for _, j := range jobs {
		if err := j.Setup(ctx); err != nil {
			return err
		}
	}
	// The logical job is destroyed before the source database is dropped:
	// its slot would keep the database in use.
	e.drop = append(e.drop, func() { _ = e.logical.Destroy(context.Background(), nil) })
	return nil
}

// turns runs the steps of one run of a workload, the tools taking turns
// going first (run i starts with step i mod n), adding each time to its
// list.
func turns(run int, steps ...step) error {
	for k := range steps {
		s := steps[(k+run)%len(steps)]
		if s.f == nil {
			continue
		}
		if s.before != nil {
			if err := s.before(); err != nil {
				return err
			}
		}
		start := time.Now()
		if err := s.f(); err != nil {
			return err
		}
		*s.into = append(*s.into, time.Since(start))
	}
	return nil
}

// step is one timed call of a run; before, when not nil, runs untimed
// just before it.
type step struct {
	into   *[]time.Duration
	f      func() error
	before func() error
}

// settle returns a call that runs VACUUM, then CHECKPOINT, in the source
// and the destination database, so that a step neither does the vacuum
// that autovacuum owes a table the step before rewrote (mimeo's pulls
// insert without FREEZE) nor leaves its own writes to the next.
func (e *env) settle(ctx context.Context) func() error {
	cp := e.checkpoint(ctx)
	return func() error {
		for _, db := range []*pgxpool.Pool{e.src, e.dst} {
			if _, err := db.Exec(ctx, `VACUUM`); err != nil {
				return fmt.Errorf("vacuum: %w", err)
			}
		}
		return cp()
	}
}

// checkpoint returns a call that runs CHECKPOINT on the source and the
// destination server, so that a step neither waits for the writes of the
// step before it nor leaves its own to the next.
func (e *env) checkpoint(ctx context.Context) func() error {
	return func() error {
		for _, db := range []*pgxpool.Pool{e.src, e.dst} {
			if _, err := db.Exec(ctx, `CHECKPOINT`); err != nil {
				return fmt.Errorf("checkpoint: %w", err)
			}
		}
		return nil
	}
}

// exec returns a call that runs sql on the destination.
func (e *env) exec(ctx context.Context, sql string) func() error {
	return func() error { _, err := e.dst.Exec(ctx, sql); return err }
}

// refresh returns a call that refreshes r.
func refresh(ctx context.Context, r replication.Replicator) func() error {
	return func() error { _, err := r.Refresh(ctx); return err }
}

// ifMimeo returns f when mimeo's jobs are set up, else nil (no step).
func (e *env) ifMimeo(f func() error) func() error {
	if !e.mimeo {
		return nil
	}
	return f
}

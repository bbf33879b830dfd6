package main

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"golang.org/x/sync/errgroup"

	"github.com/pgmimeo/pgmimeo/internal/copypipe"
)

// copyPipe streams every row of pgbench_accounts into dest in a
// destination transaction that first runs before (and may run after),
// with COPY … FREEZE when freeze, over a binary COPY pipe.
func (e *env) copyPipe(ctx context.Context, dest string, freeze bool, before, after []string) error {
	sc, err := e.src.Acquire(ctx)
	if err != nil {
		return err
	}
	defer sc.Release()
	tx, err := e.dst.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	for _, sql := range before {
		if _, err := tx.Exec(ctx, sql); err != nil {
			return err
		}
	}
	st, err := copypipe.Copy(ctx, sc.Conn().PgConn(), tx.Conn().PgConn(), copypipe.Spec{
		Query: `SELECT * FROM pgbench_accounts`, Dest: dest, Binary: true, Freeze: freeze})
	if err != nil {
		return err
	}
	if st.Rows != int64(e.rows) {
		return fmt.Errorf("copied %d rows of %d", st.Rows, e.rows)
	}
	for _, sql := range after {
		if _, err := tx.Exec(ctx, sql); err != nil {
			return err
		}
	}
	return tx.Commit(ctx)
}

// baseline is the same-run floor of a full pull: a binary COPY pipe into a
// table that keeps its primary key (emptied untimed first).
func (e *env) baseline(ctx context.Context) func() error {
	return func() error {
		if _, err := e.dst.Exec(ctx, `TRUNCATE baseline`); err != nil {
			return err
		}
		return e.copyPipe(ctx, "baseline", false, nil, nil)
	}
}

// fullPulls measures P1: pgmimeo's snapshot and table refreshes, mimeo's,
// and the COPY pipe, interleaved, after an untimed round of each, each
// after a VACUUM and a CHECKPOINT of both databases.
func (e *env) fullPulls(ctx context.Context, layout string, runs int) ([]result, error) {
	full := []struct {
		name                    string
		pgmimeo, mimeo, copyFun func() error
	}{
		{"P1 snapshot", refresh(ctx, e.snap), e.ifMimeo(e.exec(ctx, `SELECT mimeo.refresh_snap('m.snap', p_jobmon := false, p_check_stats := false)`)), e.baseline(ctx)},
		{"P1 table", refresh(ctx, e.table), e.ifMimeo(e.exec(ctx, `SELECT mimeo.refresh_table('m.tbl', p_jobmon := false)`)), e.baseline(ctx)},
	}
	var results []result
	cp := e.settle(ctx)
	for _, w := range full {
		r := result{Layout: layout, Workload: w.name, Units: e.rows}
		// One untimed round first: the first pull after the table was made
		// meets autovacuum, hint bits and cold caches.
		for _, f := range []func() error{w.pgmimeo, w.mimeo, w.copyFun} {
			if f != nil {
				if err := f(); err != nil {
					return results, fmt.Errorf("%s: %w", w.name, err)
				}
			}
		}
		for i := range runs {
			if err := turns(i, step{&r.Pgmimeo, w.pgmimeo, cp}, step{&r.Mimeo, w.mimeo, cp}, step{&r.Baseline, w.copyFun, cp}); err != nil {
				return results, fmt.Errorf("%s: %w", w.name, err)
			}
		}
		results = append(results, r)
	}
	return results, nil
}

// loadOptions measures the ways a full pull can be made, each alone into a
// fresh bare table "opt" of the destination, against the COPY pipe into a
// table that keeps its key, interleaved.
func (e *env) loadOptions(ctx context.Context, layout string, runs int) ([]result, error) {
	const bare = `CREATE TABLE opt (aid int NOT NULL, bid int, abalance int, filler char(84))`
	async := "SET LOCAL synchronous_commit = off"
	key := "ALTER TABLE opt ADD PRIMARY KEY (aid)"
	fresh := func(keyed bool) error {
		ddl := bare
		if keyed {
			ddl = `CREATE TABLE opt (aid int PRIMARY KEY, bid int, abalance int, filler char(84))`
		}
		_, err := e.dst.Exec(ctx, `DROP TABLE IF EXISTS opt; `+ddl)
		return err
	}
	// Each option's table is made untimed before its run: the options
	// below truncate it in their transaction, as a refresh does, so that
	// COPY … FREEZE is allowed.
	options := []struct {
		name  string
		keyed bool
		f     func() error
	}{
		{"keep the key during the load (COPY FREEZE)", true, func() error {
			return e.copyPipe(ctx, "opt", true, []string{async, "TRUNCATE opt"}, nil)
		}},
		{"load bare (COPY FREEZE), no key", false, func() error {
			return e.copyPipe(ctx, "opt", true, []string{async, "TRUNCATE opt"}, nil)
		}},
		{"load bare, then build the key", false, func() error {
			return e.copyPipe(ctx, "opt", true, []string{async, "TRUNCATE opt"}, []string{key})
		}},
		{"load bare, build the key, ANALYZE (what pgmimeo does)", false, func() error {
			return e.copyPipe(ctx, "opt", true, []string{async, "TRUNCATE opt"}, []string{key, "ANALYZE opt"})
		}},
		{"… key built with maintenance_work_mem 512MB, no parallel workers", false, func() error {
			return e.copyPipe(ctx, "opt", true, []string{async, "TRUNCATE opt", "SET LOCAL maintenance_work_mem = '512MB'",
				"SET LOCAL max_parallel_maintenance_workers = 0"}, []string{key})
		}},
		{"… key built with maintenance_work_mem 512MB, 2 parallel workers", false, func() error {
			return e.copyPipe(ctx, "opt", true, []string{async, "TRUNCATE opt", "SET LOCAL maintenance_work_mem = '512MB'",
				"SET LOCAL max_parallel_maintenance_workers = 2"}, []string{key})
		}},
		{"2 parallel COPY streams over ctid ranges of one exported snapshot, then the key", false, func() error {
			return e.parallelLoad(ctx, 2, key)
		}},
	}
	var results []result
	for _, o := range options {
		r := result{Layout: layout, Workload: o.name, Units: e.rows}
		for i := range runs {
			if err := fresh(o.keyed); err != nil {
				return results, err
			}
			if err := turns(i, step{&r.Pgmimeo, o.f, e.settle(ctx)}, step{&r.Baseline, e.baseline(ctx), e.settle(ctx)}); err != nil {
				return results, fmt.Errorf("%s: %w", o.name, err)
			}
		}
		results = append(results, r)
	}
	_, err := e.dst.Exec(ctx, `DROP TABLE IF EXISTS opt`)
	return results, err
}

// parallelLoad copies pgbench_accounts into the bare table opt with n COPY
// pipes, each over a ctid range of the source read in one exported
// snapshot and each into a destination transaction of its own (one
// transaction cannot be shared by sessions), then builds the key with
// after.
func (e *env) parallelLoad(ctx context.Context, n int, after string) error {
	var pages int
	if err := e.src.QueryRow(ctx, `SELECT pg_relation_size('pgbench_accounts') / current_setting('block_size')::int`).Scan(&pages); err != nil {
		return err
	}
	lead, err := e.src.Acquire(ctx)
	if err != nil {
		return err
	}
	defer lead.Release()
	ltx, err := lead.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return err
	}
	defer func() { _ = ltx.Rollback(context.WithoutCancel(ctx)) }()
	var snap string
	if err := ltx.QueryRow(ctx, `SELECT pg_export_snapshot()`).Scan(&snap); err != nil {
		return err
	}
	var g errgroup.Group
	copied := make([]int64, n)
	for i := range n {
		lo, hi := pages*i/n, pages*(i+1)/n
		if i == n-1 {
			hi = 1 << 31 // rows past the size read above
		}
		g.Go(func() error {
			sc, err := e.src.Acquire(ctx)
			if err != nil {
				return err
			}
			defer sc.Release()
			stx, err := sc.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
			if err != nil {
				return err
			}
			defer func() { _ = stx.Rollback(context.WithoutCancel(ctx)) }()
			if _, err := stx.Exec(ctx, `SET TRANSACTION SNAPSHOT '`+snap+`'`); err != nil {
				return err
			}
			dc, err := e.dst.Acquire(ctx)
			if err != nil {
				return err
			}
			defer dc.Release()
			dtx, err := dc.Begin(ctx)
			if err != nil {
				return err
			}
			defer func() { _ = dtx.Rollback(context.WithoutCancel(ctx)) }()
			if _, err := dtx.Exec(ctx, "SET LOCAL synchronous_commit = off"); err != nil {
				return err
			}
			st, err := copypipe.Copy(ctx, sc.Conn().PgConn(), dc.Conn().PgConn(), copypipe.Spec{Binary: true, Dest: "opt",
				Query: fmt.Sprintf(`SELECT * FROM pgbench_accounts WHERE ctid >= '(%d,0)'::tid AND ctid < '(%d,0)'::tid`, lo, hi)})
			if err != nil {
				return err
			}
			copied[i] = st.Rows
			return dtx.Commit(ctx)
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	var total int64
	for _, c := range copied {
		total += c
	}
	if total != int64(e.rows) {
		return fmt.Errorf("parallel streams copied %d rows of %d", total, e.rows)
	}
	tx, err := e.dst.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if _, err := tx.Exec(ctx, "SET LOCAL synchronous_commit = off"); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, after); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/pgmimeo/pgmimeo/dml"
)

// Labels of P3's workloads, which logdelSection pairs by.
const (
	p3Label  = "P3 dml"
	p3bLabel = "P3b logdel"
)

// accountsCols are pgbench_accounts' columns, in order.
const accountsCols = "aid, bid, abalance, filler"

// changeSet is one P3 workload: how run run changes table.
type changeSet struct {
	name string
	sql  func(table string, run int) string
}

// changeSets are P3's workloads of changes single-row changes, scattered
// over the table's rows (rows ≥ 10 × changes): updates, deletes (each run
// deleting keys of its own) and inserts (of keys never used before).
func (e *env) changeSets(changes int) []changeSet {
	stride := e.rows / changes
	keys := func(offset int) string {
		return fmt.Sprintf(`SELECT (g::bigint * 7919) %% %d * %d + %d FROM generate_series(0, %d) g`, changes, stride, offset, changes-1)
	}
	each := func(table, stmt string, offset int) string {
		return `DO $$ DECLARE k int; BEGIN FOR k IN ` + keys(offset) + ` LOOP ` + strings.ReplaceAll(stmt, "{table}", table) + `; END LOOP; END $$`
	}
	return []changeSet{
		{"updates", func(t string, _ int) string {
			return each(t, `UPDATE {table} SET abalance = abalance + 1 WHERE aid = k`, 7)
		}},
		{"deletes", func(t string, run int) string { return each(t, `DELETE FROM {table} WHERE aid = k`, 1+run%6) }},
		{"inserts", func(t string, _ int) string {
			from := e.rows*2 + e.inserted
			e.inserted += changes
			return fmt.Sprintf(`INSERT INTO %s SELECT %d + g, 1, 0, '' FROM generate_series(1, %d) g`, t, from, changes)
		}},
	}
}

// queues measures P3 (dml) and P3b (logdel): each run makes the changes to
// both jobs' source tables and analyses the source database, then the four
// refreshes (pgmimeo's and mimeo's, of dml and of logdel) take turns, so
// that logdel/dml is a ratio of the same minutes as pgmimeo/mimeo is;
// after each run every destination holds its source's live rows. The
// results are the dml workloads, then the logdel ones.
func (e *env) queues(ctx context.Context, layout string, changes, runs int) ([]result, error) {
	type queueJob struct {
		label, table, mimeoSQL, p, m, live string
		r                                  *dml.Replicator
	}
	jobs := []queueJob{
		{p3Label, "pgbench_accounts", `SELECT mimeo.refresh_dml('m.dml', p_jobmon := false)`, "p.dml", "m.dml", "", e.dml},
		{p3bLabel, "pgbench_accounts_ld", `SELECT mimeo.refresh_logdel('m.logdel', p_jobmon := false)`, "p.logdel", "m.logdel",
			" WHERE mimeo_source_deleted IS NULL", e.logdel},
	}
	byJob := make([][]result, len(jobs))
	for _, w := range e.changeSets(changes) {
		rs := make([]result, len(jobs))
		for k, job := range jobs {
			rs[k] = result{Layout: layout, Workload: fmt.Sprintf("%s, %d %s", job.label, changes, w.name), Units: changes}
		}
		for i := range runs {
			for k, job := range jobs {
				if _, err := e.src.Exec(ctx, w.sql(job.table, i)); err != nil {
					return nil, fmt.Errorf("%s: %w", rs[k].Workload, err)
				}
			}
			// Untimed, as autovacuum would have done: without statistics
			// on its queue, mimeo's statement that marks the queue
			// processed can be planned as a nested loop over the whole
			// queue for each entry (one run of 100,000 updates was still
			// marking them after 19 minutes).
			if _, err := e.src.Exec(ctx, `ANALYZE`); err != nil {
				return nil, err
			}
			cp := e.checkpoint(ctx)
			var steps []step
			for k, job := range jobs {
				steps = append(steps, step{into: &rs[k].Pgmimeo, f: refresh(ctx, job.r), before: cp},
					step{into: &rs[k].Mimeo, f: e.ifMimeo(e.exec(ctx, job.mimeoSQL)), before: cp})
			}
			if err := turns(i, steps...); err != nil {
				return nil, fmt.Errorf("P3, %d %s: %w", changes, w.name, err)
			}
			for k, job := range jobs {
				if err := e.sameRows(ctx, job.table, job.p, job.m, accountsCols, "aid", job.live); err != nil {
					return nil, fmt.Errorf("%s: %w", rs[k].Workload, err)
				}
			}
		}
		for k := range jobs {
			byJob[k] = append(byJob[k], rs[k])
		}
	}
	return slices.Concat(byJob...), nil
}

// logicalCapture measures pgmimeo's dml with logical capture on the P3 workloads
// (pgbench_accounts_lg, a copy of pgbench_accounts given the same changes),
// and on the updates again with ten times their WAL written to another
// table before the refresh; each workload also with Spool reading the slot
// while the changes are made. Each run refreshes the job untimed first, so
// the slot starts where the changes do. trigger gives the trigger
// capture's timings of the same workloads (from queues), by workload.
func (e *env) logicalCapture(ctx context.Context, layout string, changes, runs int, trigger map[string][]result) ([]result, error) {
	var results []result
	sets := e.changeSets(changes)
	sets = append(sets, changeSet{"updates +10× unrelated WAL", sets[0].sql})
	for _, w := range sets {
		name := fmt.Sprintf("%s, %d %s", p3Label, changes, w.name)
		r := result{Layout: layout, Workload: name, Units: changes}
		spooled := result{Layout: layout, Workload: name + ", spooled", Units: changes}
		if t := trigger[fmt.Sprintf("%s, %d %s", p3Label, changes, strings.TrimSuffix(w.name, " +10× unrelated WAL"))]; len(t) > 0 {
			r.Baseline, spooled.Baseline = t[0].Pgmimeo, t[0].Pgmimeo
		}
		for i := range runs {
			// Each run deletes keys of its own.
			if err := e.logicalRun(ctx, w, 2*i, &r, false); err != nil {
				return results, fmt.Errorf("%s: %w", name, err)
			}
			if err := e.logicalRun(ctx, w, 2*i+1, &spooled, true); err != nil {
				return results, fmt.Errorf("%s, spooled: %w", name, err)
			}
		}
		results = append(results, r, spooled)
	}
	return results, nil
}

// logicalRun is run i of workload w of the logical capture, into r (the
// runs of one workload need numbers of their own: see changeSets). With
// spool, Spool reads the slot from before the changes are made until the
// timed refresh has ended; r.Spool gets how long after the writes it took
// to confirm their end on the slot (the refresh waits for that, untimed,
// and then applies the spool alone, as it does while Spool keeps up).
func (e *env) logicalRun(ctx context.Context, w changeSet, i int, r *result, spool bool) error {
	if _, err := e.logical.Refresh(ctx); err != nil {
		return err
	}
	var from string
	if err := e.src.QueryRow(ctx, `SELECT pg_current_wal_insert_lsn()::text`).Scan(&from); err != nil {
		return err
	}
	var spoolErr chan error
	if spool {
		sctx, stop := context.WithCancel(ctx)
		spoolErr = make(chan error, 1)
		go func() { spoolErr <- e.spooler.Spool(sctx) }()
		defer func() {
			stop()
			<-spoolErr
		}()
	}
	if _, err := e.src.Exec(ctx, w.sql("pgbench_accounts_lg", i)); err != nil {
		return err
	}
	if strings.HasSuffix(w.name, "WAL") {
		if err := e.unrelatedWAL(ctx, from, 10); err != nil {
			return err
		}
	}
	if spool {
		start := time.Now()
		if err := e.spoolCaughtUp(ctx, spoolErr); err != nil {
			return err
		}
		r.Spool = append(r.Spool, time.Since(start))
	}
	if err := turns(0, step{into: &r.Pgmimeo, f: refresh(ctx, e.logical), before: e.checkpoint(ctx)}); err != nil {
		return err
	}
	return e.sameRows(ctx, "pgbench_accounts_lg", "p.logical", "", accountsCols, "aid", "")
}

// spoolCaughtUp waits until the logical job's slot is confirmed up to the
// WAL written when it is called, or Spool fails.
func (e *env) spoolCaughtUp(ctx context.Context, spoolErr <-chan error) error {
	h, err := e.logical.SlotHealth(ctx)
	if err != nil {
		return err
	}
	var written string
	if err := e.src.QueryRow(ctx, `SELECT pg_current_wal_insert_lsn()::text`).Scan(&written); err != nil {
		return err
	}
	deadline := time.Now().Add(30 * time.Minute)
	for {
		var done bool
		if err := e.src.QueryRow(ctx, `SELECT confirmed_flush_lsn >= $1::pg_lsn FROM pg_replication_slots WHERE slot_name = $2`,
			written, h.Slot).Scan(&done); err != nil {
			return err
		}
		if done {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("spool still behind %s after 30 minutes", written)
		}
		select {
		case err := <-spoolErr:
			return fmt.Errorf("spool: %w", err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// unrelatedWAL writes to the noise table, in transactions of 1,000
// single-row updates, until the source has written times as much WAL since
// from as it wrote before this call.
func (e *env) unrelatedWAL(ctx context.Context, from string, times int) error {
	_, err := e.src.Exec(ctx, fmt.Sprintf(`DO $$
DECLARE
	start pg_lsn := pg_current_wal_insert_lsn();
	target numeric := pg_wal_lsn_diff(start, '%s') * %d;
	i int := 0;
BEGIN
	WHILE pg_wal_lsn_diff(pg_current_wal_insert_lsn(), start) < target LOOP
		UPDATE noise SET v = v + 1 WHERE id = i %% 100000 + 1;
		i := i + 1;
		IF i %% 1000 = 0 THEN
			COMMIT;
		END IF;
	END LOOP;
END $$`, from, times))
	return err
}

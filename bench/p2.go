package main

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// p2Tables makes the incremental workloads' source tables, of rows rows
// each, their control column mtime an hour behind the clock or more (past
// both tools' default boundary of ten minutes) and indexed.
func p2Tables(rows int) []string {
	return []string{
		`CREATE TABLE p2_ins (id bigint PRIMARY KEY, aid int NOT NULL, delta int NOT NULL, mtime timestamptz NOT NULL, filler char(22))`,
		fmt.Sprintf(`INSERT INTO p2_ins SELECT g, g %% %[1]d + 1, g %% 1000, now() - interval '2 hours' - (%[1]d - g) * interval '1 ms', ''
			FROM generate_series(1, %[1]d) g`, rows),
		`CREATE INDEX ON p2_ins (mtime)`,
		`VACUUM ANALYZE p2_ins`,
		`CREATE TABLE p2_upd (aid int PRIMARY KEY, bid int, abalance int, filler char(84), mtime timestamptz NOT NULL)`,
		fmt.Sprintf(`INSERT INTO p2_upd SELECT g, (g - 1) / 100000 + 1, 0, '', now() - interval '2 hours' FROM generate_series(1, %d) g`, rows),
		`CREATE INDEX ON p2_upd (mtime)`,
		`VACUUM ANALYZE p2_upd`,
	}
}

// incremental measures P2: each run inserts changes rows into p2_ins
// (later control values than any before) or updates changes scattered rows
// of p2_upd (moving their control value forward), then both tools refresh,
// taking turns; after each run both destinations hold the source's rows.
func (e *env) incremental(ctx context.Context, layout string, changes, runs int) ([]result, error) {
	stride := max(e.rows/changes, 1)
	workloads := []struct {
		name, table, mimeoSQL string
		refresh               func() error
		change                func(run int) string
		cols, key             string
	}{
		{"P2 inserter, %d inserts", "ins", `SELECT mimeo.refresh_inserter('m.ins', p_jobmon := false)`, refresh(ctx, e.ins),
			func(run int) string {
				return fmt.Sprintf(`INSERT INTO p2_ins SELECT %d + g, g, g %% 1000, now() - interval '1 hour' + g * interval '1 microsecond', ''
					FROM generate_series(1, %d) g`, e.rows+run*changes, changes)
			}, "id, aid, delta, mtime, filler", "id"},
		{"P2 updater, %d updates", "upd", `SELECT mimeo.refresh_updater('m.upd', p_jobmon := false)`, refresh(ctx, e.upd),
			func(int) string {
				return fmt.Sprintf(`UPDATE p2_upd SET abalance = abalance + 1, mtime = now() - interval '1 hour'
					WHERE aid IN (SELECT (g::bigint * 7919) %% %d * %d + 1 FROM generate_series(0, %d) g)`, changes, stride, changes-1)
			}, "aid, bid, abalance, filler, mtime", "aid"},
	}
	var results []result
	for _, w := range workloads {
		r := result{Layout: layout, Workload: fmt.Sprintf(w.name, changes), Units: changes}
		for i := range runs {
			if _, err := e.src.Exec(ctx, w.change(i)); err != nil {
				return results, fmt.Errorf("%s: %w", r.Workload, err)
			}
			if err := turns(i, step{into: &r.Pgmimeo, f: w.refresh}, step{into: &r.Mimeo, f: e.ifMimeo(e.exec(ctx, w.mimeoSQL))}); err != nil {
				return results, fmt.Errorf("%s: %w", r.Workload, err)
			}
			if err := e.sameRows(ctx, "p2_"+w.table, "p."+w.table, "m."+w.table, w.cols, w.key, ""); err != nil {
				return results, fmt.Errorf("%s: %w", r.Workload, err)
			}
		}
		results = append(results, r)
	}
	return results, nil
}

// sameRows checks that the destinations p and (when mimeo runs) m of
// source table src hold its rows: a checksum of columns cols of every row
// (on the destinations, of the rows live selects) ordered by key.
func (e *env) sameRows(ctx context.Context, src, p, m, cols, key, live string) error {
	sum := func(db interface {
		QueryRow(context.Context, string, ...any) pgx.Row
	}, table, where string) (string, error) {
		var s string
		err := db.QueryRow(ctx, `SELECT count(*) || ' rows, ' || coalesce(md5(string_agg(t::text, ',' ORDER BY `+key+`)), '-')
			FROM (SELECT `+cols+` FROM `+table+where+`) t`).Scan(&s)
		return s, err
	}
	want, err := sum(e.src, src, "")
	if err != nil {
		return err
	}
	gotP, err := sum(e.dst, p, live)
	if err != nil {
		return err
	}
	gotM := want
	if e.mimeo && m != "" {
		if gotM, err = sum(e.dst, m, live); err != nil {
			return err
		}
	}
	if gotP != want || gotM != want {
		return fmt.Errorf("%s differs: source %s, pgmimeo %s, mimeo %s", src, want, gotP, gotM)
	}
	return nil
}

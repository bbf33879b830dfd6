package check

import (
	"context"
	"fmt"

	"github.com/pgmimeo/pgmimeo/replication"
)

// SizeThresholds are the limits of the snapshot monitor. The zero value
// reports every table.
type SizeThresholds struct {
	// Rows reports tables with at least this many rows. Default 0: no row
	// limit.
	Rows int64
	// Bytes reports tables whose total size (with indexes and toast) is at
	// least this many bytes. Default 0: no size limit.
	Bytes int64
}

func (th *SizeThresholds) validate() error {
	if th.Rows < 0 {
		return &replication.OptionError{Field: "SizeThresholds.Rows", Problem: "must be 0 (no limit) or positive"}
	}
	if th.Bytes < 0 {
		return &replication.OptionError{Field: "SizeThresholds.Bytes", Problem: "must be 0 (no limit) or positive"}
	}
	return nil
}

// passed reports whether a table of rows and bytes is reported: with both
// limits unset every table is; with one set, that one decides; with both,
// passing either is enough (mimeo's snapshot_monitor).
func (th *SizeThresholds) passed(rows, bytes int64) bool {
	switch {
	case th.Rows == 0 && th.Bytes == 0:
		return true
	case th.Rows == 0:
		return bytes >= th.Bytes
	case th.Bytes == 0:
		return rows >= th.Rows
	}
	return rows >= th.Rows || bytes >= th.Bytes
}

// SourceSize is the size of a source table.
type SourceSize struct {
	Source replication.Table
	// Dest is the job's destination (zero when sizes were asked for tables
	// rather than jobs).
	Dest replication.Table
	// Rows is the table's exact row count.
	Rows int64
	// Bytes is its total size: table, indexes and toast (0 for a view).
	Bytes int64
}

// SourceSizes counts the rows and measures the total size of each table on
// src and returns those past the thresholds (nil thresholds: every table),
// in the order given. Rows are counted exactly (count(*)), as mimeo does,
// so this reads each table in full.
func SourceSizes(ctx context.Context, src replication.DB, tables []replication.Table, th *SizeThresholds) ([]SourceSize, error) {
	var limits SizeThresholds
	if th != nil {
		limits = *th
	}
	if err := limits.validate(); err != nil {
		return nil, err
	}
	var out []SourceSize
	for _, t := range tables {
		info, err := replication.Describe(ctx, src, t)
		if err != nil {
			return nil, err
		}
		s := SourceSize{Source: t}
		if err := src.QueryRow(ctx, `SELECT pg_catalog.pg_total_relation_size($1::oid)`, info.OID).Scan(&s.Bytes); err != nil {
			return nil, checkQueryError("measure size", t, "", err)
		}
		if err := src.QueryRow(ctx, `SELECT count(*) FROM `+t.Sanitize()).Scan(&s.Rows); err != nil {
			return nil, checkQueryError("count rows", t, "", err)
		}
		if limits.passed(s.Rows, s.Bytes) {
			out = append(out, s)
		}
	}
	return out, nil
}

// MonitorSnapshots is mimeo's snapshot_monitor: it measures the source
// tables of the full-pull jobs (snapshot and table) of source sourceName
// ("" means DefaultSourceName) in catalog cat on dest, and returns those
// past the thresholds, which may be better served by an incremental or DML
// job. With dests given, only those jobs are measured. src must be that
// source.
func MonitorSnapshots(ctx context.Context, src, dest replication.DB, cat *replication.Catalog, sourceName string, th *SizeThresholds, dests ...replication.Table) ([]SourceSize, error) {
	jobs, err := sourceJobs(ctx, dest, cat, sourceName)
	if err != nil {
		return nil, err
	}
	only := make(map[replication.Table]bool, len(dests))
	for _, d := range dests {
		only[d] = true
	}
	found := make(map[replication.Table]bool, len(dests))
	var out []SourceSize
	for _, j := range jobs {
		if j.Kind != replication.KindSnapshot && j.Kind != replication.KindTableReload || len(only) > 0 && !only[j.Dest] {
			continue
		}
		found[j.Dest] = true
		sizes, err := SourceSizes(ctx, src, []replication.Table{j.SourceTable}, th)
		if err != nil {
			return nil, fmt.Errorf("job %s: %w", j.Dest, err)
		}
		for _, s := range sizes {
			s.Dest = j.Dest
			out = append(out, s)
		}
	}
	for _, d := range dests {
		if found[d] {
			continue
		}
		return nil, &replication.TableError{Table: d, Err: replication.ErrNotManaged, Fix: "name the destination of a snapshot or table job of this source"}
	}
	return out, nil
}

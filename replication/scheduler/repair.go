package scheduler

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgmimeo/pgmimeo/replication"
	"github.com/pgmimeo/pgmimeo/replication/check"
)

// ErrCannotRepair is wrapped by Repair's error for a job whose replicator
// cannot re-pull key ranges (it is not a check.RangeRepairer).
var ErrCannotRepair = errors.New("the job's kind cannot repair key ranges")

// RepairConfig configures Repair. Methods is required; otherwise the zero
// RepairConfig compares every replicated column by the source's key, in
// the catalog "mimeo", and logs nothing.
type RepairConfig struct {
	// Runtime are the run-time settings of the job: catalog, job log,
	// logger and the wait for its refresh lock. Default: the zero Runtime.
	Runtime

	// Checksum configures both validations (see
	// check.ChecksumJob). Leave its Key empty, so that the ranges are
	// those of the key the job replicates by. Default nil: the job's
	// columns, condition and source key.
	Checksum *check.ChecksumConfig

	// Methods are the kinds Repair can open (dml.Method, snapshot.Method,
	// …). Required.
	Methods []replication.Method
}

// RepairReport is what Repair found and did.
type RepairReport struct {
	// Before is the validation that found the differing ranges.
	Before *check.ChecksumResult
	// Repair is what re-pulling them did; zero when Before matched.
	Repair replication.Result
	// After is the validation after the repair; nil when Before matched.
	After *check.ChecksumResult
}

// Repaired reports whether the destination matches the source: at once, or
// after the repair.
func (r *RepairReport) Repaired() bool {
	if r.After != nil {
		return r.After.Match
	}
	return r.Before != nil && r.Before.Match
}

// Repair validates the catalog job of destTable with a checksum, re-pulls
// the key ranges that differ in the job's own consistent way (see
// check.RangeRepairer: for a snapshot into the table its view shows,
// for a table, incremental, dml or logdel job by key range, deleting and
// inserting in one destination transaction from one source snapshot) and
// validates again. A dml or logdel job is checked and repaired by the key
// it replicates by; its queued changes are left for its next refresh, and
// a logdel destination keeps its rows marked deleted (see
// dml.Replicator.RepairRanges). A report whose Repaired is false means the
// source changed while Repair ran (or, for an incremental job, rows the
// job had not pulled yet differ): run it again, or refresh first. A job
// whose replicator cannot repair ranges (a kind whose Method opens a
// replicator without RepairRanges) fails with ErrCannotRepair, changing nothing.
func Repair(ctx context.Context, source, dest *pgxpool.Pool, destTable replication.Table, cfg *RepairConfig) (*RepairReport, error) {
	var c RepairConfig
	if cfg != nil {
		c = *cfg
	}
	if source == nil || dest == nil {
		return nil, &replication.OptionError{Field: "source, dest", Problem: "both pools are required"}
	}
	if err := validateMethods("RepairConfig.Methods", c.Methods); err != nil {
		return nil, err
	}
	job, err := replication.NewCatalog(c.Catalog).Job(ctx, dest, destTable)
	if err != nil {
		return nil, err
	}
	rep, err := open(ctx, replication.Methods(c.Methods...), job.Kind, source, dest, destTable, c.Runtime)
	if err != nil {
		return nil, err
	}
	rr, ok := rep.(check.RangeRepairer)
	if !ok {
		return nil, &replication.TableError{Table: destTable, Err: ErrCannotRepair,
			Fix: fmt.Sprintf("its replicator (%T) has no RepairRanges: refresh it in full instead", rep)}
	}
	cat := replication.NewCatalog(c.Catalog)
	report := &RepairReport{}
	if report.Before, err = check.ChecksumJob(ctx, source, dest, cat, destTable, c.Checksum); err != nil {
		return nil, err
	}
	if report.Before.Match {
		return report, nil
	}
	if report.Repair, err = rr.RepairRanges(ctx, report.Before); err != nil {
		return report, err
	}
	if report.After, err = check.ChecksumJob(ctx, source, dest, cat, destTable, c.Checksum); err != nil {
		return report, err
	}
	return report, nil
}

package check

import (
	"context"

	"github.com/pgmimeo/pgmimeo/replication"
)

// ChecksumJob is Checksum for the catalog job of destination table
// destTable: it reads the job from cat on dest and fills what cfg leaves
// empty from the job (see Job.Settings): the source table, the column
// filter, the row condition, for incremental jobs the control column (so
// rows not pulled yet are not reported), for DML and LogDeletes jobs the
// key they replicate by (so that the ranges are those a range repair
// re-pulls by key), and for LogDeletes jobs a destination condition that
// leaves out rows deleted on the source. src must be the job's source.
func ChecksumJob(ctx context.Context, src, dest replication.DB, cat *replication.Catalog, destTable replication.Table, cfg *ChecksumConfig) (*ChecksumResult, error) {
	var c ChecksumConfig
	if cfg != nil {
		c = *cfg
	}
	job, err := cat.Job(ctx, dest, destTable)
	if err != nil {
		return nil, err
	}
	set, err := job.Settings()
	if err != nil {
		return nil, err
	}
	if len(c.Columns) == 0 {
		c.Columns = set.Columns
	}
	if c.Condition == "" {
		c.Condition = set.Condition
	}
	if len(c.Key) == 0 {
		c.Key = set.Key
	}
	if job.Kind.Incremental() && c.Control == "" {
		if c.Control = set.Control; c.Control == "" {
			return nil, &replication.TableError{Table: destTable, Err: replication.ErrBadOption,
				Fix: "the job's config names no control column: give ChecksumConfig.Control"}
		}
	}
	if c.DestCondition == "" && job.Kind == replication.KindLogDel {
		c.DestCondition = replication.QuoteIdent(LogDelDeletedColumn) + " IS NULL"
	}
	return Checksum(ctx, src, dest, job.SourceTable, destTable, &c)
}

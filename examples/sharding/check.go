package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgmimeo/pgmimeo/replication"
	"github.com/pgmimeo/pgmimeo/replication/check"
)

// row is one row: its id and its whole text.
type row struct {
	id   int64
	text string
}

func readRows(ctx context.Context, db *pgxpool.Pool) ([]row, error) {
	rows, err := db.Query(ctx, `SELECT id, t::text FROM `+table.Sanitize()+` t ORDER BY id`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
		var x row
		err := r.Scan(&x.id, &x.text)
		return x, err
	})
}

// checkShards compares the union of the shards with the source, row by row, and
// requires every row to be on the shard its id names.
func checkShards(ctx context.Context, source *pgxpool.Pool, dests []*pgxpool.Pool, stdout io.Writer) error {
	want, err := readRows(ctx, source)
	if err != nil {
		return fmt.Errorf("read source: %w", err)
	}
	var union []row
	for k, d := range dests {
		got, err := readRows(ctx, d)
		if err != nil {
			return fmt.Errorf("read shard %d: %w", k, err)
		}
		for _, r := range got {
			if r.id%int64(len(dests)) != int64(k) {
				return fmt.Errorf("shard %d holds order %d, which belongs on shard %d", k, r.id, r.id%int64(len(dests)))
			}
		}
		union = append(union, got...)
	}
	slices.SortFunc(union, func(a, b row) int { return cmp.Compare(a.id, b.id) })
	for i := range max(len(want), len(union)) {
		switch {
		case i >= len(union):
			return fmt.Errorf("order %d is on no shard", want[i].id)
		case i >= len(want):
			return fmt.Errorf("order %d is on a shard but not on the source", union[i].id)
		case want[i] != union[i]:
			return fmt.Errorf("source row %s differs from shard row %s", want[i].text, union[i].text)
		}
	}
	fmt.Fprintf(stdout, "  The union of the %d shards equals the source, row by row: %d rows.\n", len(dests), len(want))
	return nil
}

// checksums validates each shard's job against its share of the source.
func checksums(ctx context.Context, source *pgxpool.Pool, dests []*pgxpool.Pool, stdout io.Writer) error {
	for k, d := range dests {
		res, err := check.ChecksumJob(ctx, source, d, replication.NewCatalog(""), table, nil)
		if err != nil {
			return fmt.Errorf("checksum shard %d: %w", k, err)
		}
		if !res.Match {
			return fmt.Errorf("shard %d differs from its share of the source in %d key ranges", k, len(res.Ranges))
		}
		fmt.Fprintf(stdout, "  Checksum of shard %d: %d rows, same as the source's rows with id %% %d = %d.\n", k, res.DestRows, len(dests), k)
	}
	return nil
}

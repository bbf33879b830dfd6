package logdel_test

import (
	"time"

	"github.com/jackc/pgx/v5"
)

func pgx_collect(rows pgx.Rows) ([]time.Time, error) {
	return pgx.CollectRows(rows, pgx.RowTo[time.Time])
}

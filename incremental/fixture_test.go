package incremental_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/incremental"
	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/replication"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// mode is one of the four kinds of incremental job.
type mode struct {
	name    string
	updater bool
	typ     incremental.ControlType
}

var modes = []mode{
	{"inserter_time", false, incremental.Time},
	{"inserter_serial", false, incremental.Serial},
	{"updater_time", true, incremental.Time},
	{"updater_serial", true, incremental.Serial},
}

// forEachMode runs test once per mode, in parallel.
func forEachMode(t *testing.T, test func(t *testing.T, m mode)) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			test(t, m)
		})
	}
}

// rep is what the tests drive: an Inserter or an Updater.
type rep interface {
	replication.Replicator
	Repull(ctx context.Context) (replication.Result, error)
	RepullRange(ctx context.Context, start, end incremental.Value) (replication.Result, error)
	Ensure(ctx context.Context) (replication.Ensured, error)
	Plan(ctx context.Context) (replication.Ensured, error)
}

// fixture is a source table for one mode: a key column, a control column
// whose value for "ordinal" k is k (serial) or t0 + k seconds (time), and
// two payload columns. Names may be odd, to prove quoting.
type fixture struct {
	b   *pgtest.Bundle
	m   mode
	src replication.Table
	// key, ctl, text and num are the column names.
	key, ctl, text, num string
	// t0 is the time of ordinal 0 (time mode): one day before the start.
	t0 time.Time
}

func newFixture(t *testing.T, m mode) *fixture {
	return newNamedFixture(t, m, replication.T("public", "items"), "id", "ctl", "payload", "n")
}

func newNamedFixture(t *testing.T, m mode, src replication.Table, key, ctl, text, num string) *fixture {
	t.Helper()
	f := &fixture{b: pgtest.Setup(t), m: m, src: src, key: key, ctl: ctl, text: text, num: num}
	ctx := context.Background()
	require.NoError(t, f.b.Source.QueryRow(ctx, `SELECT date_trunc('second', now()) - interval '1 day'`).Scan(&f.t0))
	if src.Schema != "public" {
		pgtest.MustExec(t, f.b.Source, "CREATE SCHEMA "+replication.QuoteIdent(src.Schema))
		pgtest.MustExec(t, f.b.Dest, "CREATE SCHEMA "+replication.QuoteIdent(src.Schema))
	}
	ctlType := "bigint"
	if m.typ == incremental.Time {
		ctlType = "timestamptz"
	}
	pgtest.MustExec(t, f.b.Source, fmt.Sprintf(`CREATE TABLE %s (%s bigint PRIMARY KEY, %s %s NOT NULL, %s text, %s int)`,
		src.Sanitize(), q(key), q(ctl), ctlType, q(text), q(num)))
	pgtest.MustExec(t, f.b.Source, fmt.Sprintf(`CREATE INDEX ON %s (%s)`, src.Sanitize(), q(ctl)))
	return f
}

func q(name string) string { return replication.QuoteIdent(name) }

// ctlSQL is the SQL of the control value of ordinal expression k.
func (f *fixture) ctlSQL(k string) string {
	if f.m.typ == incremental.Serial {
		return "(" + k + ")::bigint"
	}
	return fmt.Sprintf("(%s + (%s) * interval '1 second')", quoteTime(f.t0), k)
}

func quoteTime(t time.Time) string {
	return "'" + t.UTC().Format("2006-01-02 15:04:05.999999") + "+00'::timestamptz"
}

// val is the control value of ordinal k, for RepullRange.
func (f *fixture) val(k int64) incremental.Value {
	if f.m.typ == incremental.Serial {
		return incremental.SerialValue(k)
	}
	return incremental.TimeValue(f.t0.Add(time.Duration(k) * time.Second))
}

// insert adds rows with keys from..to, row k getting control ordinal k.
func (f *fixture) insert(t *testing.T, from, to int) {
	t.Helper()
	pgtest.MustExec(t, f.b.Source, fmt.Sprintf(`INSERT INTO %s SELECT g, %s, md5(g::text), g %% 7 FROM generate_series(%d, %d) g`,
		f.src.Sanitize(), f.ctlSQL("g"), from, to))
}

// insertAt adds rows with keys from..to that all get control ordinal k.
func (f *fixture) insertAt(t *testing.T, from, to int, k int) {
	t.Helper()
	pgtest.MustExec(t, f.b.Source, fmt.Sprintf(`INSERT INTO %s SELECT g, %s, md5(g::text), g %% 7 FROM generate_series(%d, %d) g`,
		f.src.Sanitize(), f.ctlSQL(fmt.Sprint(k)), from, to))
}

// insertNow adds rows with keys from..to whose control values are the
// current time (time mode) or above every existing one (serial mode).
func (f *fixture) insertNow(t *testing.T, from, to int) {
	t.Helper()
	ctl := "clock_timestamp()"
	if f.m.typ == incremental.Serial {
		ctl = fmt.Sprintf("(SELECT COALESCE(max(%s), 0) FROM %s) + g", q(f.ctl), f.src.Sanitize())
	}
	pgtest.MustExec(t, f.b.Source, fmt.Sprintf(`INSERT INTO %s SELECT g, %s, md5(g::text), g %% 7 FROM generate_series(%d, %d) g`,
		f.src.Sanitize(), ctl, from, to))
}

// update changes the rows with keys from..to: new payload, and control
// ordinal base + key.
func (f *fixture) update(t *testing.T, from, to int, base int) {
	t.Helper()
	pgtest.MustExec(t, f.b.Source, fmt.Sprintf(`UPDATE %s SET %s = %s || '+', %s = %s WHERE %s BETWEEN %d AND %d`,
		f.src.Sanitize(), q(f.text), q(f.text), q(f.ctl), f.ctlSQL(fmt.Sprintf("%d + %s", base, q(f.key))), q(f.key), from, to))
}

// cfg is a Config for the fixture with boundaries of 0.
func (f *fixture) cfg() *incremental.Config {
	return &incremental.Config{
		Control:        f.ctl,
		Boundary:       new(time.Duration(0)),
		SerialBoundary: new(int64(0)),
	}
}

// rep makes the Inserter or Updater of the fixture's mode.
func (f *fixture) rep(t *testing.T, cfg *incremental.Config) rep {
	t.Helper()
	r, err := f.newRep(cfg)
	require.NoError(t, err)
	return r
}

func (f *fixture) newRep(cfg *incremental.Config) (rep, error) {
	if f.m.updater {
		return incremental.NewUpdater(f.b.Source, f.b.Dest, f.src, cfg)
	}
	return incremental.NewInserter(f.b.Source, f.b.Dest, f.src, cfg)
}

// setup makes and sets up a replicator with cfg.
func (f *fixture) setup(t *testing.T, cfg *incremental.Config) rep {
	t.Helper()
	r := f.rep(t, cfg)
	require.NoError(t, r.Setup(context.Background()))
	return r
}

// refresh runs one refresh that must succeed.
func (f *fixture) refresh(t *testing.T, r rep) replication.Result {
	t.Helper()
	res, err := r.Refresh(context.Background())
	require.NoError(t, err)
	return res
}

// same requires the destination table to hold exactly the source's rows.
func (f *fixture) same(t *testing.T, dest replication.Table) {
	t.Helper()
	want := pgtest.Rows(t, f.b.Source, "SELECT * FROM "+f.src.Sanitize())
	got := pgtest.Rows(t, f.b.Dest, "SELECT * FROM "+dest.Sanitize())
	require.Equal(t, want, got, "destination rows differ from the source's")
}

// sameQuery requires two queries, on the source and the destination, to
// return the same rows.
func (f *fixture) sameQuery(t *testing.T, srcQuery, destQuery string) {
	t.Helper()
	want := pgtest.Rows(t, f.b.Source, srcQuery)
	got := pgtest.Rows(t, f.b.Dest, destQuery)
	require.Equal(t, want, got)
}

// lastValue reads the job's stored last value.
func (f *fixture) lastValue(t *testing.T, dest replication.Table) *string {
	t.Helper()
	var v *string
	require.NoError(t, f.b.Dest.QueryRow(context.Background(),
		`SELECT state->>'last_value' FROM mimeo.jobs WHERE dest_schema = $1 AND dest_table = $2`, dest.Schema, dest.Name).Scan(&v))
	return v
}

// scalar returns the one value of query on db.
func scalar[T any](t *testing.T, db *pgxpool.Pool, query string, args ...any) T {
	t.Helper()
	var v T
	require.NoError(t, db.QueryRow(context.Background(), query, args...).Scan(&v))
	return v
}

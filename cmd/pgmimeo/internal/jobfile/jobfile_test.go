package jobfile_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/cmd/pgmimeo/internal/jobfile"
)

func env(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
}

const good = `# two sources, one job of each kind
destination: postgres://repl@localhost/reporting
catalog: mimeo
job_log:
  schema: jobmon
sources:
  shop:
    dsn: ${SHOP_DSN}
  events:
    dsn: host=db2 dbname=events user=repl sslmode=require
jobs:
  - kind: snapshot
    source: shop
    table: public.prices
    period: 5m
    skip_unchanged: true
  - kind: table
    source: shop
    table: public.prices
    dest: dev.prices
    truncate_cascade: true
  - kind: inserter
    source: events
    table: public.clicks
    control: at
    boundary: 2m
    batch_limit: 50000
    lock_wait: forever
  - kind: updater
    source: events
    table: public.users
    control: updated_at
    key: [id]
    lock_wait: 30s
  - kind: dml
    source: shop
    table: public.orders
    columns: [id, status, total]
    condition: status <> 'draft'
  - kind: logdel
    source: shop
    table: '"Sales"."Order Lines"'
    capture: logical
    spool: true
`

func TestParseGood(t *testing.T) {
	f, err := jobfile.Parse([]byte(good), env(map[string]string{"SHOP_DSN": "postgres://repl@db1/shop"}))
	require.NoError(t, err)
	require.Equal(t, "postgres://repl@db1/shop", f.Sources["shop"].DSN, "${NAME} is expanded")
	require.Len(t, f.Jobs, 6)
	require.Equal(t, []int{12, 17, 22, 29, 35, 40}, []int{f.Jobs[0].Line, f.Jobs[1].Line, f.Jobs[2].Line, f.Jobs[3].Line, f.Jobs[4].Line, f.Jobs[5].Line})
	require.Equal(t, 5*time.Minute, f.Jobs[0].Period.D)
	require.True(t, f.Jobs[2].LockWait.Forever)
	require.Equal(t, 30*time.Second, f.Jobs[3].LockWait.Wait)
	require.Equal(t, []string{"id"}, f.Jobs[3].Key)
	dest, err := f.Jobs[5].DestTable()
	require.NoError(t, err)
	require.Equal(t, `"Sales"."Order Lines"`, dest.String())
	require.True(t, f.Jobs[5].Spool)
	require.False(t, f.Jobs[4].Spool)
	dest, err = f.Jobs[1].DestTable()
	require.NoError(t, err)
	require.Equal(t, `"dev"."prices"`, dest.String())
}

// TestParseBad: every problem is an *Error naming the line, the column
// and the field, and all of a file's problems are reported at once.
func TestParseBad(t *testing.T) {
	head := "sources:\n  shop:\n    dsn: postgres://repl@db1/shop\njobs:\n"
	for name, tc := range map[string]struct {
		text string
		want []string
	}{
		"unknown field": {head + "  - kind: snapshot\n    table: a.b\n    perod: 5m\n",
			[]string{`job file:7:5: unknown field "perod"`}},
		"bad kind": {head + "  - kind: snapshots\n    table: a.b\n",
			[]string{`job file:5:11: jobs[0].kind: unknown kind "snapshots": want one of snapshot, table, inserter, updater, dml, logdel`}},
		"a field of another kind": {head + "  - kind: snapshot\n    table: a.b\n    control: at\n",
			[]string{`job file:7:14: jobs[0].control: a snapshot job has no control (only inserter, updater jobs do)`}},
		"inserter without control": {head + "  - kind: inserter\n    table: a.b\n",
			[]string{`job file:5:9: jobs[0]: an inserter job needs control: the name of its time or serial control column`}},
		"password in the file": {"destination: postgres://me:s3cret@db/x\n" + head + "  - kind: dml\n    table: a.b\n",
			[]string{`job file:1:14: destination: holds a password: keep it out of the file (PGPASSWORD, a pgpass file, a service file, or a ${NAME} environment reference)`}},
		"password as keyword": {"sources:\n  shop:\n    dsn: host=db password=x\njobs:\n  - kind: dml\n    table: a.b\n",
			[]string{`job file:3:10: sources.shop.dsn: holds a password`}},
		"unset variable": {"destination: ${NOPE}\n" + head + "  - kind: dml\n    table: a.b\n",
			[]string{`job file:1:14: destination: names environment variable NOPE, which is not set`}},
		"unknown source": {head + "  - kind: dml\n    table: a.b\n    source: other\n",
			[]string{`job file:7:13: jobs[0].source: unknown source "other": declare it under sources:`}},
		"bad duration": {head + "  - kind: dml\n    table: a.b\n    period: often\n",
			[]string{`job file:7:13: jobs[0].period: want a duration such as 90s, 5m or 1h30m, not "often"`}},
		"condition with a second statement": {head + "  - kind: dml\n    table: a.b\n    condition: \"true; DROP TABLE a.b\"\n",
			[]string{`job file:7:16: jobs[0].condition:`}},
		"two jobs into one table": {head + "  - kind: dml\n    table: a.b\n  - kind: snapshot\n    table: c.d\n    dest: a.b\n",
			[]string{`job file:9:11: jobs[1].dest: destination "a"."b" is already the destination of jobs[0]`}},
		"several problems": {head + "  - kind: nope\n    table: a.b\n  - kind: dml\n    table: c.d\n    batch_limit: -1\n",
			[]string{`jobs[0].kind: unknown kind "nope"`, `job file:9:18: jobs[1].batch_limit: must be 0 (no limit) or positive`}},
		"spool without logical capture": {head + "  - kind: dml\n    table: a.b\n    spool: true\n",
			[]string{`job file:7:12: jobs[0].spool: needs capture: logical (a trigger queue has nothing to spool)`}},
		"spool of another kind": {head + "  - kind: snapshot\n    table: a.b\n    spool: true\n",
			[]string{`jobs[0].spool: a snapshot job has no spool (only dml, logdel jobs do)`}},
		"no jobs":  {head, []string{`job file: jobs: no job is declared`}},
		"empty":    {"  \n", []string{`job file:1:1: the job file is empty`}},
		"not yaml": {"jobs: [\n", []string{`job file:1:`}},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := jobfile.Parse([]byte(tc.text), env(nil))
			require.Error(t, err)
			var fe *jobfile.Error
			require.True(t, errors.As(err, &fe), "%T %v", err, err)
			for _, w := range tc.want {
				require.Contains(t, err.Error(), w)
			}
			require.NotContains(t, err.Error(), "s3cret")
		})
	}
}

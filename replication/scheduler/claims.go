package scheduler

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgmimeo/pgmimeo/replication"
)

// claimClass is the first key of a claim's advisory lock ("mims"); the
// second is the job id (see claimKey). The refresh lock of a destination
// table uses another class, so a claim never stands in a refresh's way.
const claimClass = 0x6d696d73

// claimKey is the second advisory-lock key of job id, as SQL on a bigint.
// Job ids are an identity column; below 2^31 every job has its own key.
const claimKey = `(%s %% 2147483648)::int4`

// claim is a job this worker holds.
type claim struct {
	id         int64
	kind       replication.Kind
	sourceName string
	dest       replication.Table
	period     time.Duration
	failures   int
	// lockWait is the job's own lock wait (nil: the worker's); jobLog is
	// false for a job whose runs stay out of the job log.
	lockWait *time.Duration
	jobLog   bool
	// gen is the claim session generation that holds the lock.
	gen int
}

// claimSession is the destination session on which this worker holds its
// claims: one advisory lock per job it runs. The server releases them all
// when the session ends, so a worker that dies loses its claims at once (a
// killed process), or within the session's TCP keepalive (a vanished
// machine). Statements on it are serialised.
type claimSession struct {
	mu     sync.Mutex
	cfg    *pgx.ConnConfig
	conn   *pgx.Conn
	gen    int
	jobs   string
	worker string
}

func newClaimSession(dest *pgxpool.Pool, c *Config) *claimSession {
	cc := dest.Config().ConnConfig.Copy()
	secs := int(c.ClaimKeepalive / time.Second)
	idle, interval := secs/3, secs/6
	if interval < 1 {
		interval = 1
	}
	count := (secs - idle) / interval
	cc.RuntimeParams["application_name"] = "pgmimeo scheduler " + c.WorkerID
	cc.RuntimeParams["tcp_keepalives_idle"] = strconv.Itoa(idle)
	cc.RuntimeParams["tcp_keepalives_interval"] = strconv.Itoa(interval)
	cc.RuntimeParams["tcp_keepalives_count"] = strconv.Itoa(count)
	return &claimSession{cfg: cc, jobs: replication.NewCatalog(c.Catalog).Schema(), worker: c.WorkerID}
}

func (s *claimSession) table(name string) string { return pgx.Identifier{s.jobs, name}.Sanitize() }

// session returns the open session, connecting when there is none or the
// last one was lost. Call with mu held.
func (s *claimSession) session(ctx context.Context) (*pgx.Conn, error) {
	if s.conn != nil && !s.conn.IsClosed() {
		return s.conn, nil
	}
	if s.conn != nil {
		_ = s.conn.Close(context.WithoutCancel(ctx))
		s.conn = nil
	}
	conn, err := pgx.ConnectConfig(ctx, s.cfg)
	if err != nil {
		return nil, fmt.Errorf("open claim session: %w", err)
	}
	s.conn = conn
	s.gen++
	return conn, nil
}

// lost drops a session that failed, so the next call reconnects.
func (s *claimSession) lost(ctx context.Context) {
	if s.conn != nil {
		_ = s.conn.Close(context.WithoutCancel(ctx))
		s.conn = nil
	}
}

// filter is what a scheduler runs: its kinds and tables, and the moment
// against which jobs are due.
type filter struct {
	kinds   []string
	schemas []string
	names   []string
	// asOf, when set, is the time due jobs must be due by (RunDue); else
	// the server's now().
	asOf *time.Time
}

func newFilter(c *Config) filter {
	f := filter{kinds: []string{}, schemas: []string{}, names: []string{}}
	for _, k := range c.Kinds {
		f.kinds = append(f.kinds, string(k))
	}
	for _, t := range c.Tables {
		f.schemas, f.names = append(f.schemas, t.Schema), append(f.names, t.Name)
	}
	return f
}

// dueSQL is the time a job is due: next_run, which the scheduler sets
// after each run; but a period after last_run when there is no next_run or
// the job has run since next_run (by hand, or by a worker that died before
// it could set next_run, whose run then counts); at once when it has
// neither.
const dueSQL = `COALESCE(CASE WHEN j.next_run IS NULL OR j.last_run >= j.next_run THEN j.last_run + j.period
	ELSE j.next_run END, '-infinity')`

// eligibleSQL selects the jobs this worker may run ($1 kinds, $2 schemas,
// $3 names, $4 job ids it runs already) that no live claim holds.
var eligibleSQL = `j.enabled AND j.period > interval '0'
	AND (cardinality($1::text[]) = 0 OR j.kind = ANY ($1::text[]))
	AND (cardinality($2::text[]) = 0 OR (j.dest_schema, j.dest_table) IN (SELECT * FROM unnest($2::text[], $3::text[])))
	AND j.job_id <> ALL ($4::int8[])
	AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_locks l WHERE l.locktype = 'advisory'
		AND l.database = (SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname = pg_catalog.current_database())
		AND l.classid = ` + strconv.Itoa(claimClass) + `::oid AND l.objid = ` + fmt.Sprintf(claimKey, "j.job_id") + `::oid
		AND l.objsubid = 2 AND l.granted)`

// claim takes up to n due jobs: it locks their catalog rows (skipping rows
// another worker is claiming), takes each one's claim lock on the claim
// session (skipping jobs claimed elsewhere meanwhile), and records the
// claim, in one transaction.
func (s *claimSession) claim(ctx context.Context, n int, f filter, running []int64) ([]*claim, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	conn, err := s.session(ctx)
	if err != nil {
		return nil, err
	}
	out, err := s.claimOn(ctx, conn, n, f, running)
	if err != nil && conn.IsClosed() {
		s.lost(ctx)
	}
	return out, err
}

func (s *claimSession) claimOn(ctx context.Context, conn *pgx.Conn, n int, f filter, running []int64) (out []*claim, err error) {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("claim jobs: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx))
			s.unlock(context.WithoutCancel(ctx), conn, out)
			out = nil
		}
	}()
	if running == nil {
		running = []int64{}
	}
	rows, err := tx.Query(ctx, `SELECT j.job_id, j.kind, j.source_name, j.dest_schema, j.dest_table,
		extract(epoch FROM j.period)::float8, j.failures, extract(epoch FROM j.lock_wait)::float8, j.job_log
		FROM `+s.table("jobs")+` j
		WHERE `+eligibleSQL+` AND `+dueSQL+` <= COALESCE($5::timestamptz, now())
		ORDER BY `+dueSQL+`, j.job_id
		LIMIT $6
		FOR NO KEY UPDATE OF j SKIP LOCKED`, f.kinds, f.schemas, f.names, running, f.asOf, n)
	if err != nil {
		return nil, fmt.Errorf("claim jobs: %w", err)
	}
	var due []*claim
	for rows.Next() {
		c := &claim{}
		var kind string
		var period float64
		var lockWait *float64
		if err := rows.Scan(&c.id, &kind, &c.sourceName, &c.dest.Schema, &c.dest.Name, &period, &c.failures, &lockWait, &c.jobLog); err != nil {
			rows.Close()
			return nil, fmt.Errorf("claim jobs: %w", err)
		}
		c.kind = replication.Kind(kind)
		c.period = time.Duration(period * float64(time.Second))
		if lockWait != nil {
			c.lockWait = replication.Wait(time.Duration(*lockWait * float64(time.Second)))
		}
		due = append(due, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("claim jobs: %w", err)
	}
	ids := []int64{}
	for _, c := range due {
		var got bool
		if err := tx.QueryRow(ctx, `SELECT pg_catalog.pg_try_advisory_lock($1, `+fmt.Sprintf(claimKey, "$2::int8")+`)`,
			claimClass, c.id).Scan(&got); err != nil {
			return out, fmt.Errorf("claim job %d: %w", c.id, err)
		}
		if got {
			c.gen = s.gen
			out = append(out, c)
			ids = append(ids, c.id)
		}
	}
	if len(ids) > 0 {
		if _, err := tx.Exec(ctx, `UPDATE `+s.table("jobs")+` SET claimed_by = $2, claimed_at = now() WHERE job_id = ANY ($1)`,
			ids, s.worker); err != nil {
			return out, fmt.Errorf("claim jobs: %w", err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return out, fmt.Errorf("claim jobs: %w", err)
	}
	return out, nil
}

// unlock lets claims go on conn (errors ignored: a lost session has let
// them go already).
func (s *claimSession) unlock(ctx context.Context, conn *pgx.Conn, cs []*claim) {
	for _, c := range cs {
		_, _ = conn.Exec(ctx, `SELECT pg_catalog.pg_advisory_unlock($1, `+fmt.Sprintf(claimKey, "$2::int8")+`)`, claimClass, c.id)
	}
}

// release lets claim c go, after its bookkeeping has committed. A claim
// held by an earlier, lost session is gone already.
func (s *claimSession) release(ctx context.Context, c *claim) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn == nil || s.conn.IsClosed() || c.gen != s.gen {
		return
	}
	s.unlock(ctx, s.conn, []*claim{c})
	if s.conn.IsClosed() {
		s.lost(ctx)
	}
}

// close ends the session, which lets every claim on it go.
func (s *claimSession) close(ctx context.Context) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lost(ctx)
}

// nextDue returns how long until the next job this worker may run is due:
// 0 when one is due now, and ok false when none is scheduled.
func nextDue(ctx context.Context, db replication.DB, jobs string, f filter, running []int64) (time.Duration, bool, error) {
	if running == nil {
		running = []int64{}
	}
	var secs *float64
	err := db.QueryRow(ctx, `SELECT CASE WHEN m IS NULL THEN NULL ELSE extract(epoch FROM GREATEST(m, now()) - now())::float8 END
		FROM (SELECT min(`+dueSQL+`) AS m FROM `+pgx.Identifier{jobs, "jobs"}.Sanitize()+` j WHERE `+eligibleSQL+`) s`,
		f.kinds, f.schemas, f.names, running).Scan(&secs)
	if err != nil {
		return 0, false, fmt.Errorf("read next due job: %w", err)
	}
	if secs == nil {
		return 0, false, nil
	}
	return time.Duration(*secs * float64(time.Second)), true, nil
}

// keeps reports whether the filter keeps job j (its kinds and tables).
func (f filter) keeps(j *replication.Job) bool {
	if len(f.kinds) > 0 && !slices.Contains(f.kinds, string(j.Kind)) {
		return false
	}
	if len(f.names) == 0 {
		return true
	}
	for i := range f.names {
		if f.schemas[i] == j.Dest.Schema && f.names[i] == j.Dest.Name {
			return true
		}
	}
	return false
}

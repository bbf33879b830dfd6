package replication

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	sq "github.com/Masterminds/squirrel"
	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgmimeo/pgmimeo/internal/migrate"
)

//go:embed migrations/*.sql
var catalogMigrations embed.FS

// Catalog is the catalog of replication jobs in a destination database
// schema (default "mimeo"). Its methods take the handle to use, so that
// state can be written in the caller's transaction.
type Catalog struct {
	schema string
}

// NewCatalog returns the catalog in schema ("" means DefaultCatalogSchema).
func NewCatalog(schema string) *Catalog {
	if schema == "" {
		schema = DefaultCatalogSchema
	}
	return &Catalog{schema: schema}
}

// Schema returns the catalog's schema name.
func (c *Catalog) Schema() string { return c.schema }

func (c *Catalog) table(name string) string { return pgx.Identifier{c.schema, name}.Sanitize() }

// Migrate creates or upgrades the catalog schema. It is safe to call
// concurrently and repeatedly.
func (c *Catalog) Migrate(ctx context.Context, db DB) error {
	ms, err := migrate.Load(catalogMigrations, "migrations")
	if err != nil {
		return fmt.Errorf("load catalog migrations: %w", err)
	}
	_, err = migrate.Apply(ctx, db, c.schema, ms)
	return err
}

// Exists reports whether the catalog has been made in db (its jobs table
// exists), without making it.
func (c *Catalog) Exists(ctx context.Context, db DB) (bool, error) {
	var ok bool
	if err := db.QueryRow(ctx, `SELECT pg_catalog.to_regclass($1) IS NOT NULL`, c.table("jobs")).Scan(&ok); err != nil {
		return false, fmt.Errorf("look up the catalog in schema %q: %w", c.schema, err)
	}
	return ok, nil
}

// MigrationSQL returns the SQL that Migrate runs, as one script for a team
// that applies schema changes with its own migration tool: each numbered
// migration in its own transaction, recording its version in the schema's
// schema_version table, so that Migrate later finds it applied.
func (c *Catalog) MigrationSQL() (string, error) {
	ms, err := migrate.Load(catalogMigrations, "migrations")
	if err != nil {
		return "", fmt.Errorf("load catalog migrations: %w", err)
	}
	return migrate.Script(c.schema, ms), nil
}

// Job is one row of the catalog.
type Job struct {
	ID          int64
	Kind        Kind
	SourceName  string
	SourceTable Table
	Dest        Table
	// Config holds the kind's options as JSON.
	Config json.RawMessage
	// State holds the kind's progress as JSON.
	State   json.RawMessage
	Period  time.Duration
	Enabled bool
	// LockWait is how long a worker's refresh waits for the destination's
	// lock, as Options.LockWait says; nil: the worker's own setting.
	LockWait *time.Duration
	// Unlogged keeps the job's runs by workers out of their job log.
	Unlogged  bool
	CreatedAt time.Time
	LastRun   *time.Time
	LastOK    *time.Time
	LastError string
	Failures  int
	// NextRun is when a scheduler next runs the job, as it recorded after
	// the job's last scheduled run; nil before the first.
	NextRun *time.Time
	// ClaimedBy names the worker that claimed the job last ("" for none).
	ClaimedBy string
	// SyncedAt is the moment, by the destination server's clock, before
	// which every source change the job replicates was held by the
	// destination as of its last run that caught up; nil: unknown (see
	// Lag).
	SyncedAt *time.Time
	// Age is how old the destination's data may be when the job was read:
	// the destination server's clock minus SyncedAt. It is an upper
	// bound: the data may be fresher. Nil when SyncedAt is.
	Age *time.Duration
	// SyncLag is how far behind its start the job's last run that caught
	// up left the destination by design (Result.SyncLag): a time-based
	// incremental job's boundary, for example. The default thresholds
	// start from it (see LagThresholds).
	SyncLag time.Duration
	// LagWarning and LagCritical are the job's thresholds on Age; 0: the
	// default (see LagThresholds).
	LagWarning  time.Duration
	LagCritical time.Duration

	// paused makes CreateJob create the job disabled (Options.Paused).
	paused bool
}

const jobColumns = `job_id, kind, source_name, source_schema, source_table, dest_schema, dest_table,
	config, state, COALESCE(extract(epoch FROM period)::float8, 0), enabled, extract(epoch FROM lock_wait)::float8, NOT job_log,
	created_at, last_run, last_ok, COALESCE(last_error, ''), failures, next_run, COALESCE(claimed_by, ''),
	synced_at, extract(epoch FROM clock_timestamp() - synced_at)::float8, COALESCE(extract(epoch FROM sync_lag)::float8, 0),
	COALESCE(extract(epoch FROM lag_warning)::float8, 0), COALESCE(extract(epoch FROM lag_critical)::float8, 0)`

func scanJob(row pgx.Row) (*Job, error) {
	var j Job
	var kind string
	var period float64
	var lockWait, age *float64
	var syncLag, warn, crit float64
	err := row.Scan(&j.ID, &kind, &j.SourceName, &j.SourceTable.Schema, &j.SourceTable.Name,
		&j.Dest.Schema, &j.Dest.Name, &j.Config, &j.State, &period, &j.Enabled, &lockWait, &j.Unlogged, &j.CreatedAt,
		&j.LastRun, &j.LastOK, &j.LastError, &j.Failures, &j.NextRun, &j.ClaimedBy, &j.SyncedAt, &age, &syncLag, &warn, &crit)
	j.Kind = Kind(kind)
	j.Period = time.Duration(period * float64(time.Second))
	if lockWait != nil {
		j.LockWait = Wait(time.Duration(*lockWait * float64(time.Second)))
	}
	if age != nil {
		j.Age = Wait(seconds(*age))
	}
	j.SyncLag, j.LagWarning, j.LagCritical = seconds(syncLag), seconds(warn), seconds(crit)
	return &j, err
}

// positiveInterval is d as an interval's text, nil when not positive.
func positiveInterval(d time.Duration) *string {
	if d <= 0 {
		return nil
	}
	return intervalText(&d)
}

// seconds is s seconds as a duration.
func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// intervalText is d as an interval's text; nil for nil.
func intervalText(d *time.Duration) *string {
	if d == nil {
		return nil
	}
	p := fmt.Sprintf("%d microseconds", d.Microseconds())
	return &p
}

// CreateJob inserts j and sets j.ID. The job is enabled, unless it comes
// from Options.NewJob with Options.Paused. A job for the same destination table
// is a *TableError wrapping ErrExists.
func (c *Catalog) CreateJob(ctx context.Context, db DB, j *Job) error {
	config, state := j.Config, j.State
	if len(config) == 0 {
		config = json.RawMessage(`{}`)
	}
	if len(state) == 0 {
		state = json.RawMessage(`{}`)
	}
	var period *string
	if j.Period > 0 {
		period = intervalText(&j.Period)
	}
	err := db.QueryRow(ctx, `INSERT INTO `+c.table("jobs")+` (kind, source_name, source_schema, source_table,
		dest_schema, dest_table, config, state, period, enabled, lock_wait, job_log, lag_warning, lag_critical)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::interval, $10, $11::interval, $12, $13::interval, $14::interval) RETURNING job_id`,
		string(j.Kind), j.SourceName, j.SourceTable.Schema, j.SourceTable.Name, j.Dest.Schema, j.Dest.Name,
		config, state, period, !j.paused, intervalText(j.LockWait), !j.Unlogged,
		positiveInterval(j.LagWarning), positiveInterval(j.LagCritical)).Scan(&j.ID)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == pgerrcode.UniqueViolation {
		return &TableError{Table: j.Dest, Err: ErrExists, Fix: "a job already replicates into this table; destroy it first or choose another destination"}
	}
	if err != nil {
		return fmt.Errorf("create job for %s: %w", j.Dest, err)
	}
	return nil
}

// Job returns the job of destination table dest, or a *TableError wrapping
// ErrNotManaged.
func (c *Catalog) Job(ctx context.Context, db DB, dest Table) (*Job, error) {
	j, err := scanJob(db.QueryRow(ctx, `SELECT `+jobColumns+` FROM `+c.table("jobs")+
		` WHERE dest_schema = $1 AND dest_table = $2`, dest.Schema, dest.Name))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, &TableError{Table: dest, Err: ErrNotManaged, Fix: "set the job up first"}
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && (pgErr.Code == pgerrcode.UndefinedTable || pgErr.Code == pgerrcode.InvalidSchemaName) {
		return nil, &TableError{Table: dest, Err: ErrNotManaged, Fix: fmt.Sprintf("no catalog in schema %s: set a job up first", QuoteIdent(c.schema))}
	}
	if err != nil {
		return nil, fmt.Errorf("read job of %s: %w", dest, err)
	}
	return j, nil
}

// JobByID returns the job with id, or ErrNotManaged.
func (c *Catalog) JobByID(ctx context.Context, db DB, id int64) (*Job, error) {
	j, err := scanJob(db.QueryRow(ctx, `SELECT `+jobColumns+` FROM `+c.table("jobs")+` WHERE job_id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("job %d: %w", id, ErrNotManaged)
	}
	return j, err
}

// JobFilter narrows Catalog.Jobs; its zero value (or nil) lists every job.
type JobFilter struct {
	// Source keeps the jobs of this named source only.
	Source string
	// Kinds keeps the jobs of these kinds only.
	Kinds []Kind
	// Enabled keeps only the enabled jobs (true) or only the paused ones
	// (false).
	Enabled *bool
}

// Jobs returns the jobs f keeps, ordered by destination. The query is
// assembled with squirrel from f's parts, its values always arguments.
func (c *Catalog) Jobs(ctx context.Context, db DB, f *JobFilter) ([]*Job, error) {
	q := sq.Select(jobColumns).From(c.table("jobs")).OrderBy("dest_schema", "dest_table").PlaceholderFormat(sq.Dollar)
	if f != nil {
		if f.Source != "" {
			q = q.Where(sq.Eq{"source_name": f.Source})
		}
		if len(f.Kinds) > 0 {
			kinds := make([]string, len(f.Kinds))
			for i, k := range f.Kinds {
				kinds[i] = string(k)
			}
			q = q.Where(sq.Eq{"kind": kinds})
		}
		if f.Enabled != nil {
			q = q.Where(sq.Eq{"enabled": *f.Enabled})
		}
	}
	stmt, args, err := q.ToSql()
	if err != nil {
		return nil, fmt.Errorf("list jobs: %w", err)
	}
	rows, err := db.Query(ctx, stmt, args...)
	if err != nil {
		return nil, fmt.Errorf("list jobs: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (*Job, error) { return scanJob(r) })
}

// SaveState stores a job's progress and marks the run successful. Call it in
// the destination transaction that writes the rows the state describes.
func (c *Catalog) SaveState(ctx context.Context, db DB, jobID int64, state any) error {
	return c.saveState(ctx, db, jobID, state, `, last_run = clock_timestamp(),
		last_ok = clock_timestamp(), last_error = NULL, failures = 0`)
}

// SaveProgress stores a job's state alone, for work done between its runs
// (a logical job's spool read): unlike SaveState, it marks no run, so the
// job's last run, last success and failures are left as they are.
func (c *Catalog) SaveProgress(ctx context.Context, db DB, jobID int64, state any) error {
	return c.saveState(ctx, db, jobID, state, "")
}

// saveState stores a job's state and sets the columns of also, a fixed
// list of assignments that starts with a comma (or is empty).
func (c *Catalog) saveState(ctx context.Context, db DB, jobID int64, state any, also string) error {
	b, err := json.Marshal(state)
	if err != nil {
		return fmt.Errorf("encode state of job %d: %w", jobID, err)
	}
	tag, err := db.Exec(ctx, `UPDATE `+c.table("jobs")+` SET state = $2`+also+` WHERE job_id = $1`, jobID, b)
	if err != nil {
		return fmt.Errorf("save state of job %d: %w", jobID, err)
	}
	if tag.RowsAffected() != 1 {
		return fmt.Errorf("save state of job %d: %w", jobID, ErrNotManaged)
	}
	return nil
}

// SaveConfig stores a job's options (after a change such as new columns).
func (c *Catalog) SaveConfig(ctx context.Context, db DB, jobID int64, config any) error {
	b, err := json.Marshal(config)
	if err != nil {
		return fmt.Errorf("encode config of job %d: %w", jobID, err)
	}
	if _, err := db.Exec(ctx, `UPDATE `+c.table("jobs")+` SET config = $2 WHERE job_id = $1`, jobID, b); err != nil {
		return fmt.Errorf("save config of job %d: %w", jobID, err)
	}
	return nil
}

// recordSuccess notes a successful run of the job of dest: its time, no
// failure in a row, and, when synced is set, that the destination holds
// every source change committed before it (synced_at never moves back),
// syncLag before the run's start. The one job run calls it after the run's
// own commit.
func (c *Catalog) recordSuccess(ctx context.Context, db DB, dest Table, synced *time.Time, syncLag time.Duration) error {
	_, err := db.Exec(ctx, `UPDATE `+c.table("jobs")+` SET last_run = clock_timestamp(), last_ok = clock_timestamp(),
		last_error = NULL, failures = 0, synced_at = GREATEST(synced_at, $3),
		sync_lag = CASE WHEN $3::timestamptz IS NULL THEN sync_lag ELSE $4::interval END
		WHERE dest_schema = $1 AND dest_table = $2`, dest.Schema, dest.Name, synced, intervalText(&syncLag))
	if err != nil {
		return fmt.Errorf("record success of %s: %w", dest, err)
	}
	return nil
}

// RecordFailure notes a failed run: its time and error text, and one more
// consecutive failure.
func (c *Catalog) RecordFailure(ctx context.Context, db DB, jobID int64, runErr error) error {
	msg := ""
	if runErr != nil {
		msg = runErr.Error()
	}
	_, err := db.Exec(ctx, `UPDATE `+c.table("jobs")+` SET last_run = clock_timestamp(), last_error = $2,
		failures = failures + 1 WHERE job_id = $1`, jobID, msg)
	if err != nil {
		return fmt.Errorf("record failure of job %d: %w", jobID, err)
	}
	return nil
}

// DeleteJob removes the job of destination table dest.
func (c *Catalog) DeleteJob(ctx context.Context, db DB, dest Table) error {
	tag, err := db.Exec(ctx, `DELETE FROM `+c.table("jobs")+` WHERE dest_schema = $1 AND dest_table = $2`, dest.Schema, dest.Name)
	if err != nil {
		return fmt.Errorf("delete job of %s: %w", dest, err)
	}
	if tag.RowsAffected() == 0 {
		return &TableError{Table: dest, Err: ErrNotManaged}
	}
	return nil
}

// PutSource records (or updates) where source name is. The password is
// stripped from dsn before it is stored.
func (c *Catalog) PutSource(ctx context.Context, db DB, name, dsn string) error {
	clean, err := StripPassword(dsn)
	if err != nil {
		return fmt.Errorf("source %q: %w", name, err)
	}
	_, err = db.Exec(ctx, `INSERT INTO `+c.table("sources")+` (name, conninfo) VALUES ($1, $2)
		ON CONFLICT (name) DO UPDATE SET conninfo = EXCLUDED.conninfo, updated_at = now()`, name, clean)
	if err != nil {
		return fmt.Errorf("record source %q: %w", name, err)
	}
	return nil
}

// Source returns the stored (password-free) connection string of source name.
func (c *Catalog) Source(ctx context.Context, db DB, name string) (string, error) {
	var dsn string
	err := db.QueryRow(ctx, `SELECT conninfo FROM `+c.table("sources")+` WHERE name = $1`, name).Scan(&dsn)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", fmt.Errorf("source %q is not in the catalog: record it with PutSource", name)
	}
	return dsn, err
}

package jobfile

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/goccy/go-yaml/ast"

	"github.com/pgmimeo/pgmimeo/internal/dsn"
	"github.com/pgmimeo/pgmimeo/replication"
)

// checker collects every problem of a file, each at its place.
type checker struct {
	path   string
	tree   *ast.File
	lookup func(string) (string, bool)
	errs   []error
}

// fail records a problem of the field at field ("jobs[2].kind").
func (c *checker) fail(field, format string, args ...any) {
	line, col := position(c.tree, "$."+field)
	c.errs = append(c.errs, &Error{Path: c.path, Line: line, Column: col, Field: field, Problem: fmt.Sprintf(format, args...)})
}

func (c *checker) file(f *File) {
	f.Destination = c.conninfo("destination", f.Destination)
	if f.Catalog != "" {
		c.ident("catalog", f.Catalog)
	}
	if f.JobLog.Schema != "" {
		c.ident("job_log.schema", f.JobLog.Schema)
	}
	names := make([]string, 0, len(f.Sources))
	for name := range f.Sources {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		s := f.Sources[name]
		if strings.TrimSpace(name) == "" {
			c.fail("sources", "a source has an empty name")
			continue
		}
		if s.DSN == "" {
			c.fail("sources."+name, "has no dsn: give its connection string (without a password)")
			continue
		}
		s.DSN = c.conninfo("sources."+name+".dsn", s.DSN)
		f.Sources[name] = s
	}
	if len(f.Jobs) == 0 {
		c.errs = append(c.errs, &Error{Path: c.path, Field: "jobs", Problem: "no job is declared: list them under jobs:"})
	}
	dests := map[replication.Table]int{}
	for i := range f.Jobs {
		j := &f.Jobs[i]
		j.Line, _ = position(c.tree, fmt.Sprintf("$.jobs[%d]", i))
		if j.Line == 0 {
			j.Line, _ = position(c.tree, fmt.Sprintf("$.jobs[%d].table", i))
		}
		c.job(f, i, j)
		if dest, err := j.DestTable(); err == nil {
			if first, dup := dests[dest]; dup {
				c.fail(fmt.Sprintf("jobs[%d].dest", i), "destination %s is already the destination of jobs[%d]: give one of them another dest", dest, first)
			}
			dests[dest] = i
		}
	}
}

// refPattern is a ${NAME} reference to an environment variable.
var refPattern = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// conninfo expands the ${NAME} references of a connection string and
// refuses a password written in the file.
func (c *checker) conninfo(field, s string) string {
	if s == "" {
		return ""
	}
	literal := refPattern.ReplaceAllString(s, "")
	if dsn.HasSecret(literal) {
		c.fail(field, "holds a password: keep it out of the file (PGPASSWORD, a pgpass file, a service file, or a ${NAME} environment reference)")
		return ""
	}
	var missing []string
	out := refPattern.ReplaceAllStringFunc(s, func(ref string) string {
		name := refPattern.FindStringSubmatch(ref)[1]
		v, ok := c.lookup(name)
		if !ok {
			missing = append(missing, name)
		}
		return v
	})
	if len(missing) > 0 {
		c.fail(field, "names environment variable %s, which is not set", strings.Join(missing, ", "))
		return ""
	}
	if _, err := dsn.ParsePool(out); err != nil {
		c.fail(field, "is not a connection string pgx accepts (a postgres:// URL or key=value pairs)")
		return ""
	}
	return out
}

func (c *checker) ident(field, name string) {
	if strings.TrimSpace(name) == "" || strings.ContainsRune(name, 0) {
		c.fail(field, "is not a schema name")
	}
}

// kindFields are the fields only some kinds take, and those kinds.
var kindFields = []struct {
	field string
	kinds []string
	set   func(j *Job) bool
}{
	{"skip_unchanged", []string{KindSnapshot}, func(j *Job) bool { return j.SkipUnchanged }},
	{"post_scripts", []string{KindSnapshot}, func(j *Job) bool { return len(j.PostScripts) > 0 }},
	{"truncate_cascade", []string{KindTable}, func(j *Job) bool { return j.TruncateCascade }},
	{"sequences", []string{KindTable}, func(j *Job) bool { return len(j.Sequences) > 0 }},
	{"control", []string{KindInserter, KindUpdater}, func(j *Job) bool { return j.Control != "" }},
	{"control_type", []string{KindInserter, KindUpdater}, func(j *Job) bool { return j.ControlType != "" }},
	{"boundary", []string{KindInserter, KindUpdater}, func(j *Job) bool { return j.Boundary != nil }},
	{"serial_boundary", []string{KindInserter, KindUpdater}, func(j *Job) bool { return j.SerialBoundary != nil }},
	{"late_commit", []string{KindInserter, KindUpdater}, func(j *Job) bool { return j.LateCommit }},
	{"key", []string{KindUpdater, KindDML, KindLogDel}, func(j *Job) bool { return len(j.Key) > 0 }},
	{"capture", []string{KindDML, KindLogDel}, func(j *Job) bool { return j.Capture != "" }},
	{"queue_schema", []string{KindDML, KindLogDel}, func(j *Job) bool { return j.QueueSchema != "" }},
	{"fetch_first", []string{KindDML, KindLogDel}, func(j *Job) bool { return j.FetchFirst }},
	{"slot", []string{KindDML, KindLogDel}, func(j *Job) bool { return j.Slot != "" }},
	{"spool", []string{KindDML, KindLogDel}, func(j *Job) bool { return j.Spool }},
	{"batch_limit", []string{KindInserter, KindUpdater, KindDML, KindLogDel}, func(j *Job) bool { return j.BatchLimit != 0 }},
}

func (c *checker) job(f *File, i int, j *Job) {
	at := func(field string) string { return fmt.Sprintf("jobs[%d].%s", i, field) }
	if !slices.Contains(Kinds, j.Kind) {
		if j.Kind == "" {
			c.fail(fmt.Sprintf("jobs[%d]", i), "has no kind: want one of %s", strings.Join(Kinds, ", "))
		} else {
			c.fail(at("kind"), "unknown kind %q: want one of %s", j.Kind, strings.Join(Kinds, ", "))
		}
	}
	if j.Table == "" {
		c.fail(fmt.Sprintf("jobs[%d]", i), "has no table: name the source table, as schema.table")
	} else if _, err := replication.ParseTable(j.Table); err != nil {
		c.fail(at("table"), "%v", err)
	}
	if j.Dest != "" {
		if _, err := replication.ParseTable(j.Dest); err != nil {
			c.fail(at("dest"), "%v", err)
		}
	}
	switch {
	case j.Source == "" && len(f.Sources) == 1:
		for name := range f.Sources {
			j.Source = name
		}
	case j.Source == "":
		c.fail(fmt.Sprintf("jobs[%d]", i), "has no source: name one of the sources")
	default:
		if _, ok := f.Sources[j.Source]; !ok {
			c.fail(at("source"), "unknown source %q: declare it under sources:", j.Source)
		}
	}
	for _, kf := range kindFields {
		if kf.set(j) && slices.Contains(Kinds, j.Kind) && !slices.Contains(kf.kinds, j.Kind) {
			c.fail(at(kf.field), "%s job has no %s (only %s jobs do)", article(j.Kind), kf.field, strings.Join(kf.kinds, ", "))
		}
	}
	for field, d := range map[string]*Duration{"period": &j.Period, "boundary": j.Boundary,
		"lag_warning": &j.LagWarning, "lag_critical": &j.LagCritical} {
		if d != nil && d.bad != "" {
			c.fail(at(field), "want a duration such as 90s, 5m or 1h30m, not %q", d.bad)
		}
	}
	if j.LockWait != nil && j.LockWait.bad != "" {
		c.fail(at("lock_wait"), `want a positive duration (30s) or "forever", not %q`, j.LockWait.bad)
	}
	if j.BatchLimit < 0 {
		c.fail(at("batch_limit"), "must be 0 (no limit) or positive")
	}
	if (j.Kind == KindInserter || j.Kind == KindUpdater) && j.Control == "" {
		c.fail(fmt.Sprintf("jobs[%d]", i), "%s job needs control: the name of its time or serial control column", article(j.Kind))
	}
	if j.ControlType != "" && j.ControlType != "time" && j.ControlType != "serial" {
		c.fail(at("control_type"), "want time or serial, not %q", j.ControlType)
	}
	if j.Capture != "" && j.Capture != "trigger" && j.Capture != "logical" {
		c.fail(at("capture"), "want trigger or logical, not %q", j.Capture)
	}
	if j.Spool && j.Capture != "logical" {
		c.fail(at("spool"), "needs capture: logical (a trigger queue has nothing to spool)")
	}
	for k, s := range j.Sequences {
		if _, err := replication.ParseTable(s); err != nil {
			c.fail(fmt.Sprintf("jobs[%d].sequences[%d]", i, k), "%v", err)
		}
	}
	if j.Condition != "" {
		if t, err := replication.ParseTable(j.Table); err == nil {
			if _, err := replication.NormalizeCondition(t, j.Condition); err != nil {
				c.fail(at("condition"), "%v", err)
			}
		}
	}
}

// SourceTable returns the job's source table.
func (j *Job) SourceTable() (replication.Table, error) { return replication.ParseTable(j.Table) }

// DestTable returns the job's destination table: Dest, or the source's
// schema and name.
func (j *Job) DestTable() (replication.Table, error) {
	if j.Dest != "" {
		return replication.ParseTable(j.Dest)
	}
	return replication.ParseTable(j.Table)
}

// article puts "a" or "an" before a kind's name.
func article(kind string) string {
	if strings.ContainsRune("aeiou", rune(kind[0])) {
		return "an " + kind
	}
	return "a " + kind
}

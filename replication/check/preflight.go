package check

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/pgmimeo/pgmimeo/internal/sqltext"
	"github.com/pgmimeo/pgmimeo/replication"
)

// Check is the outcome of one requirement.
type Check struct {
	Requirement replication.Requirement
	OK          bool
	// Detail says what was found.
	Detail string
	// Fix is the statement or setting that meets the requirement, for the
	// role or server named in it; "" when OK.
	Fix string
}

// KindReport says whether one replication kind is possible.
type KindReport struct {
	Kind replication.Kind
	// Logical is true for the trigger-free capture of DML and LogDeletes
	// jobs by logical decoding.
	Logical  bool
	Possible bool
	// Missing are the unmet requirements, in check order.
	Missing []Check
}

// PreflightReport is what Preflight found.
type PreflightReport struct {
	Table replication.Table
	// Role is the role the checks ran as.
	Role string
	// Key is the table's key; nil when it has none.
	Key []string
	// TimeControls and SerialControls are the columns that can serve as
	// the control column of a time or a serial incremental job.
	TimeControls   []string
	SerialControls []string
	// Checks are every requirement's outcome.
	Checks []Check
	// Kinds are the verdicts, one per prerequisite of the methods
	// Preflight was given, in their order.
	Kinds []KindReport
}

// PreflightConfig says which kinds to judge and narrows the checks to the
// job being planned.
type PreflightConfig struct {
	// Methods are the kinds to judge: one KindReport per prerequisite
	// each declares (dml.Method, logdel.Method, snapshot.Method,
	// snapshot.TableMethod, incremental.Method). None: the report holds
	// every check and no verdict.
	Methods []replication.Method
	// Columns is the planned column filter: SELECT is needed on these
	// columns only. Default: every column.
	Columns []string
	// Key is the planned key, when it is not the table's own: the key
	// requirement is met by these columns, and the replica identity must
	// carry them. Default: the table's key.
	Key []string
	// Control is the planned control column. Default: any usable one.
	Control string
	// QueueSchema is the source schema planned for DML queue objects: the
	// role must own it or may CREATE in it, or, when it does not exist yet,
	// may create schemas in the database. Default: any schema the role owns
	// or may create in, or the right to create one.
	QueueSchema string
}

// preflightFacts are read in one query as the role being checked.
const preflightFactsSQL = `
SELECT current_user, r.rolsuper, r.rolreplication, current_database(),
       has_schema_privilege(n.oid, 'USAGE'),
       has_table_privilege(c.oid, 'SELECT') OR NOT EXISTS (
           SELECT 1 FROM pg_catalog.pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
             AND (cardinality($2::text[]) = 0 OR a.attname = ANY ($2::text[]))
             AND NOT has_column_privilege(c.oid, a.attnum, 'SELECT')),
       has_table_privilege(c.oid, 'TRIGGER'),
       pg_has_role(c.relowner, 'USAGE'),
       c.relreplident::text,
       ARRAY(SELECT a.attname::text FROM pg_catalog.pg_index i
             JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey::int2[])
             WHERE i.indrelid = c.oid AND CASE c.relreplident WHEN 'd' THEN i.indisprimary WHEN 'i' THEN i.indisreplident ELSE false END
             ORDER BY a.attname::text COLLATE "C"),
       has_database_privilege(current_database(), 'CREATE'),
       current_setting('wal_level'),
       current_setting('max_replication_slots')::int, (SELECT count(*) FROM pg_catalog.pg_replication_slots)::int,
       current_setting('max_wal_senders')::int,
       (SELECT count(*) FROM pg_catalog.pg_stat_replication)::int
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_roles r ON r.rolname = current_user
WHERE c.oid = $1`

type preflightFacts struct {
	role, database                  string
	super, replication              bool
	usage, selectOK, trigger, owner bool
	replIdent                       string
	identCols                       []string
	createDB                        bool
	walLevel                        string
	maxSlots, slots                 int
	maxSenders, senders             int
}

// Preflight checks, as the role src is connected as, which replication
// kinds can replicate source table t, and for each that cannot, which
// grant, role attribute or server setting it lacks, with the statement that
// provides it. It changes nothing. Setup code can call Require on the
// report to fail early with that text.
func Preflight(ctx context.Context, src replication.DB, t replication.Table, cfg *PreflightConfig) (*PreflightReport, error) {
	var c PreflightConfig
	if cfg != nil {
		c = *cfg
	}
	if err := replication.CheckServerVersion(ctx, src, "source", t); err != nil {
		return nil, err
	}
	info, err := replication.Describe(ctx, src, t)
	if err != nil {
		return nil, err
	}
	if _, err := info.Select(c.Columns); err != nil {
		return nil, err
	}
	var f preflightFacts
	cols := c.Columns
	if cols == nil {
		cols = []string{}
	}
	err = src.QueryRow(ctx, preflightFactsSQL, info.OID, cols).Scan(&f.role, &f.super, &f.replication, &f.database,
		&f.usage, &f.selectOK, &f.trigger, &f.owner, &f.replIdent, &f.identCols, &f.createDB, &f.walLevel,
		&f.maxSlots, &f.slots, &f.maxSenders, &f.senders)
	if err != nil {
		return nil, fmt.Errorf("preflight %s: %w", t, err)
	}
	r := &PreflightReport{Table: t, Role: f.role}
	if info.Key != nil {
		r.Key = info.Key.Columns
	}
	for _, col := range info.Columns {
		switch ControlClassOf(col) {
		case ControlTime:
			r.TimeControls = append(r.TimeControls, col.Name)
		case ControlSerial:
			r.SerialControls = append(r.SerialControls, col.Name)
		}
	}

	role := replication.QuoteIdent(f.role)
	add := func(ch Check) {
		if ch.OK {
			ch.Fix = ""
		}
		r.Checks = append(r.Checks, ch)
	}
	add(Check{Requirement: replication.ReqSchemaUsage, OK: f.usage, Detail: boolText(f.usage, "granted", "not granted"),
		Fix: fmt.Sprintf("GRANT USAGE ON SCHEMA %s TO %s;", replication.QuoteIdent(t.Schema), role)})
	add(Check{Requirement: replication.ReqSelect, OK: f.selectOK, Detail: boolText(f.selectOK, "granted", "not granted"),
		Fix: fmt.Sprintf("GRANT SELECT ON %s TO %s;", t, role)})
	key, keyCheck, err := r.keyCheck(info, c.Key)
	if err != nil {
		return nil, err
	}
	add(keyCheck)
	add(r.controlCheck(replication.ReqTimeControl, r.TimeControls, c.Control, info,
		"a timestamp or timestamptz column set to the time of every insert (and update, for an updater)"))
	add(r.controlCheck(replication.ReqSerialControl, r.SerialControls, c.Control, info,
		"a smallint, integer or bigint column that grows with every insert (and update, for an updater)"))
	isView := info.Kind == replication.KindView || info.Kind == replication.KindMatView
	trig := Check{Requirement: replication.ReqTrigger, OK: f.trigger && !isView, Detail: boolText(f.trigger, "granted", "not granted"),
		Fix: fmt.Sprintf("GRANT TRIGGER ON %s TO %s;", t, role)}
	if isView {
		trig.Detail, trig.Fix = "a "+string(info.Kind)+" has no row triggers to capture changes with", "replicate the underlying table instead"
	}
	add(trig)
	qs, err := r.queueSchemaCheck(ctx, src, &c, &f)
	if err != nil {
		return nil, err
	}
	add(qs)
	repl := f.replication || f.super
	add(Check{Requirement: replication.ReqReplication, OK: repl, Detail: boolText(repl, "the role has it", "the role lacks it"),
		Fix: fmt.Sprintf("ALTER ROLE %s REPLICATION;", role)})
	add(Check{Requirement: replication.ReqWalLevel, OK: f.walLevel == "logical", Detail: "wal_level is " + f.walLevel,
		Fix: "ALTER SYSTEM SET wal_level = logical; then restart the server"})
	add(Check{Requirement: replication.ReqSlot, OK: f.slots < f.maxSlots,
		Detail: fmt.Sprintf("%d of max_replication_slots = %d in use", f.slots, f.maxSlots),
		Fix:    fmt.Sprintf("ALTER SYSTEM SET max_replication_slots = %d; then restart the server (or drop an unused slot with pg_drop_replication_slot)", f.slots+1)})
	add(Check{Requirement: replication.ReqWalSender, OK: f.senders < f.maxSenders,
		Detail: fmt.Sprintf("%d of max_wal_senders = %d in use", f.senders, f.maxSenders),
		Fix:    fmt.Sprintf("ALTER SYSTEM SET max_wal_senders = %d; then restart the server", f.senders+1)})
	add(r.publicationCheck(t, &f))
	add(r.replicaIdentityCheck(info, key, &f))
	add(r.replicaIdentityFullCheck(info, &f))
	for _, m := range c.Methods {
		for _, p := range m.Prerequisites {
			r.Kinds = append(r.Kinds, r.judge(p))
		}
	}
	return r, nil
}

// judge says whether the checks meet prerequisite p.
func (r *PreflightReport) judge(p replication.Prerequisite) KindReport {
	kr := KindReport{Kind: p.Kind, Logical: p.Logical, Possible: true}
	for _, req := range p.Requires {
		ch, found := r.check(req)
		if !found {
			ch = Check{Requirement: req, Detail: "not a requirement Preflight knows", Fix: "update pgmimeo"}
		}
		if !ch.OK {
			kr.Possible = false
			kr.Missing = append(kr.Missing, ch)
		}
	}
	return kr
}

func (r *PreflightReport) check(req replication.Requirement) (Check, bool) {
	for _, ch := range r.Checks {
		if ch.Requirement == req {
			return ch, true
		}
	}
	return Check{}, false
}

func boolText(ok bool, yes, no string) string {
	if ok {
		return yes
	}
	return no
}

// keyCheck checks the planned key (its columns exist; whether they may be
// NULL is the kind's own rule) or, when none is planned, the table's own;
// it returns the key columns, nil when none.
func (r *PreflightReport) keyCheck(info *replication.TableInfo, planned []string) ([]string, Check, error) {
	ch := Check{Requirement: replication.ReqKey}
	if len(planned) > 0 {
		for _, k := range planned {
			if _, ok := info.Column(k); !ok {
				return nil, ch, &replication.ColumnError{Table: info.Table, Column: k, Err: replication.ErrColumnNotFound,
					Fix: "the planned key names a column the table does not have (names are case-sensitive)"}
			}
		}
		ch.OK, ch.Detail = true, "planned key "+sqltext.IdentList("", planned)
		return planned, ch, nil
	}
	ch.OK = info.Key != nil
	switch {
	case info.Key != nil && info.Key.Primary:
		ch.Detail = "primary key " + replication.QuoteIdent(info.Key.Index) + " on " + sqltext.IdentList("", info.Key.Columns)
	case info.Key != nil:
		ch.Detail = "unique index " + replication.QuoteIdent(info.Key.Index) + " on " + sqltext.IdentList("", info.Key.Columns)
	case info.Kind == replication.KindView:
		ch.Detail = "a view has no key"
		ch.Fix = "replicate the underlying table, or give the key columns explicitly where the kind allows it"
	default:
		ch.Detail = "no primary key and no unique index on NOT NULL columns"
		ch.Fix = fmt.Sprintf("as the table's owner: ALTER TABLE %s ADD PRIMARY KEY (<key columns>);", info.Table)
	}
	if info.Key == nil {
		return nil, ch, nil
	}
	return info.Key.Columns, ch, nil
}

func (r *PreflightReport) controlCheck(req replication.Requirement, usable []string, want string, info *replication.TableInfo, what string) Check {
	ch := Check{Requirement: req}
	switch {
	case want != "":
		_, found := info.Column(want)
		for _, u := range usable {
			ch.OK = ch.OK || u == want
		}
		if ch.OK {
			ch.Detail = "column " + replication.QuoteIdent(want)
		} else if found {
			ch.Detail = "column " + replication.QuoteIdent(want) + " is not of a usable type"
		} else {
			ch.Detail = "no column " + replication.QuoteIdent(want)
		}
	case len(usable) > 0:
		ch.OK, ch.Detail = true, "columns "+sqltext.IdentList("", usable)
	default:
		ch.Detail = "no usable column"
	}
	ch.Fix = fmt.Sprintf("as the table's owner: add to %s %s", info.Table, what)
	return ch
}

func (r *PreflightReport) queueSchemaCheck(ctx context.Context, src replication.DB, c *PreflightConfig, f *preflightFacts) (Check, error) {
	ch := Check{Requirement: replication.ReqQueueSchema}
	role := replication.QuoteIdent(f.role)
	if c.QueueSchema != "" {
		var exists, owns, create bool
		err := src.QueryRow(ctx, `SELECT true, pg_has_role(nspowner, 'USAGE'), has_schema_privilege(oid, 'CREATE')
			FROM pg_catalog.pg_namespace WHERE nspname = $1`, c.QueueSchema).Scan(&exists, &owns, &create)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return ch, fmt.Errorf("preflight: queue schema: %w", err)
		}
		q := replication.QuoteIdent(c.QueueSchema)
		switch {
		case owns:
			ch.OK, ch.Detail = true, "the role owns schema "+q
		case create:
			ch.OK, ch.Detail = true, "the role may create in schema "+q
		case !exists && (f.createDB || f.super):
			ch.OK, ch.Detail = true, "schema "+q+" does not exist; the role may create it"
		case !exists:
			ch.Detail = "schema " + q + " does not exist and the role may not create schemas"
			ch.Fix = fmt.Sprintf("CREATE SCHEMA %s AUTHORIZATION %s; (or GRANT CREATE ON DATABASE %s TO %s;)", q, role, replication.QuoteIdent(f.database), role)
		default:
			ch.Detail = "the role may not create in schema " + q
			ch.Fix = fmt.Sprintf("GRANT CREATE ON SCHEMA %s TO %s;", q, role)
		}
		return ch, nil
	}
	var owned, creatable []string
	err := src.QueryRow(ctx, `SELECT
		coalesce(array_agg(nspname ORDER BY nspname) FILTER (WHERE pg_has_role(nspowner, 'USAGE')), '{}'),
		coalesce(array_agg(nspname ORDER BY nspname) FILTER (WHERE NOT pg_has_role(nspowner, 'USAGE') AND has_schema_privilege(oid, 'CREATE')), '{}')
		FROM pg_catalog.pg_namespace
		WHERE nspname NOT IN ('pg_catalog', 'information_schema') AND nspname !~ '^pg_(toast|temp_|toast_temp_)'`).Scan(&owned, &creatable)
	if err != nil {
		return ch, fmt.Errorf("preflight: schemas: %w", err)
	}
	switch {
	case len(owned) > 0:
		ch.OK, ch.Detail = true, "the role owns schemas "+sqltext.IdentList("", owned)
	case len(creatable) > 0:
		ch.OK, ch.Detail = true, "the role may create in schemas "+sqltext.IdentList("", creatable)
	case f.createDB || f.super:
		ch.OK, ch.Detail = true, "the role may create a schema"
	default:
		ch.Detail = "the role owns no schema, may create in none, and may not create one"
		ch.Fix = fmt.Sprintf("GRANT CREATE ON DATABASE %s TO %s;", replication.QuoteIdent(f.database), role)
	}
	return ch, nil
}

// publicationCheck: logical capture creates a publication of its own for
// the job, which needs the table's ownership and CREATE on the database.
func (r *PreflightReport) publicationCheck(t replication.Table, f *preflightFacts) Check {
	ch := Check{Requirement: replication.ReqPublication}
	role := replication.QuoteIdent(f.role)
	var fixes []string
	if !f.owner && !f.super {
		fixes = append(fixes, fmt.Sprintf("ALTER TABLE %s OWNER TO %s;", t, role))
	}
	if !f.createDB && !f.super {
		fixes = append(fixes, fmt.Sprintf("GRANT CREATE ON DATABASE %s TO %s;", replication.QuoteIdent(f.database), role))
	}
	switch {
	case len(fixes) == 0:
		ch.OK, ch.Detail = true, "the role may create a publication of the table"
	case len(fixes) == 2:
		ch.Detail = "a publication of a table needs its owner, with CREATE on the database; the role has neither"
	case !f.owner && !f.super:
		ch.Detail = "a publication of a table needs its owner; the role does not own it"
	default:
		ch.Detail = "a publication needs CREATE on the database; the role lacks it"
	}
	ch.Fix = strings.Join(fixes, " ")
	return ch
}

// replicaIdentityCheck: the changes decoded for an update or delete carry
// the old row's replica identity, which must hold the job's key.
func (r *PreflightReport) replicaIdentityCheck(info *replication.TableInfo, key []string, f *preflightFacts) Check {
	ch := Check{Requirement: replication.ReqReplicaIdentity}
	sorted := append([]string(nil), key...)
	sort.Strings(sorted)
	carries := len(key) > 0 && slices.Equal(sorted, f.identCols)
	switch {
	case f.replIdent == "f":
		ch.OK, ch.Detail = true, "REPLICA IDENTITY FULL"
		return ch
	case f.replIdent == "n":
		ch.Detail = "REPLICA IDENTITY NOTHING"
	case carries && f.replIdent == "i":
		ch.OK, ch.Detail = true, "REPLICA IDENTITY USING INDEX on the key"
		return ch
	case carries:
		ch.OK, ch.Detail = true, "the primary key (default replica identity)"
		return ch
	case len(f.identCols) > 0:
		ch.Detail = "the replica identity is " + sqltext.IdentList("", f.identCols) + ", not the key"
	default:
		ch.Detail = "the default replica identity, and no primary key"
	}
	switch {
	case len(key) == 0:
		ch.Fix = fmt.Sprintf("as the table's owner: ALTER TABLE %s ADD PRIMARY KEY (<key columns>);", info.Table)
	case info.Key != nil && slices.Equal(info.Key.Columns, key):
		ch.Fix = fmt.Sprintf("as the table's owner: ALTER TABLE %s REPLICA IDENTITY USING INDEX %s;", info.Table, replication.QuoteIdent(info.Key.Index))
	default:
		ch.Fix = fmt.Sprintf("as the table's owner: ALTER TABLE %s REPLICA IDENTITY USING INDEX <unique index on %s>; (or REPLICA IDENTITY FULL)",
			info.Table, sqltext.IdentList("", key))
	}
	return ch
}

// replicaIdentityFullCheck: a capture that keeps deleted rows needs their
// last values, which only REPLICA IDENTITY FULL decodes.
func (r *PreflightReport) replicaIdentityFullCheck(info *replication.TableInfo, f *preflightFacts) Check {
	ch := Check{Requirement: replication.ReqReplicaIdentityFull, OK: f.replIdent == "f"}
	ch.Detail = map[string]string{"f": "REPLICA IDENTITY FULL", "i": "REPLICA IDENTITY USING INDEX",
		"d": "the default replica identity", "n": "REPLICA IDENTITY NOTHING"}[f.replIdent]
	ch.Fix = fmt.Sprintf("as the table's owner: ALTER TABLE %s REPLICA IDENTITY FULL;", info.Table)
	return ch
}

// Kind returns the verdict for kind k (with logical, its logical-decoding
// variant; only DML and LogDeletes have one).
func (r *PreflightReport) Kind(k replication.Kind, logical bool) (KindReport, bool) {
	for _, kr := range r.Kinds {
		if kr.Kind == k && kr.Logical == logical {
			return kr, true
		}
	}
	return KindReport{}, false
}

// Require returns nil when kind k (logical: by logical decoding) is
// possible, else the error RequireOf returns for it. A kind the report has
// no verdict for (see PreflightConfig.Methods) is an *OptionError.
func (r *PreflightReport) Require(k replication.Kind, logical bool) error {
	kr, ok := r.Kind(k, logical)
	if !ok {
		how := string(k)
		if logical {
			how += " by logical decoding"
		}
		return &replication.OptionError{Field: "PreflightConfig.Methods", Problem: "no method judged " + how}
	}
	return r.requireOf(kr)
}

// RequireOf returns nil when the checks meet prerequisite p, else a
// *TableError naming the table: it wraps ErrNoKey for a missing key or
// replica identity, ErrColumnNotFound for a missing control column,
// ErrBadOption for a server setting or a replica identity of the table, and
// ErrPrivilege for the rest; its Fix lists the statements needed. This is
// how each kind's Setup checks its own prerequisite.
func (r *PreflightReport) RequireOf(p replication.Prerequisite) error {
	return r.requireOf(r.judge(p))
}

func (r *PreflightReport) requireOf(kr KindReport) error {
	if kr.Possible {
		return nil
	}
	var causes []error
	var lacks, fixes []string
	seen := map[error]bool{}
	for _, ch := range kr.Missing {
		lacks = append(lacks, string(ch.Requirement)+" ("+ch.Detail+")")
		fixes = append(fixes, ch.Fix)
		cause := replication.ErrPrivilege
		switch ch.Requirement {
		case replication.ReqKey, replication.ReqReplicaIdentity:
			cause = replication.ErrNoKey
		case replication.ReqTimeControl, replication.ReqSerialControl:
			cause = replication.ErrColumnNotFound
		case replication.ReqWalLevel, replication.ReqSlot, replication.ReqWalSender, replication.ReqReplicaIdentityFull:
			cause = replication.ErrBadOption
		}
		if !seen[cause] {
			seen[cause] = true
			causes = append(causes, cause)
		}
	}
	how := string(kr.Kind)
	if kr.Logical {
		how += " by logical decoding"
	}
	format := "%s replication as role %s needs %s: " + strings.TrimSuffix(strings.Repeat("%w, ", len(causes)), ", ")
	args := []any{how, replication.QuoteIdent(r.Role), strings.Join(lacks, ", ")}
	for _, c := range causes {
		args = append(args, c)
	}
	return &replication.TableError{Table: r.Table, Err: fmt.Errorf(format, args...), Fix: strings.Join(fixes, " ")}
}

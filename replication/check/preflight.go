package check

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/pgmimeo/pgmimeo/internal/sqltext"
	"github.com/pgmimeo/pgmimeo/replication"
)

// Requirement names one thing a replication kind needs of the source.
type Requirement string

// Requirements checked by Preflight.
const (
	ReqSchemaUsage     Requirement = "USAGE on the table's schema"
	ReqSelect          Requirement = "SELECT on the table"
	ReqKey             Requirement = "a primary key or unique index"
	ReqTimeControl     Requirement = "a timestamp control column"
	ReqSerialControl   Requirement = "an integer control column"
	ReqTrigger         Requirement = "TRIGGER on the table"
	ReqQueueSchema     Requirement = "a schema for queue objects"
	ReqReplication     Requirement = "the REPLICATION attribute"
	ReqWalLevel        Requirement = "wal_level = logical"
	ReqSlot            Requirement = "a free replication slot"
	ReqWalSender       Requirement = "a free WAL sender"
	ReqPublication     Requirement = "a publication of the table"
	ReqReplicaIdentity Requirement = "a replica identity with the key"
)

// Check is the outcome of one requirement.
type Check struct {
	Requirement Requirement
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
	// Kinds are the verdicts, one per kind, trigger-based DML and
	// LogDeletes followed by their logical-decoding variants.
	Kinds []KindReport
}

// PreflightConfig narrows the checks to the job being planned. The zero
// value checks what any job of each kind would need.
type PreflightConfig struct {
	// Columns is the planned column filter: SELECT is needed on these
	// columns only. Default: every column.
	Columns []string
	// Control is the planned control column. Default: any usable one.
	Control string
	// QueueSchema is the source schema planned for DML queue objects: the
	// role must own it or may CREATE in it, or, when it does not exist yet,
	// may create schemas in the database. Default: any schema the role owns
	// or may create in, or the right to create one.
	QueueSchema string
	// Publication is the publication planned for logical capture. Default
	// DefaultPublication; any publication that already includes the table
	// also serves.
	Publication string
}

// DefaultPublication is the publication name Preflight suggests for
// logical capture when none is planned.
const DefaultPublication = "pgmimeo"

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
	if c.Publication == "" {
		c.Publication = DefaultPublication
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
		&f.usage, &f.selectOK, &f.trigger, &f.owner, &f.replIdent, &f.createDB, &f.walLevel,
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
	checks := map[Requirement]Check{}
	add := func(ch Check) {
		if ch.OK {
			ch.Fix = ""
		}
		checks[ch.Requirement] = ch
		r.Checks = append(r.Checks, ch)
	}
	add(Check{Requirement: ReqSchemaUsage, OK: f.usage, Detail: boolText(f.usage, "granted", "not granted"),
		Fix: fmt.Sprintf("GRANT USAGE ON SCHEMA %s TO %s;", replication.QuoteIdent(t.Schema), role)})
	add(Check{Requirement: ReqSelect, OK: f.selectOK, Detail: boolText(f.selectOK, "granted", "not granted"),
		Fix: fmt.Sprintf("GRANT SELECT ON %s TO %s;", t, role)})
	add(r.keyCheck(info))
	add(r.controlCheck(ReqTimeControl, r.TimeControls, c.Control, info,
		"a timestamp or timestamptz column set to the time of every insert (and update, for an updater)"))
	add(r.controlCheck(ReqSerialControl, r.SerialControls, c.Control, info,
		"a smallint, integer or bigint column that grows with every insert (and update, for an updater)"))
	isView := info.Kind == replication.KindView || info.Kind == replication.KindMatView
	trig := Check{Requirement: ReqTrigger, OK: f.trigger && !isView, Detail: boolText(f.trigger, "granted", "not granted"),
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
	add(Check{Requirement: ReqReplication, OK: repl, Detail: boolText(repl, "the role has it", "the role lacks it"),
		Fix: fmt.Sprintf("ALTER ROLE %s REPLICATION;", role)})
	add(Check{Requirement: ReqWalLevel, OK: f.walLevel == "logical", Detail: "wal_level is " + f.walLevel,
		Fix: "ALTER SYSTEM SET wal_level = logical; then restart the server"})
	add(Check{Requirement: ReqSlot, OK: f.slots < f.maxSlots,
		Detail: fmt.Sprintf("%d of max_replication_slots = %d in use", f.slots, f.maxSlots),
		Fix:    fmt.Sprintf("ALTER SYSTEM SET max_replication_slots = %d; then restart the server (or drop an unused slot with pg_drop_replication_slot)", f.slots+1)})
	add(Check{Requirement: ReqWalSender, OK: f.senders < f.maxSenders,
		Detail: fmt.Sprintf("%d of max_wal_senders = %d in use", f.senders, f.maxSenders),
		Fix:    fmt.Sprintf("ALTER SYSTEM SET max_wal_senders = %d; then restart the server", f.senders+1)})
	pub, err := r.publicationCheck(ctx, src, t, &c, &f)
	if err != nil {
		return nil, err
	}
	add(pub)
	add(r.replicaIdentityCheck(info, &f))

	base := []Requirement{ReqSchemaUsage, ReqSelect}
	need := func(reqs ...Requirement) []Requirement { return append(append([]Requirement{}, base...), reqs...) }
	for _, k := range []struct {
		kind    replication.Kind
		logical bool
		reqs    []Requirement
	}{
		{replication.KindSnapshot, false, need()},
		{replication.KindTableReload, false, need()},
		{replication.KindInserterTime, false, need(ReqTimeControl)},
		{replication.KindInserterSerial, false, need(ReqSerialControl)},
		{replication.KindUpdaterTime, false, need(ReqKey, ReqTimeControl)},
		{replication.KindUpdaterSerial, false, need(ReqKey, ReqSerialControl)},
		{replication.KindDML, false, need(ReqKey, ReqTrigger, ReqQueueSchema)},
		{replication.KindLogDel, false, need(ReqKey, ReqTrigger, ReqQueueSchema)},
		{replication.KindDML, true, need(ReqKey, ReqReplication, ReqWalLevel, ReqSlot, ReqWalSender, ReqPublication, ReqReplicaIdentity)},
		{replication.KindLogDel, true, need(ReqKey, ReqReplication, ReqWalLevel, ReqSlot, ReqWalSender, ReqPublication, ReqReplicaIdentity)},
	} {
		kr := KindReport{Kind: k.kind, Logical: k.logical, Possible: true}
		for _, req := range k.reqs {
			if ch := checks[req]; !ch.OK {
				kr.Possible = false
				kr.Missing = append(kr.Missing, ch)
			}
		}
		r.Kinds = append(r.Kinds, kr)
	}
	return r, nil
}

func boolText(ok bool, yes, no string) string {
	if ok {
		return yes
	}
	return no
}

func (r *PreflightReport) keyCheck(info *replication.TableInfo) Check {
	ch := Check{Requirement: ReqKey, OK: info.Key != nil}
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
	return ch
}

func (r *PreflightReport) controlCheck(req Requirement, usable []string, want string, info *replication.TableInfo, what string) Check {
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
	ch := Check{Requirement: ReqQueueSchema}
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

func (r *PreflightReport) publicationCheck(ctx context.Context, src replication.DB, t replication.Table, c *PreflightConfig, f *preflightFacts) (Check, error) {
	ch := Check{Requirement: ReqPublication}
	var pubs []string
	err := src.QueryRow(ctx, `SELECT coalesce(array_agg(pubname::text ORDER BY pubname), '{}') FROM pg_catalog.pg_publication_tables
		WHERE schemaname = $1 AND tablename = $2`, t.Schema, t.Name).Scan(&pubs)
	if err != nil {
		return ch, fmt.Errorf("preflight: publications: %w", err)
	}
	var planned bool
	err = src.QueryRow(ctx, `SELECT count(*) > 0 FROM pg_catalog.pg_publication WHERE pubname = $1`, c.Publication).Scan(&planned)
	if err != nil {
		return ch, fmt.Errorf("preflight: publications: %w", err)
	}
	p := replication.QuoteIdent(c.Publication)
	switch {
	case len(pubs) > 0:
		ch.OK, ch.Detail = true, "published by "+sqltext.IdentList("", pubs)
	case planned && (f.owner || f.super):
		ch.OK, ch.Detail = true, "publication "+p+" exists without the table; the role owns the table and may add it"
	case planned:
		ch.Detail = "publication " + p + " does not include the table, and only the table's owner may add it"
		ch.Fix = fmt.Sprintf("as the table's owner: ALTER PUBLICATION %s ADD TABLE %s;", p, t)
	case (f.owner && f.createDB) || f.super:
		ch.OK, ch.Detail = true, "no publication includes the table; the role may create "+p
	default:
		ch.Detail = "no publication includes the table, and only its owner (with CREATE on the database) may create one"
		ch.Fix = fmt.Sprintf("as the table's owner: CREATE PUBLICATION %s FOR TABLE %s;", p, t)
	}
	return ch, nil
}

func (r *PreflightReport) replicaIdentityCheck(info *replication.TableInfo, f *preflightFacts) Check {
	ch := Check{Requirement: ReqReplicaIdentity}
	switch f.replIdent {
	case "f":
		ch.OK, ch.Detail = true, "REPLICA IDENTITY FULL"
	case "i":
		ch.OK, ch.Detail = true, "REPLICA IDENTITY USING INDEX"
	case "d":
		if info.Key != nil && info.Key.Primary {
			ch.OK, ch.Detail = true, "the primary key (default replica identity)"
			return ch
		}
		ch.Detail = "the default replica identity, and no primary key"
		if info.Key != nil {
			ch.Fix = fmt.Sprintf("as the table's owner: ALTER TABLE %s REPLICA IDENTITY USING INDEX %s;", info.Table, replication.QuoteIdent(info.Key.Index))
		} else {
			ch.Fix = fmt.Sprintf("as the table's owner: ALTER TABLE %s ADD PRIMARY KEY (<key columns>);", info.Table)
		}
	default:
		ch.Detail = "REPLICA IDENTITY NOTHING"
		ch.Fix = fmt.Sprintf("as the table's owner: ALTER TABLE %s REPLICA IDENTITY DEFAULT; (with a primary key)", info.Table)
	}
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
// possible, else a *TableError naming the table, wrapping ErrNoKey for a
// missing key, ErrColumnNotFound for a missing control column and
// ErrPrivilege for the rest, whose Fix lists the statements needed.
func (r *PreflightReport) Require(k replication.Kind, logical bool) error {
	kr, ok := r.Kind(k, logical)
	if !ok {
		return &replication.OptionError{Field: "kind", Problem: fmt.Sprintf("no %s replication by logical decoding", k)}
	}
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
		case ReqKey:
			cause = replication.ErrNoKey
		case ReqTimeControl, ReqSerialControl:
			cause = replication.ErrColumnNotFound
		}
		if !seen[cause] {
			seen[cause] = true
			causes = append(causes, cause)
		}
	}
	how := string(k)
	if logical {
		how += " by logical decoding"
	}
	format := "%s replication as role %s needs %s: " + strings.TrimSuffix(strings.Repeat("%w, ", len(causes)), ", ")
	args := []any{how, replication.QuoteIdent(r.Role), strings.Join(lacks, ", ")}
	for _, c := range causes {
		args = append(args, c)
	}
	return &replication.TableError{Table: r.Table, Err: fmt.Errorf(format, args...), Fix: strings.Join(fixes, " ")}
}

package incremental

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/pgmimeo/pgmimeo/internal/sqltext"
	"github.com/pgmimeo/pgmimeo/replication"
)

// Type OIDs of the control column types.
const (
	oidInt2        = 21
	oidInt4        = 23
	oidInt8        = 20
	oidTimestamp   = 1114
	oidTimestamptz = 1184
)

// controlTypeOf returns the control type a column of type oid can serve.
func controlTypeOf(oid uint32) (ControlType, bool) {
	switch oid {
	case oidInt2, oidInt4, oidInt8:
		return Serial, true
	case oidTimestamp, oidTimestamptz:
		return Time, true
	}
	return "", false
}

// control is the resolved control column of a job.
type control struct {
	col replication.Column
	typ ControlType
}

// ident is the quoted column name.
func (c control) ident() string { return replication.QuoteIdent(c.col.Name) }

// render returns SQL that turns expr (of the control column's type) into
// the canonical text kept in state: independent of DateStyle and TimeZone,
// and read back by the type's input function alike on every server. The
// text of an infinite timestamp is the empty string (refused by checkValue).
func (c control) render(expr string) string {
	switch c.col.TypeOID {
	case oidTimestamptz:
		return fmt.Sprintf(`CASE WHEN NOT isfinite(%[1]s) THEN '' ELSE to_char((%[1]s) AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00' END`, expr)
	case oidTimestamp:
		return fmt.Sprintf(`CASE WHEN NOT isfinite(%[1]s) THEN '' ELSE to_char(%[1]s, 'YYYY-MM-DD HH24:MI:SS.US') END`, expr)
	default:
		return "(" + expr + ")::text"
	}
}

// lit returns the canonical text v as a literal of the control column's type.
func (c control) lit(v string) string { return sqltext.Literal(v) + "::" + c.col.Type }

// minus returns SQL for the literal v less n units of the control type:
// microseconds for Time, values for Serial.
func (c control) minus(v string, n int64) string {
	if c.typ == Time {
		return fmt.Sprintf("(%s - interval '%d microseconds')", c.lit(v), n)
	}
	return fmt.Sprintf("(%s - %d)", c.lit(v), n)
}

// checkValue refuses the text of an infinite timestamp, which would stop a
// job for ever.
func (c control) checkValue(t replication.Table, v string) error {
	if v == "" {
		return &replication.ColumnError{Table: t, Column: c.col.Name, Err: replication.ErrBadOption,
			Fix: "the control column holds 'infinity': remove such rows or exclude them with the condition"}
	}
	return nil
}

// Value is one value of a control column, for RepullRange. The zero Value
// is no bound.
type Value struct {
	typ ControlType
	t   time.Time
	n   int64
}

// TimeValue is a value of a Time job's control column. For a timestamptz
// column it is the instant t; for a timestamp (without time zone) column it
// is t's clock reading in t's location.
func TimeValue(t time.Time) Value { return Value{typ: Time, t: t} }

// SerialValue is a value of a Serial job's control column.
func SerialValue(n int64) Value { return Value{typ: Serial, n: n} }

// IsZero reports whether v is no bound.
func (v Value) IsZero() bool { return v.typ == "" }

// String returns the value as text.
func (v Value) String() string {
	switch v.typ {
	case Time:
		return v.t.Format(time.RFC3339Nano)
	case Serial:
		return strconv.FormatInt(v.n, 10)
	}
	return "(none)"
}

// text returns v in canonical form for control column c; field names the
// argument for the error when v is of the wrong type.
func (v Value) text(c control, field string) (string, error) {
	if v.typ != c.typ {
		return "", &replication.OptionError{Field: field,
			Problem: fmt.Sprintf("is a %s value but the job's control column is %s: use %sValue", v.typ, c.typ, strings.ToUpper(string(c.typ[:1]))+string(c.typ[1:]))}
	}
	if v.typ == Serial {
		return strconv.FormatInt(v.n, 10), nil
	}
	if c.col.TypeOID == oidTimestamptz {
		return v.t.UTC().Format("2006-01-02 15:04:05.999999") + "+00", nil
	}
	return v.t.Format("2006-01-02 15:04:05.999999"), nil
}

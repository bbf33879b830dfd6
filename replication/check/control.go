package check

import "github.com/pgmimeo/pgmimeo/replication"

// ControlClass says how a column can serve as the control column of an
// incremental job.
type ControlClass string

// Control column classes.
const (
	// ControlNone: the column's type cannot be a control column.
	ControlNone ControlClass = ""
	// ControlTime: timestamp or timestamp with time zone, for the time-based
	// inserter and updater.
	ControlTime ControlClass = "time"
	// ControlSerial: smallint, integer or bigint, for the serial-based
	// inserter and updater.
	ControlSerial ControlClass = "serial"
)

// Type OIDs of the control column types (fixed in every PostgreSQL).
const (
	oidInt2        = 21
	oidInt4        = 23
	oidInt8        = 20
	oidTimestamp   = 1114
	oidTimestampTZ = 1184
)

// ControlClassOf returns how column c can serve as a control column.
func ControlClassOf(c replication.Column) ControlClass {
	switch c.TypeOID {
	case oidTimestamp, oidTimestampTZ:
		return ControlTime
	case oidInt2, oidInt4, oidInt8:
		return ControlSerial
	}
	return ControlNone
}

// offsetType is the SQL type of an offset from a control value of the
// class: an interval for time, a bigint for serial columns.
func (c ControlClass) offsetType() string {
	if c == ControlTime {
		return "interval"
	}
	return "bigint"
}

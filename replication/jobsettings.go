package replication

import (
	"encoding/json"
	"fmt"
)

// JobSettings are the settings of a catalog job that the maintenance checks
// need: which columns and rows it replicates and, for incremental jobs, its
// control column.
type JobSettings struct {
	// Columns is the job's column filter; empty means every column.
	Columns []string
	// Condition is the job's row condition in mimeo's form; empty means
	// every row.
	Condition string
	// Control is the control column of an incremental job; empty otherwise.
	Control string
	// Key is the key a DML or LogDeletes job replicates by, in key order;
	// empty for other kinds, whose rows are identified by the source's key.
	Key []string
}

// jobConfigFields are the keys read from Job.Config. encoding/json matches
// keys without regard to case, so a config that embeds Options as Go
// marshals it ("Columns", "Condition") is read as well as one written with
// lower-case keys.
type jobConfigFields struct {
	Columns       []string `json:"columns"`
	Filter        []string `json:"filter"`
	Condition     string   `json:"condition"`
	Control       string   `json:"control"`
	ControlColumn string   `json:"control_column"`
	Key           []string `json:"key"`
}

// Settings reads the job's settings from its Config: the keys "columns"
// (an array of column names; for incremental, DML and LogDeletes jobs
// "filter"), "condition" (text), "control" or "control_column" (text) and,
// for DML and LogDeletes jobs, "key" (an array of column names), matched
// without regard to case; absent keys
// leave the zero value. Replication kinds store these options under these
// keys (a config embedding Options as encoding/json writes it does), so
// that maintenance checks and workers need not know the kind's package. A
// Config that is not a JSON object is an error naming the job's
// destination.
func (j *Job) Settings() (JobSettings, error) {
	var f jobConfigFields
	if len(j.Config) > 0 {
		if err := json.Unmarshal(j.Config, &f); err != nil {
			return JobSettings{}, &TableError{Table: j.Dest, Err: fmt.Errorf("read job config: %w", err),
				Fix: "store the job's config as a JSON object with columns, condition and control keys"}
		}
	}
	s := JobSettings{Columns: f.Columns, Condition: f.Condition, Control: f.Control}
	if s.Control == "" {
		s.Control = f.ControlColumn
	}
	// Incremental and DML jobs store the columns they resolved at setup under
	// "columns" and the caller's filter under "filter": the filter is what
	// says whether a new source column is meant to be left out.
	switch j.Kind {
	case KindInserterTime, KindInserterSerial, KindUpdaterTime, KindUpdaterSerial, KindDML, KindLogDel:
		s.Columns = f.Filter
	}
	// DML and LogDeletes jobs store the key they replicate by under "key".
	if j.Kind == KindDML || j.Kind == KindLogDel {
		s.Key = f.Key
	}
	return s, nil
}

// Incremental reports whether a job of kind k pulls by a control column.
func (k Kind) Incremental() bool {
	switch k {
	case KindInserterTime, KindInserterSerial, KindUpdaterTime, KindUpdaterSerial:
		return true
	}
	return false
}

package snapshot

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/pgmimeo/pgmimeo/internal/catalog"
)

// statsSig is the change signature of the tables a pull reads. Two equal
// signatures mean that no insert, update, delete or truncate reached those
// tables in between:
//
//   - Ins, Upd, Del sum pg_stat_all_tables' n_tup_ins, n_tup_upd and
//     n_tup_del; they only grow, so any difference (a decrease comes from a
//     statistics reset) counts as a change;
//   - Rels lists each table's OID and file node, which TRUNCATE (invisible
//     to the counters), VACUUM FULL, CLUSTER, re-creating a table and
//     attaching or detaching a partition all change;
//   - Reset is the database's stats_reset time, which every statistics
//     reset (whole database or a single table) moves, so a reset followed
//     by exactly as many changes as before cannot fool the check;
//   - Start is the server's start time: statistics are discarded after a
//     crash, so a restart forces one pull.
type statsSig struct {
	Ins   int64  `json:"ins"`
	Upd   int64  `json:"upd"`
	Del   int64  `json:"del"`
	Rels  string `json:"rels"`
	Reset string `json:"reset"`
	Start string `json:"start"`
}

// equal reports whether s and o are the same signature; nil equals nothing.
func (s *statsSig) equal(o *statsSig) bool {
	return s != nil && o != nil && *s == *o
}

// statsSQL computes a statsSig over the relations named by the two arrays
// (schemas and names).
const statsSQL = `
WITH rel AS (
  SELECT c.oid
  FROM unnest($1::text[], $2::text[]) AS r(nsp, name)
  JOIN pg_catalog.pg_namespace n ON n.nspname = r.nsp
  JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = r.name
)
SELECT COALESCE(sum(s.n_tup_ins), 0)::int8, COALESCE(sum(s.n_tup_upd), 0)::int8, COALESCE(sum(s.n_tup_del), 0)::int8,
       COALESCE(string_agg(rel.oid::text || ':' || COALESCE(pg_catalog.pg_relation_filenode(rel.oid)::text, '-'), ',' ORDER BY rel.oid), ''),
       COALESCE((SELECT d.stats_reset::text FROM pg_catalog.pg_stat_database d WHERE d.datname = current_database()), ''),
       pg_catalog.pg_postmaster_start_time()::text,
       pg_catalog.current_setting('track_counts')::bool,
       count(*)
FROM rel LEFT JOIN pg_catalog.pg_stat_all_tables s ON s.relid = rel.oid`

// readStats returns the change signature of the tables that query reads,
// or a reason why statistics cannot vouch for it. It must be called before
// the pull's snapshot is taken: a change committed in between is then both
// in the pull and in the next signature, so it is pulled again rather than
// missed.
func readStats(ctx context.Context, db catalog.Querier, query string) (*statsSig, string, error) {
	var plan []byte
	if err := db.QueryRow(ctx, "EXPLAIN (VERBOSE, FORMAT JSON) "+query).Scan(&plan); err != nil {
		return nil, "", fmt.Errorf("plan source query: %w", err)
	}
	rels, why, err := planRelations(plan)
	if err != nil || why != "" {
		return nil, why, err
	}
	schemas := make([]string, len(rels))
	names := make([]string, len(rels))
	for i, r := range rels {
		schemas[i], names[i] = r[0], r[1]
	}
	var s statsSig
	var tracked bool
	var found int
	err = db.QueryRow(ctx, statsSQL, schemas, names).Scan(&s.Ins, &s.Upd, &s.Del, &s.Rels, &s.Reset, &s.Start, &tracked, &found)
	if err != nil {
		return nil, "", fmt.Errorf("read source statistics: %w", err)
	}
	if !tracked {
		return nil, "track_counts is off on the source", nil
	}
	if found != len(rels) {
		return nil, "a table the source query reads was not found in the catalog", nil
	}
	return &s, "", nil
}

// planNode is the part of an EXPLAIN (FORMAT JSON, VERBOSE) node we read.
type planNode struct {
	NodeType string     `json:"Node Type"`
	Relation string     `json:"Relation Name"`
	Schema   string     `json:"Schema"`
	Plans    []planNode `json:"Plans"`
}

// unvouched are scans whose rows statistics cannot vouch for.
var unvouched = map[string]string{
	"Function Scan":         "the source query reads a function",
	"Table Function Scan":   "the source query reads a table function",
	"Foreign Scan":          "the source query reads a foreign table",
	"Custom Scan":           "the source query uses a custom scan",
	"Sample Scan":           "the source query samples rows",
	"Named Tuplestore Scan": "the source query reads a tuplestore",
}

// planRelations lists the (schema, name) of every relation a plan scans,
// deduplicated, or says why the plan cannot be vouched for.
func planRelations(plan []byte) ([][2]string, string, error) {
	var top []struct {
		Plan planNode `json:"Plan"`
	}
	if err := json.Unmarshal(plan, &top); err != nil || len(top) != 1 {
		return nil, "", fmt.Errorf("read source query plan: %v", err)
	}
	seen := map[[2]string]bool{}
	var out [][2]string
	why := ""
	var walk func(n planNode)
	walk = func(n planNode) {
		if r, bad := unvouched[n.NodeType]; bad && why == "" {
			why = r
		}
		if n.Relation != "" {
			k := [2]string{n.Schema, n.Relation}
			if !seen[k] {
				seen[k] = true
				out = append(out, k)
			}
		}
		for _, c := range n.Plans {
			walk(c)
		}
	}
	walk(top[0].Plan)
	if why == "" && len(out) == 0 {
		why = "the source query reads no table"
	}
	return out, why, nil
}

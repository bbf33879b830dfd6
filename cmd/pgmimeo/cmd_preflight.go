package main

import (
	"context"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	"github.com/pgmimeo/pgmimeo/replication"
	"github.com/pgmimeo/pgmimeo/replication/check"
)

// kindVerdict is preflight's answer for one kind of one table.
type kindVerdict struct {
	Table    string   `json:"table"`
	Source   string   `json:"source"`
	Kind     string   `json:"kind"`
	Logical  bool     `json:"logical,omitempty"`
	Declared bool     `json:"declared,omitempty"`
	Possible bool     `json:"possible"`
	Missing  []string `json:"missing,omitempty"`
	Fix      []string `json:"fix,omitempty"`
}

func preflightCmd(a *app) *cobra.Command {
	var sourceName, sourceDSN string
	c := &cobra.Command{
		Use:   "preflight [source-table…]",
		Short: "Say which kinds the source role may run, and the grant each missing one needs",
		Long: `preflight checks, as the role the source connection logs in as, which
replication kinds can replicate each source table, and for each kind that
cannot, what it lacks and the statement (grant, role attribute or server
setting) that provides it. It changes nothing. Without table arguments it
checks every job of the job file, narrowed to what each job declares
(columns, key, control column, queue schema); its declared kind is marked.`,
		Example: "  pgmimeo preflight -f jobs.yaml\n  pgmimeo preflight --source-dsn postgres://repl@db1/shop public.orders",
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if err := a.load(false); err != nil {
				return err
			}
			type planned struct {
				source   string
				table    replication.Table
				declared string
				cfg      check.PreflightConfig
			}
			var todo []planned
			switch {
			case len(args) > 0:
				for _, arg := range args {
					t, err := replication.ParseTable(arg)
					if err != nil {
						return usagef("%q: %v", arg, err)
					}
					todo = append(todo, planned{source: sourceName, table: t})
				}
			case a.jf != nil:
				for i := range a.jf.Jobs {
					j := &a.jf.Jobs[i]
					t, _ := j.SourceTable()
					todo = append(todo, planned{source: j.Source, table: t, declared: j.Kind, cfg: check.PreflightConfig{
						Columns: j.Columns, Key: j.Key, Control: j.Control, QueueSchema: j.QueueSchema}})
				}
			default:
				return usagef("name the source tables (with --source or --source-dsn), or give the job file with -f")
			}
			var out []kindVerdict
			var rows [][]string
			for _, p := range todo {
				src, err := a.preflightSource(ctx, p.source, sourceDSN)
				if err != nil {
					return err
				}
				cfg := p.cfg
				cfg.Methods = methods
				rep, err := check.Preflight(ctx, src, p.table, &cfg)
				if err != nil {
					return err
				}
				for _, k := range rep.Kinds {
					v := kindVerdict{Table: p.table.String(), Source: p.source, Kind: fileKind(k.Kind), Logical: k.Logical, Possible: k.Possible}
					v.Declared = v.Kind == p.declared
					for _, m := range k.Missing {
						v.Missing = append(v.Missing, string(m.Requirement)+": "+m.Detail)
						if m.Fix != "" {
							v.Fix = append(v.Fix, m.Fix)
						}
					}
					out = append(out, v)
					kind := v.Kind
					if v.Logical {
						kind += " (logical)"
					}
					if v.Declared {
						kind += " *"
					}
					verdict := "yes"
					if !v.Possible {
						verdict = "no: " + strings.Join(v.Missing, "; ")
						if len(v.Fix) > 0 {
							verdict += " | fix: " + strings.Join(v.Fix, " ")
						}
					}
					rows = append(rows, []string{v.Table, kind, verdict})
				}
			}
			return a.print(out, []string{"TABLE", "KIND", "POSSIBLE"}, rows)
		},
	}
	c.Flags().StringVar(&sourceName, "source", "", "the job file's source of the named tables (default: its only source)")
	c.Flags().StringVar(&sourceDSN, "source-dsn", "", "a source connection string, without a password, instead of the job file's")
	return c
}

// preflightSource opens the source to check: --source-dsn, else the job
// file's source name (its only one when name is "").
func (a *app) preflightSource(ctx context.Context, name, connString string) (*pgxpool.Pool, error) {
	if connString != "" {
		if p, ok := a.sources["\x00--source-dsn"]; ok {
			return p, nil
		}
		p, err := a.open(ctx, "--source-dsn", connString, 2)
		if err != nil {
			return nil, err
		}
		if a.sources == nil {
			a.sources = map[string]*pgxpool.Pool{}
		}
		a.sources["\x00--source-dsn"] = p
		return p, nil
	}
	if name == "" {
		names := a.sourceNames()
		if len(names) != 1 {
			return nil, usagef("say which source with --source (the job file declares %d), or give --source-dsn", len(names))
		}
		name = names[0]
	}
	return a.source(ctx, name)
}

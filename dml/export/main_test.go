package export_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/dml/export"
	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/replication"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var (
	ctx     = context.Background()
	targetA = export.Target{Host: "dr.example.com", Database: "reporting"}
	targetB = export.Target{Host: "partner.example.net", Database: "feed"}
)

// tb is a test's source and destination with an exporter and an importer
// and a directory the files travel through.
type tb struct {
	*pgtest.Bundle
	t     *testing.T
	table replication.Table
	ex    *export.Exporter
	im    *export.Importer
	dir   string
}

// setup creates the table on both sides with ddl (run on the source),
// destDDL (on the destination; ddl when empty), rows inserted by fill on
// the source, and installs the exporter and importer.
func setup(t *testing.T, table replication.Table, ddl, destDDL, fill string, cfg *export.ExporterConfig) *tb {
	t.Helper()
	t.Parallel()
	b := pgtest.Setup(t)
	pgtest.MustExec(t, b.Source, ddl)
	if destDDL == "" {
		destDDL = ddl
	}
	pgtest.MustExec(t, b.Dest, destDDL)
	if fill != "" {
		pgtest.MustExec(t, b.Source, fill)
	}
	ex, err := export.NewExporter(b.Source, table, cfg)
	require.NoError(t, err)
	require.NoError(t, ex.Install(ctx))
	im, err := export.NewImporter(b.Dest, nil)
	require.NoError(t, err)
	require.NoError(t, im.Install(ctx))
	return &tb{Bundle: b, t: t, table: table, ex: ex, im: im, dir: t.TempDir()}
}

// export writes a batch for target and fails on error.
func (b *tb) export(target export.Target) *export.ExportResult {
	b.t.Helper()
	res, err := b.ex.Export(ctx, target, b.dir)
	require.NoError(b.t, err)
	return res
}

// ship exports, imports and acknowledges one batch for target.
func (b *tb) ship(target export.Target) (*export.ExportResult, *export.ImportResult) {
	b.t.Helper()
	ex := b.export(target)
	require.False(b.t, ex.Skipped)
	im, err := b.im.Import(ctx, ex.Dir)
	require.NoError(b.t, err)
	ok, err := b.ex.Acknowledge(ctx, im.AckPath)
	require.NoError(b.t, err)
	require.True(b.t, ok)
	return ex, im
}

// same checks that query returns the same rows on both sides.
func (b *tb) same(query string) {
	b.t.Helper()
	src := pgtest.Rows(b.t, b.Source, query)
	require.NotEmpty(b.t, src)
	require.Equal(b.t, src, pgtest.Rows(b.t, b.Dest, query))
}

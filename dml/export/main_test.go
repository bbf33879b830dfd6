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
	return &tb{Bundle: b, table: table, ex: ex, im: im, dir: t.TempDir()}
}

// export writes a batch for target and fails on error.
func (b *tb) export(t testing.TB, target export.Target) *export.ExportResult {
	t.Helper()
	res, err := b.ex.Export(ctx, target, b.dir)
	require.NoError(t, err)
	return res
}

// ship exports, imports and acknowledges one batch for target.
func (b *tb) ship(t testing.TB, target export.Target) (*export.ExportResult, *export.ImportResult) {
	t.Helper()
	ex := b.export(t, target)
	require.False(t, ex.Skipped)
	im, err := b.im.Import(ctx, ex.Dir)
	require.NoError(t, err)
	ok, err := b.ex.Acknowledge(ctx, im.AckPath)
	require.NoError(t, err)
	require.True(t, ok)
	return ex, im
}

// same checks that query returns the same rows on both sides.
func (b *tb) same(t testing.TB, query string) {
	t.Helper()
	src := pgtest.Rows(t, b.Source, query)
	require.NotEmpty(t, src)
	require.Equal(t, src, pgtest.Rows(t, b.Dest, query))
}

package replication_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgmimeo/pgmimeo/internal/pgtest"
	"github.com/pgmimeo/pgmimeo/replication"
)

func TestKeyDetection(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		ddl     string
		want    []string
		index   string
		primary bool
	}{
		{name: "single primary key", ddl: `CREATE TABLE k (id int PRIMARY KEY, v text)`,
			want: []string{"id"}, index: "k_pkey", primary: true},
		{name: "composite primary key in key order", ddl: `CREATE TABLE k (col1 int, col2 int, v text, PRIMARY KEY (col2, col1))`,
			want: []string{"col2", "col1"}, index: "k_pkey", primary: true},
		{name: "primary key wins over unique", ddl: `CREATE TABLE k (a int NOT NULL, id int PRIMARY KEY);
			CREATE UNIQUE INDEX aaa ON k (a)`, want: []string{"id"}, index: "k_pkey", primary: true},
		{name: "alphabetically first NOT NULL unique index", ddl: `CREATE TABLE k (a int NOT NULL, b int NOT NULL, c int);
			CREATE UNIQUE INDEX k_zeta ON k (a); CREATE UNIQUE INDEX k_alpha ON k (b, a)`,
			want: []string{"b", "a"}, index: "k_alpha"},
		{name: "nullable unique index ignored", ddl: `CREATE TABLE k (a int NOT NULL, b int);
			CREATE UNIQUE INDEX k_a ON k (b); CREATE UNIQUE INDEX k_b ON k (a)`,
			want: []string{"a"}, index: "k_b"},
		{name: "expression unique index ignored", ddl: `CREATE TABLE k (a text NOT NULL, b int NOT NULL);
			CREATE UNIQUE INDEX k_a ON k (lower(a)); CREATE UNIQUE INDEX k_b ON k (b)`,
			want: []string{"b"}, index: "k_b"},
		{name: "partial unique index ignored", ddl: `CREATE TABLE k (a int NOT NULL, b int NOT NULL);
			CREATE UNIQUE INDEX k_a ON k (a) WHERE a > 0; CREATE UNIQUE INDEX k_b ON k (b)`,
			want: []string{"b"}, index: "k_b"},
		{name: "include columns are not key columns", ddl: `CREATE TABLE k (a int NOT NULL, b int);
			CREATE UNIQUE INDEX k_a ON k (a) INCLUDE (b)`,
			want: []string{"a"}, index: "k_a"},
		{name: "unique constraint", ddl: `CREATE TABLE k (a int NOT NULL, CONSTRAINT k_uq UNIQUE (a))`,
			want: []string{"a"}, index: "k_uq"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			b := pgtest.Setup(t)
			pgtest.MustExec(t, b.Source, c.ddl)
			info, err := replication.Describe(context.Background(), b.Source, replication.T("public", "k"))
			require.NoError(t, err)
			got, err := info.KeyColumns()
			require.NoError(t, err)
			require.Equal(t, c.want, got)
			require.Equal(t, c.index, info.Key.Index)
			require.Equal(t, c.primary, info.Key.Primary)
		})
	}
}

func TestNoUsableKey(t *testing.T) {
	t.Parallel()
	b := pgtest.Setup(t)
	pgtest.MustExec(t, b.Source, `CREATE SCHEMA "Odd Schema"; CREATE TABLE "Odd Schema"."No-Key" (a int, b text);
		CREATE UNIQUE INDEX ON "Odd Schema"."No-Key" (a); CREATE UNIQUE INDEX ON "Odd Schema"."No-Key" (lower(b))`)
	tbl := replication.T("Odd Schema", "No-Key")
	info, err := replication.Describe(context.Background(), b.Source, tbl)
	require.NoError(t, err)
	_, err = info.KeyColumns()
	require.ErrorIs(t, err, replication.ErrNoKey)
	var te *replication.TableError
	require.True(t, errors.As(err, &te))
	require.Equal(t, tbl, te.Table)
	require.Contains(t, err.Error(), `"Odd Schema"."No-Key"`)
	require.Contains(t, err.Error(), "add a primary key")
}

func TestDescribe(t *testing.T) {
	t.Parallel()
	b := pgtest.Setup(t)
	ctx := context.Background()
	pgtest.MustExec(t, b.Source, `CREATE TYPE mood AS ENUM ('sad', 'ok');
		CREATE TABLE d (id bigint PRIMARY KEY, name varchar(20) NOT NULL, tags text[], m mood, gone int, price numeric(10,2));
		ALTER TABLE d DROP COLUMN gone;
		CREATE VIEW dv AS SELECT id, name FROM d;
		CREATE UNIQUE INDEX d_name ON d (lower(name)) WHERE price > 0`)
	info, err := replication.Describe(ctx, b.Source, replication.T("public", "d"))
	require.NoError(t, err)
	var got []string
	for _, c := range info.Columns {
		got = append(got, c.Name+" "+c.Type)
	}
	require.Equal(t, []string{"id bigint", "name character varying(20)", "tags text[]", "m mood", "price numeric(10,2)"}, got)
	require.True(t, info.Columns[1].NotNull)
	require.True(t, info.Columns[2].Builtin, "text[] is built in")
	require.False(t, info.Columns[3].Builtin, "an enum is not")

	sel, err := info.Select([]string{"price", "id"})
	require.NoError(t, err)
	require.Equal(t, "id", sel[0].Name, "filter keeps table order")
	_, err = info.Select([]string{"id", "nope"})
	require.ErrorIs(t, err, replication.ErrColumnNotFound)
	require.ErrorContains(t, err, `"nope"`)
	require.ErrorIs(t, replication.RequireColumns(info.Table, sel[1:], []string{"id"}, "key"), replication.ErrFilterDropsKey)

	ix, err := info.Indexes(ctx, b.Source)
	require.NoError(t, err)
	require.Len(t, ix, 2)
	require.True(t, ix[0].Primary)
	require.Equal(t, "USING btree (lower((name)::text)) WHERE (price > (0)::numeric)", ix[1].Body)

	v, err := replication.Describe(ctx, b.Source, replication.T("public", "dv"))
	require.NoError(t, err)
	require.True(t, v.IsView())
	_, err = v.KeyColumns()
	require.ErrorIs(t, err, replication.ErrNoKey)

	_, err = replication.Describe(ctx, b.Source, replication.T("public", "absent"))
	require.ErrorIs(t, err, replication.ErrTableNotFound)
	require.ErrorContains(t, err, `"public"."absent"`)
}

package pgstore_test

import (
	"context"
	"io/fs"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/pgstore"
	"github.com/tasklife/tasklife/pgstore/pgtest"
)

// TestMigrateConcurrently: instances starting at once all migrate without
// error, each migration is applied once, and migrating again does nothing.
func TestMigrateConcurrently(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	schema := pgtest.SchemaName(t, pool)
	const instances = 6
	errs := make([]error, instances)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range instances {
		store, err := pgstore.New(pool, pgstore.WithSchema(schema))
		require.NoError(t, err)
		wg.Go(func() {
			<-start
			errs[i] = store.Migrate(ctx)
		})
	}
	close(start)
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}

	store, err := pgstore.New(pool, pgstore.WithSchema(schema))
	require.NoError(t, err)
	require.NoError(t, store.Migrate(ctx))
	files, err := fs.Glob(pgstore.Migrations, "migrations/*.sql")
	require.NoError(t, err)
	var applied, distinct int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*), count(DISTINCT version) FROM `+
		pgx.Identifier{schema, "schema_migrations"}.Sanitize()).Scan(&applied, &distinct))
	require.Equal(t, len(files), applied)
	require.Equal(t, len(files), distinct)

	_, err = tasklife.New(store).Create(ctx, tasklife.NewTask{AppGUID: "app", Command: "true"})
	require.NoError(t, err)
}

func TestNewRejectsBadSchema(t *testing.T) {
	t.Parallel()
	for _, schema := range []string{"", strings.Repeat("s", 55), "a\x00b"} {
		_, err := pgstore.New(nil, pgstore.WithSchema(schema))
		require.Error(t, err, "%q", schema)
	}
	_, err := pgstore.New(nil, pgstore.WithSchema(strings.Repeat("s", 54)))
	require.NoError(t, err)
}

// TestREADMEHasTheSQL keeps the SQL that hosts with their own migration
// tool copy from the README identical to what Migrate applies.
func TestREADMEHasTheSQL(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	files, err := fs.Glob(pgstore.Migrations, "migrations/*.sql")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		sql, err := fs.ReadFile(pgstore.Migrations, f)
		require.NoError(t, err)
		require.Contains(t, string(readme), string(sql), "README.md must show %s verbatim", f)
	}
}

// TestMigrateFromVersion1: a schema migrated before prev_state existed,
// with a task in it, gets only the new migrations; the task's prev_state is
// NULL until its next transition, which reports the state it left, and it
// has no owner and no lease.
func TestMigrateFromVersion1(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	schema := pgtest.SchemaName(t, pool)
	ident := pgx.Identifier{schema}.Sanitize()
	v1, err := fs.ReadFile(pgstore.Migrations, "migrations/0001_create_tasks.sql")
	require.NoError(t, err)
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	for _, stmt := range []string{
		`CREATE SCHEMA ` + ident,
		`CREATE TABLE ` + ident + `.schema_migrations (version integer PRIMARY KEY, name text NOT NULL,
			applied_at timestamptz NOT NULL DEFAULT now())`,
		`INSERT INTO ` + ident + `.schema_migrations (version, name) VALUES (1, '0001_create_tasks.sql')`,
		`SET LOCAL search_path TO ` + ident,
		string(v1),
	} {
		_, err := tx.Exec(ctx, stmt, pgx.QueryExecModeSimpleProtocol)
		require.NoError(t, err)
	}
	require.NoError(t, tx.Commit(ctx))
	old, err := pgstore.New(pool, pgstore.WithSchema(schema))
	require.NoError(t, err)
	// Written by a version that knew no prev_state: Create's statement
	// names its columns, so it runs on either schema.
	task, err := tasklife.New(old).Create(ctx, tasklife.NewTask{AppGUID: "app", Command: "true"})
	require.NoError(t, err)

	require.NoError(t, old.Migrate(ctx))
	rows, err := pool.Query(ctx, `SELECT version FROM `+ident+`.schema_migrations ORDER BY version`)
	require.NoError(t, err)
	versions, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	require.NoError(t, err)
	require.Equal(t, []int32{1, 2, 3, 4, 5, 6, 7}, versions)
	var prev *string
	require.NoError(t, pool.QueryRow(ctx, `SELECT prev_state FROM `+ident+`.tasks WHERE guid = $1`, task.GUID).Scan(&prev))
	require.Nil(t, prev)

	var changes []tasklife.Change
	svc := tasklife.New(old, tasklife.WithObserver(func(_ context.Context, c tasklife.Change) { changes = append(changes, c) }))
	started, err := svc.Start(ctx, task.GUID)
	require.NoError(t, err)
	require.Equal(t, []tasklife.Change{{Task: started, From: tasklife.StatePending, To: tasklife.StateRunning, Event: tasklife.EventStart}}, changes)
	require.Empty(t, started.Owner)
	require.True(t, started.LeaseExpiresAt.IsZero())
	require.NoError(t, old.Migrate(ctx), "migrating again does nothing")
}

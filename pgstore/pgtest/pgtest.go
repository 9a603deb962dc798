// Package pgtest gives tests a PostgreSQL database of their own: a fresh
// schema on the server named by TASKLIFE_TEST_DATABASE_URL, dropped when the
// test ends. scripts/test (and scripts/with-postgres) start a throwaway
// server and set the variable.
//
//	store := pgtest.Store(t) // a migrated pgstore.Store in a new schema
//	svc := tasklife.New(store)
//	task, err := svc.Create(ctx, tasklife.NewTask{AppGUID: "app-1", Command: "true"})
//	require.NoError(t, err)
//
// Without the variable, tests skip with a message saying how to run them;
// with CI=true they fail instead, so CI never passes by skipping.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tasklife/tasklife/pgstore"
)

// EnvURL names the variable holding the test server's connection URL.
const EnvURL = "TASKLIFE_TEST_DATABASE_URL"

// URL returns the test server's URL. Without one it skips t, or fails it
// when CI=true.
func URL(t testing.TB) string {
	t.Helper()
	url := os.Getenv(EnvURL)
	if url != "" {
		return url
	}
	msg := "set " + EnvURL + " to a PostgreSQL URL to run this test (scripts/test starts a throwaway server and sets it)"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + "; CI=true, so skipping is not allowed")
	}
	t.Skip(msg)
	return ""
}

// Config returns a pool configuration for the test server, for tests that
// need to adjust it (a tracer, a pool size) before calling NewPool.
func Config(t testing.TB) *pgxpool.Config {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(URL(t))
	if err != nil {
		t.Fatalf("pgtest: %s: %v", EnvURL, err)
	}
	// Parallel tests each get a pool: keep them small, the server allows
	// 200 connections in all.
	cfg.MaxConns = 8
	return cfg
}

// NewPool opens a pool with cfg and closes it when t ends.
func NewPool(t testing.TB, cfg *pgxpool.Config) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// Pool returns a pool on the test server, closed when t ends.
func Pool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	return NewPool(t, Config(t))
}

// SchemaName returns a new random schema name and drops that schema, if
// anything created it, when t ends.
func SchemaName(t testing.TB, pool *pgxpool.Pool) string {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "tasklife_test_" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		// A fault test may have left the pool holding connections whose
		// backends it killed: each fails once and is discarded, so retry
		// past all of them.
		var err error
		for range int(pool.Config().MaxConns) + 1 {
			if _, err = pool.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{name}.Sanitize()+" CASCADE"); err == nil {
				return
			}
		}
		t.Errorf("pgtest: dropping schema %s: %v", name, err)
	})
	return name
}

// StoreOn returns a migrated store on pool in a new schema, dropped when t
// ends. Register the pool's Close with t.Cleanup before calling it, so the
// schema is dropped first.
func StoreOn(t testing.TB, pool *pgxpool.Pool) *pgstore.Store {
	t.Helper()
	store, err := pgstore.New(pool, pgstore.WithSchema(SchemaName(t, pool)))
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := store.Migrate(ctx); err != nil {
		t.Fatalf("pgtest: migrate: %v", err)
	}
	return store
}

// Store returns a migrated store in a new schema on a pool of its own; both
// go away when t ends.
func Store(t testing.TB) *pgstore.Store {
	t.Helper()
	return StoreOn(t, Pool(t))
}

package pgstore

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

// Migrations holds the schema's SQL, one file per version, named
// NNNN_what.sql and applied in that order. Hosts that run migrations with
// their own tool apply these files with search_path set to the store's
// schema; Migrate does the same by itself.
//
//go:embed migrations/*.sql
var Migrations embed.FS

// migrateLockKey is the first half of the advisory lock Migrate takes; the
// second half is derived from the schema name, so stores in different
// schemas migrate independently.
const migrateLockKey = 0x7a5c11fe // "tasklife"

type migration struct {
	version int
	name    string
	sql     string
}

func loadMigrations() ([]migration, error) {
	files, err := fs.Glob(Migrations, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, f := range files {
		base := path.Base(f)
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("pgstore: migration %s: name must start with a version number", base)
		}
		b, err := Migrations.ReadFile(f)
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: base, sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	return ms, nil
}

// Migrate creates the store's schema if needed and applies every migration
// it has not applied yet, in one transaction. It is idempotent, and safe to
// run from several instances at once: they take turns on an advisory lock,
// and the later ones find nothing left to do.
func (s *Store) Migrate(ctx context.Context) error {
	ms, err := loadMigrations()
	if err != nil {
		return err
	}
	if err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		return s.migrate(ctx, tx, ms)
	}); err != nil {
		return classify(ctx, "migrate", err)
	}
	return nil
}

func (s *Store) migrate(ctx context.Context, tx pgx.Tx, ms []migration) error {
	schema := pgx.Identifier{s.schema}.Sanitize()
	// The lock comes first: two concurrent CREATE SCHEMA IF NOT EXISTS can
	// still collide on the catalog's unique index.
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2))`, migrateLockKey, s.schema); err != nil {
		return err
	}
	for _, stmt := range []string{
		`CREATE SCHEMA IF NOT EXISTS ` + schema,
		`CREATE TABLE IF NOT EXISTS ` + schema + `.schema_migrations (
			version    integer PRIMARY KEY,
			name       text NOT NULL,
			applied_at timestamptz NOT NULL DEFAULT now()
		)`,
		// The migration files name their tables unqualified.
		`SET LOCAL search_path TO ` + schema,
	} {
		if _, err := tx.Exec(ctx, stmt); err != nil {
			return err
		}
	}
	rows, err := tx.Query(ctx, `SELECT version FROM schema_migrations`)
	if err != nil {
		return err
	}
	applied, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		return err
	}
	done := make(map[int]bool, len(applied))
	for _, v := range applied {
		done[int(v)] = true
	}
	for _, m := range ms {
		if done[m.version] {
			continue
		}
		// Simple protocol: a migration file holds several statements.
		if _, err := tx.Exec(ctx, m.sql, pgx.QueryExecModeSimpleProtocol); err != nil {
			return fmt.Errorf("pgstore: migration %s: %w", m.name, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, m.version, m.name); err != nil {
			return err
		}
	}
	return nil
}

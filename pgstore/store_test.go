package pgstore_test

import (
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/pgstore/pgtest"
	"github.com/tasklife/tasklife/storetest"
)

// TestConformance runs the shared suite in pgx's default query mode and in
// the modes hosts use behind connection poolers such as PgBouncer, which
// never prepare statements.
func TestConformance(t *testing.T) {
	t.Parallel()
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeCacheStatement, pgx.QueryExecModeExec, pgx.QueryExecModeSimpleProtocol} {
		t.Run(mode.String(), func(t *testing.T) {
			t.Parallel()
			storetest.Run(t, func(t *testing.T) tasklife.Store {
				cfg := pgtest.Config(t)
				cfg.ConnConfig.DefaultQueryExecMode = mode
				return pgtest.StoreOn(t, pgtest.NewPool(t, cfg))
			})
		})
	}
}

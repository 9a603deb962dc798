package pgstore_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/pgstore/pgtest"
)

// TestListPlans loads 100k tasks (1000 apps; 60% SUCCEEDED, 30% FAILED,
// 5% RUNNING, 4% PENDING, 1% CANCELING) and EXPLAINs the statements List
// sends: every filter is served by an index. Only counting a filter that
// matches most of the table (or no filter at all) reads the whole table,
// which is what total_results costs.
func TestListPlans(t *testing.T) {
	if testing.Short() {
		t.Skip("loads 100k rows")
	}
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	store := pgtest.StoreOn(t, pool)
	tasks := pgx.Identifier{store.Schema(), "tasks"}.Sanitize()
	start := time.Now()
	loadTasks(t, pool, tasks, 100_000, mixedStates)
	t.Logf("loaded 100k tasks in %v", time.Since(start))

	states := func(s ...tasklife.State) []tasklife.State { return s }
	tests := []struct {
		name string
		q    tasklife.ListQuery
		// seqScan: the count may read the whole table.
		seqScan bool
	}{
		{"everything by created_at", tasklife.ListQuery{}, true},
		{"everything by updated_at desc, page 3", tasklife.ListQuery{OrderBy: tasklife.OrderByUpdatedAt, Descending: true, Page: 3}, true},
		{"one app, newest first", tasklife.ListQuery{AppGUIDs: []string{"app-7"}, Descending: true}, false},
		{"three apps by updated_at", tasklife.ListQuery{AppGUIDs: []string{"app-7", "app-8", "app-9"}, OrderBy: tasklife.OrderByUpdatedAt}, false},
		{"one app, sequence ids", tasklife.ListQuery{AppGUIDs: []string{"app-7"}, SequenceIDs: []int64{3, 4, 5}}, false},
		{"three guids", tasklife.ListQuery{GUIDs: []string{"guid-1", "guid-5000", "guid-99999"}}, false},
		{"CANCELING (1%)", tasklife.ListQuery{States: states(tasklife.StateCanceling)}, false},
		{"PENDING or RUNNING (9%), newest first", tasklife.ListQuery{States: states(tasklife.StatePending, tasklife.StateRunning), Descending: true}, false},
		{"SUCCEEDED (60%) by updated_at", tasklife.ListQuery{States: states(tasklife.StateSucceeded), OrderBy: tasklife.OrderByUpdatedAt}, true},
		{"one app, RUNNING", tasklife.ListQuery{AppGUIDs: []string{"app-7"}, States: states(tasklife.StateRunning)}, false},
		{"one name", tasklife.ListQuery{Names: []string{"task-42"}}, false},
	}
	for _, tc := range tests {
		q, err := tc.q.Normalize()
		require.NoError(t, err)
		stmt, args := store.ListStatement(q)
		rows, err := pool.Query(ctx, "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) "+stmt, args...)
		require.NoError(t, err)
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err)
		plan := strings.Join(lines, "\n")
		t.Logf("%s:\n%s", tc.name, plan)
		// The page itself never reads the whole table. (PostgreSQL calls
		// the count's reference to the table tasks_1.)
		require.NotContains(t, plan, "Seq Scan on tasks (", "%s: the page scans the table", tc.name)
		if !tc.seqScan {
			require.NotContains(t, plan, "Seq Scan", "%s: the count scans the table", tc.name)
		}
	}
}

// TestLeasePlans loads 10,000 ended tasks and 200 under way (PENDING,
// RUNNING and CANCELING, none of them due) and EXPLAINs what Claim, Renew
// and Expire send, both as custom plans and as the generic plan a prepared
// statement may switch to: each reads a partial index of migration 0003
// (or the guid index), never the whole table. Each runs in a transaction
// that is rolled back.
func TestLeasePlans(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	store := pgtest.StoreOn(t, pool)
	tasks := pgx.Identifier{store.Schema(), "tasks"}.Sanitize()
	_, err := pool.Exec(ctx, `INSERT INTO `+tasks+` (guid, app_guid, sequence_id, name, command, user_name, state,
	memory_in_mb, log_rate_limit_in_bytes_per_second, droplet_guid, failure_reason, created_at, updated_at, version, owner)
SELECT 'guid-' || i, 'app-' || (i % 100), i, 't', 'true', '', CASE WHEN i % 2 = 0 THEN 'SUCCEEDED' ELSE 'FAILED' END,
	256, -1, '', CASE WHEN i % 2 = 1 THEN 'boom' END, now() - interval '1 day', now() - interval '1 day', 3, 'owner-' || (i % 7)
FROM generate_series(1, 10000) i`)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `INSERT INTO `+tasks+` (guid, app_guid, sequence_id, name, command, user_name, state,
	memory_in_mb, log_rate_limit_in_bytes_per_second, droplet_guid, created_at, updated_at, version,
	owner, lease_expires_at, canceling_since)
SELECT 'live-' || i, 'app-' || (i % 100), 100000 + i, 't', 'true', '',
	CASE WHEN i % 10 < 4 THEN 'PENDING' WHEN i % 10 < 9 THEN 'RUNNING' ELSE 'CANCELING' END,
	256, -1, '', now(), now(), 2, CASE WHEN i % 10 >= 4 THEN 'owner-' || (i % 7) END,
	CASE WHEN i % 10 >= 4 THEN now() + interval '1 hour' END, CASE WHEN i % 10 = 9 THEN now() END
FROM generate_series(1, 200) i`)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `ANALYZE `+tasks)
	require.NoError(t, err)

	claim, claimGUIDs, renew, expire := store.LeaseStatements()
	tests := []struct {
		name, stmt, args string // args: SQL literals for EXECUTE
		index            string // an index the plan must read
	}{
		{"claim", claim, "'a', 3600000000, 100", "tasks_pending"},
		{"claim among guids", claimGUIDs, "'a', 3600000000, 100, ARRAY['live-1', 'guid-2']", "tasks_guid_key"},
		{"renew", renew, "'owner-3', 3600000000", "tasks_owner"},
		// Nothing is due: a deadline of a minute, an expiry of an hour.
		{"expire", expire, "60000000, 3600000000, 100", "tasks_lease"},
		// Retention with nothing due (every task ended a day ago).
		{"delete ended", store.DeleteEndedStatement(), "now() - interval '2 days', 100", "tasks_ended"},
	}
	for _, tc := range tests {
		for _, mode := range []string{"force_custom_plan", "force_generic_plan"} {
			plan := explainPrepared(t, pool, mode, tc.stmt, tc.args)
			t.Logf("%s, %s:\n%s", tc.name, mode, plan)
			require.NotContains(t, plan, "Seq Scan", "%s (%s) reads the whole table", tc.name, mode)
			require.Contains(t, plan, tc.index, "%s (%s)", tc.name, mode)
		}
	}
}

// explainPrepared PREPAREs stmt, EXPLAIN ANALYZEs its EXECUTE with args
// under plan_cache_mode mode, and rolls it all back.
func explainPrepared(t *testing.T, pool *pgxpool.Pool, mode, stmt, args string) string {
	t.Helper()
	ctx := context.Background()
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { require.NoError(t, tx.Rollback(ctx)) }()
	simple := pgx.QueryExecModeSimpleProtocol
	for _, s := range []string{"SET LOCAL plan_cache_mode = " + mode, "PREPARE lease_plan AS " + stmt} {
		_, err = tx.Exec(ctx, s, simple)
		require.NoError(t, err)
	}
	rows, err := tx.Query(ctx, "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) EXECUTE lease_plan("+args+")", simple)
	require.NoError(t, err)
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	// A prepared statement outlives the transaction.
	_, err = tx.Exec(ctx, "DEALLOCATE lease_plan", simple)
	require.NoError(t, err)
	return strings.Join(lines, "\n")
}

// TestListsArePlannedWithTheirValues: a list is never a cached prepared
// statement, whose generic plan PostgreSQL may switch to after five runs
// and which cannot use the partial index of one state. Lists run on a
// one-connection pool, then that connection's prepared statements are
// read: none is a list's.
func TestListsArePlannedWithTheirValues(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := pgtest.Config(t)
	cfg.MaxConns = 1
	pool := pgtest.NewPool(t, cfg)
	store := pgtest.StoreOn(t, pool)
	svc := tasklife.New(store)
	_, err := svc.Create(ctx, tasklife.NewTask{AppGUID: "app", Command: "x"})
	require.NoError(t, err)
	for range 8 {
		_, err := svc.List(ctx, tasklife.ListQuery{States: []tasklife.State{tasklife.StatePending}})
		require.NoError(t, err)
	}
	var cached int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE '%count(*)%'`,
		pgx.QueryExecModeSimpleProtocol).Scan(&cached)) // not itself a prepared statement
	require.Zero(t, cached)
}

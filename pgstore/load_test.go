package pgstore_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
)

// State mixes for loadTasks: an SQL expression of the row number i.
const (
	// mixedStates: 60% SUCCEEDED, 30% FAILED, 5% RUNNING, 4% PENDING, 1%
	// CANCELING.
	mixedStates = `CASE WHEN i % 100 < 60 THEN 'SUCCEEDED' WHEN i % 100 < 90 THEN 'FAILED'
	     WHEN i % 100 < 95 THEN 'RUNNING' WHEN i % 100 < 99 THEN 'PENDING' ELSE 'CANCELING' END`
	// tenthCanceling: 10% CANCELING, the rest PENDING (as memstore's
	// BenchmarkList fills its store).
	tenthCanceling = `CASE WHEN i % 10 = 0 THEN 'CANCELING' ELSE 'PENDING' END`
)

// loadTasks inserts n tasks into the table tasks in one statement, far
// faster than n creates: 1,000 apps (app-0 to app-999, in turn), 5,000
// names, ten seconds apart, states by the SQL expression states, then
// ANALYZEs the table.
func loadTasks(t testing.TB, pool *pgxpool.Pool, tasks string, n int, states string) {
	t.Helper()
	ctx := context.Background()
	_, err := pool.Exec(ctx, `INSERT INTO `+tasks+` (guid, app_guid, sequence_id, name, command, user_name, state,
	memory_in_mb, disk_in_mb, log_rate_limit_in_bytes_per_second, droplet_guid, failure_reason,
	labels, annotations, created_at, updated_at, version)
SELECT 'guid-' || i, 'app-' || (i % 1000), i / 1000 + 1, 'task-' || (i % 5000), 'true', '', st,
	256, NULL, -1, '', CASE WHEN st = 'FAILED' THEN 'boom' END, NULL, NULL,
	ts, ts + (i % 3600) * interval '1 second', 1
FROM (SELECT i, timestamptz '2026-01-01' + i * interval '10 seconds' AS ts, `+states+` AS st
	FROM generate_series(0, `+strconv.Itoa(n-1)+`) i) s`)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `ANALYZE `+tasks); err != nil {
		t.Fatal(err)
	}
}

package pgstore_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/memstore"
	"github.com/tasklife/tasklife/pgstore"
	"github.com/tasklife/tasklife/pgstore/pgtest"
)

// selectorTasks is how many tasks the label selector plan and benchmark
// load; 1% of them carry tier=gold, the rest tier=std, all team=t<i%10>.
const selectorTasks = 100_000

// loadLabeled bulk-loads the labeled tasks into store's schema.
func loadLabeled(tb testing.TB, pool *pgxpool.Pool, store *pgstore.Store) {
	tb.Helper()
	ctx := context.Background()
	tasks := pgx.Identifier{store.Schema(), "tasks"}.Sanitize()
	_, err := pool.Exec(ctx, `INSERT INTO `+tasks+` (guid, app_guid, sequence_id, name, command, user_name, state,
	memory_in_mb, disk_in_mb, log_rate_limit_in_bytes_per_second, droplet_guid, failure_reason,
	labels, annotations, created_at, updated_at, version)
SELECT 'guid-' || i, 'app-' || (i % 1000), i / 1000 + 1, 'task', 'true', '', 'SUCCEEDED',
	256, NULL, -1, '', NULL,
	jsonb_build_object('tier', CASE WHEN i % 100 = 0 THEN 'gold' ELSE 'std' END, 'team', 't' || (i % 10)), NULL,
	ts, ts, 1
FROM (SELECT i, timestamptz '2026-01-01' + i * interval '10 seconds' AS ts FROM generate_series(0, $1 - 1) i) s`, selectorTasks)
	require.NoError(tb, err)
	// VACUUM, as autovacuum would after a bulk load: it also moves the
	// GIN index's pending list (fastupdate) into the index proper, which
	// the planner otherwise, rightly, counts as a cost of every search.
	_, err = pool.Exec(ctx, `VACUUM ANALYZE `+tasks)
	require.NoError(tb, err)
}

func gold(tb testing.TB) tasklife.ListQuery {
	reqs, err := tasklife.ParseLabelSelector("tier=gold")
	require.NoError(tb, err)
	q, err := tasklife.ListQuery{LabelSelector: reqs}.Normalize()
	require.NoError(tb, err)
	return q
}

// TestLabelSelectorPlan: a label selector is evaluated in SQL, on the GIN
// index on labels, never by reading every row.
func TestLabelSelectorPlan(t *testing.T) {
	if testing.Short() {
		t.Skip("loads 100k rows")
	}
	t.Parallel()
	pool := pgtest.Pool(t)
	store := pgtest.StoreOn(t, pool)
	loadLabeled(t, pool, store)
	stmt, args := store.ListStatement(gold(t))
	rows, err := pool.Query(context.Background(), "EXPLAIN (ANALYZE, TIMING OFF) "+stmt, args...)
	require.NoError(t, err)
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	plan := strings.Join(lines, "\n")
	t.Logf("tier=gold (1%%):\n%s", plan)
	require.Contains(t, plan, "tasks_labels", "the selector uses the GIN index")
	require.NotContains(t, plan, "Seq Scan", "neither the page nor the count reads the whole table")

	page, err := store.List(context.Background(), gold(t))
	require.NoError(t, err)
	require.Equal(t, selectorTasks/100, page.TotalResults)
}

// BenchmarkListLabelSelector lists the first page of a selector that 1%
// of 100,000 tasks match, in each store.
func BenchmarkListLabelSelector(b *testing.B) {
	run := func(b *testing.B, store tasklife.Store) {
		q := gold(b)
		ctx := context.Background()
		b.ReportAllocs()
		b.ResetTimer()
		start := time.Now()
		for b.Loop() {
			page, err := store.List(ctx, q)
			if err != nil || page.TotalResults != selectorTasks/100 {
				b.Fatalf("list: %v, %d results", err, page.TotalResults)
			}
		}
		b.ReportMetric(float64(time.Since(start).Microseconds())/float64(b.N), "µs/list")
	}
	b.Run("memstore", func(b *testing.B) {
		store := memstore.New()
		ctx := context.Background()
		for i := range selectorTasks {
			tier := "std"
			if i%100 == 0 {
				tier = "gold"
			}
			_, err := store.Create(ctx, &tasklife.Task{AppGUID: fmt.Sprint("app-", i%1000), Name: "task", Command: "true",
				LogRateLimitInBytesPerSecond: -1, Labels: map[string]string{"tier": tier, "team": fmt.Sprint("t", i%10)}}, nil)
			require.NoError(b, err)
		}
		run(b, store)
	})
	b.Run("pgstore", func(b *testing.B) {
		pool := pgtest.Pool(b)
		store := pgtest.StoreOn(b, pool)
		loadLabeled(b, pool, store)
		run(b, store)
	})
}

package pgstore_test

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/pgstore/pgtest"
)

// BenchmarkList times the Service's List on pgstore as memstore's
// BenchmarkList does: the first page of every task, the first page of one
// app's (one app in 1,000), and state=CANCELING one per page (10% of the
// tasks), at 10,000 and 100,000 rows, and 1,000,000 with
// TASKLIFE_BENCH_LARGE=1. Each first page carries total_results, which
// PostgreSQL counts.
func BenchmarkList(b *testing.B) {
	ctx := context.Background()
	sizes := []int{1e4, 1e5}
	if os.Getenv("TASKLIFE_BENCH_LARGE") == "1" {
		sizes = append(sizes, 1e6)
	}
	queries := []struct {
		name string
		q    tasklife.ListQuery
	}{
		{"first-page", tasklife.ListQuery{}},
		{"one-app", tasklife.ListQuery{AppGUIDs: []string{"app-7"}}},
		{"state", tasklife.ListQuery{States: []tasklife.State{tasklife.StateCanceling}, PerPage: 1}},
	}
	for _, n := range sizes {
		pool := pgtest.Pool(b)
		store := pgtest.StoreOn(b, pool)
		tasks := pgx.Identifier{store.Schema(), "tasks"}.Sanitize()
		loadTasks(b, pool, tasks, n, tenthCanceling)
		// What autovacuum does on a table this size: the visibility map
		// lets counts read the indexes alone.
		if _, err := pool.Exec(ctx, `VACUUM `+tasks); err != nil {
			b.Fatal(err)
		}
		svc := tasklife.New(store)
		for _, q := range queries {
			b.Run(fmt.Sprintf("pgstore/%s/1e%d", q.name, len(fmt.Sprint(n))-1), func(b *testing.B) {
				for b.Loop() {
					page, err := svc.List(ctx, q.q)
					if err != nil || page.TotalResults == 0 {
						b.Fatal(err, page)
					}
				}
			})
		}
	}
}

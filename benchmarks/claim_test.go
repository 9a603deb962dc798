package benchmarks

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/pgstore/pgtest"
)

// claimBatch is how many tasks or jobs one fetch takes; claimRefill how
// many are queued, timer stopped, whenever fewer than a batch are left.
const (
	claimBatch  = 100
	claimRefill = 40 * claimBatch
)

// BenchmarkClaim measures taking queued work to run, a batch at a time, on
// the same server through the same pool: pgstore's Claim of the oldest
// PENDING tasks against river's driver fetch (JobGetAvailable, what a
// river producer runs) of available jobs. Both are one statement that
// locks the oldest rows with FOR UPDATE SKIP LOCKED and moves them to
// running; pgstore also publishes each claimed task with pg_notify and
// sets its lease. ns/task is the cost per task claimed; river's side also
// reports pgstore's ns/task over its own, from the run before it.
func BenchmarkClaim(b *testing.B) {
	ctx := context.Background()
	pool := pgtest.Pool(b)
	var pgNsPerTask float64

	b.Run("pgstore", func(b *testing.B) {
		store := pgtest.StoreOn(b, pool)
		svc := tasklife.New(store)
		queue := func(b *testing.B) {
			for range claimRefill {
				if _, err := svc.Create(ctx, tasklife.NewTask{AppGUID: "app", Command: "bin/run --job 0000001"}); err != nil {
					b.Fatal(err)
				}
			}
		}
		pgNsPerTask = claimLoop(b, queue, func() (int, error) {
			got, err := store.Claim(ctx, tasklife.ClaimRequest{Owner: "bench", Lease: time.Minute, Limit: claimBatch})
			return len(got), err
		})
	})

	b.Run("river", func(b *testing.B) {
		client, driver, schema := riverClient(b, pool)
		queue := func(b *testing.B) {
			params := make([]river.InsertManyParams, claimRefill)
			for i := range params {
				params[i] = river.InsertManyParams{Args: noopArgs{}}
			}
			if _, err := client.InsertMany(ctx, params); err != nil {
				b.Fatal(err)
			}
		}
		exec := driver.GetExecutor()
		ns := claimLoop(b, queue, func() (int, error) {
			res, err := exec.JobGetAvailable(ctx, &riverdriver.JobGetAvailableParams{
				ClientID: "bench", MaxAttemptedBy: 100, MaxToLock: claimBatch,
				Queue: river.QueueDefault, Schema: schema,
			})
			if err != nil {
				return 0, err
			}
			return len(res.Jobs), nil
		})
		if pgNsPerTask > 0 {
			b.ReportMetric(pgNsPerTask/ns, "pgstore/river")
		}
	})
}

// claimLoop runs b.N fetches of claimBatch, each of which must take a full
// batch, refilling the queue with the timer stopped, and reports and
// returns the time per task taken.
func claimLoop(b *testing.B, queue func(*testing.B), fetch func() (int, error)) float64 {
	queued := 0
	for b.Loop() {
		if queued < claimBatch {
			b.StopTimer()
			queue(b)
			queued += claimRefill
			b.StartTimer()
		}
		n, err := fetch()
		if err != nil || n != claimBatch {
			b.Fatalf("took %d of %d: %v", n, claimBatch, err)
		}
		queued -= n
	}
	ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N*claimBatch)
	b.ReportMetric(ns, "ns/task")
	return ns
}

// riverClient returns a river client (not started: no job runs) and its
// driver on pool, in a new schema, dropped when b ends, with river's tables
// migrated into it.
func riverClient(b *testing.B, pool *pgxpool.Pool) (*river.Client[pgx.Tx], *riverpgxv5.Driver, string) {
	ctx := context.Background()
	schema := pgtest.SchemaName(b, pool)
	if _, err := pool.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()); err != nil {
		b.Fatal(err)
	}
	driver := riverpgxv5.New(pool)
	migrator, err := rivermigrate.New(driver, &rivermigrate.Config{Schema: schema})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		b.Fatal(err)
	}
	workers := river.NewWorkers()
	river.AddWorker(workers, &noopWorker{})
	client, err := river.NewClient(driver, &river.Config{Workers: workers, Schema: schema})
	if err != nil {
		b.Fatal(err)
	}
	return client, driver, schema
}

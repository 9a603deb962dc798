package benchmarks

import (
	"context"
	"fmt"
	"testing"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/pgstore/pgtest"
)

// peerChunk is how many jobs or tasks BenchmarkPeerCancel prepares, timer
// stopped, before it cancels them.
const peerChunk = 1024

// noopArgs is the job river inserts; the worker is registered only because
// river wants each kind it inserts to have one. The client is not started,
// so no job runs.
type noopArgs struct{}

func (noopArgs) Kind() string { return "noop" }

type noopWorker struct{ river.WorkerDefaults[noopArgs] }

func (noopWorker) Work(context.Context, *river.Job[noopArgs]) error { return nil }

// BenchmarkPeerCancel measures cancelling one queued unit of work on the
// same PostgreSQL server, through the same pool, in the same run: river's
// JobCancel of an available job (one not yet worked) against tasklife's
// Service.Cancel over pgstore of a PENDING task. Both write the row, return
// it and notify (river tells its producers, pgstore its listeners).
func BenchmarkPeerCancel(b *testing.B) {
	ctx := context.Background()
	pool := pgtest.Pool(b)

	b.Run("pgstore", func(b *testing.B) {
		svc := tasklife.New(pgtest.StoreOn(b, pool))
		pending := func(b *testing.B, n int) []string {
			guids := make([]string, n)
			for i := range guids {
				t, err := svc.Create(ctx, tasklife.NewTask{AppGUID: fmt.Sprintf("app-%d", i%64), Command: "bin/run --job 0000001"})
				if err != nil {
					b.Fatal(err)
				}
				guids[i] = t.GUID
			}
			return guids
		}
		inChunks(b, pending, func(g string) error {
			t, err := svc.Cancel(ctx, g)
			if err == nil && t.State != tasklife.StateCanceling {
				err = fmt.Errorf("%s: %s", g, t.State)
			}
			return err
		})
	})

	b.Run("river", func(b *testing.B) {
		client, _, _ := riverClient(b, pool)
		available := func(b *testing.B, n int) []int64 {
			params := make([]river.InsertManyParams, n)
			for i := range params {
				params[i] = river.InsertManyParams{Args: noopArgs{}}
			}
			res, err := client.InsertMany(ctx, params)
			if err != nil {
				b.Fatal(err)
			}
			ids := make([]int64, len(res))
			for i, r := range res {
				ids[i] = r.Job.ID
			}
			return ids
		}
		inChunks(b, available, func(id int64) error {
			job, err := client.JobCancel(ctx, id)
			if err == nil && job.State != rivertype.JobStateCancelled {
				err = fmt.Errorf("job %d: %s", id, job.State)
			}
			return err
		})
	})
}

// inChunks runs op on b.N keys, preparing them peerChunk at a time with
// the timer stopped.
func inChunks[K any](b *testing.B, prepare func(b *testing.B, n int) []K, op func(K) error) {
	b.ReportAllocs()
	for done := 0; done < b.N; {
		b.StopTimer()
		keys := prepare(b, min(peerChunk, b.N-done))
		b.StartTimer()
		for _, k := range keys {
			if err := op(k); err != nil {
				b.Fatal(err)
			}
		}
		done += len(keys)
	}
}

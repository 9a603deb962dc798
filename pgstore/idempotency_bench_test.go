package pgstore_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/memstore"
	"github.com/tasklife/tasklife/pgstore/pgtest"
)

// BenchmarkCancelIdempotencyKey measures what an Idempotency-Key costs a
// cancel: Service.CancelKeyed against Service.CancelBy (both audited, so
// the key is the only difference), each a RUNNING -> CANCELING step on a
// task of its own, alternating one of each so that both sides see the
// same load. key/no-key is the ratio of their times (issue 16's goal on
// pgstore: at most 1.3).
func BenchmarkCancelIdempotencyKey(b *testing.B) {
	ctx := context.Background()
	actor := tasklife.Actor{GUID: "u-1", Type: "user", Name: "user@example.com"}
	for _, bc := range []struct {
		name  string
		setup func(b *testing.B) (*tasklife.Service, func(b *testing.B, n int) []string)
	}{
		{"memstore", func(*testing.B) (*tasklife.Service, func(*testing.B, int) []string) {
			svc := tasklife.New(memstore.New())
			return svc, func(b *testing.B, n int) []string {
				guids := make([]string, n)
				for i := range guids {
					t, err := svc.Create(ctx, tasklife.NewTask{AppGUID: "app", Command: "bin/run --job " + strconv.Itoa(i)})
					if err == nil {
						_, err = svc.Start(ctx, t.GUID)
					}
					if err != nil {
						b.Fatal(err)
					}
					guids[i] = t.GUID
				}
				return guids
			}
		}},
		{"pgstore", func(b *testing.B) (*tasklife.Service, func(*testing.B, int) []string) {
			pool := pgtest.Pool(b)
			store := pgtest.StoreOn(b, pool)
			tasks := pgx.Identifier{store.Schema(), "tasks"}.Sanitize()
			return tasklife.New(store), func(b *testing.B, n int) []string {
				return insertTasks(b, pool, tasks, tasklife.StateRunning, n)
			}
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			svc, running := bc.setup(b)
			var keyed, plain time.Duration
			b.ReportAllocs()
			b.ResetTimer()
			for done := 0; done < b.N; {
				b.StopTimer()
				n := min(pgChunk, b.N-done)
				guids := running(b, 2*n)
				keys := make([]tasklife.IdempotencyKey, n)
				for i := range keys {
					keys[i] = tasklife.IdempotencyKey{Caller: "user/u-1", Key: "key-" + strconv.Itoa(done+i), Fingerprint: "cancel " + guids[2*i+1]}
				}
				b.StartTimer()
				for i := range n {
					start := time.Now()
					_, err := svc.CancelBy(ctx, guids[2*i], actor, "")
					mid := time.Now()
					if err == nil {
						_, err = svc.CancelKeyed(ctx, guids[2*i+1], actor, "", keys[i])
					}
					end := time.Now()
					if err != nil {
						b.Fatal(err)
					}
					plain += mid.Sub(start)
					keyed += end.Sub(mid)
				}
				done += n
			}
			b.ReportMetric(float64(keyed.Nanoseconds())/float64(b.N), "key-ns/op")
			b.ReportMetric(float64(plain.Nanoseconds())/float64(b.N), "nokey-ns/op")
			b.ReportMetric(float64(keyed)/float64(plain), "key/no-key")
		})
	}
}

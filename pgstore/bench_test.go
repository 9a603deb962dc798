package pgstore_test

import (
	"context"
	"testing"

	"github.com/google/uuid"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/pgstore/pgtest"
)

// BenchmarkOperations times the store's operations against the in-run
// baseline of one empty round trip (SELECT 1) on the same pool: an
// operation that is one statement should cost about one baseline plus the
// server's work.
func BenchmarkOperations(b *testing.B) {
	ctx := context.Background()
	pool := pgtest.Pool(b)
	store := pgtest.StoreOn(b, pool)
	svc := tasklife.New(store)
	app := uuid.NewString()
	create := func(b *testing.B) *tasklife.Task {
		task, err := svc.Create(ctx, tasklife.NewTask{AppGUID: app, Command: "true"})
		if err != nil {
			b.Fatal(err)
		}
		return task
	}
	must := func(b *testing.B) func(*tasklife.Task, error) {
		return func(_ *tasklife.Task, err error) {
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	canceling := create(b)
	must(b)(svc.Cancel(ctx, canceling.GUID))

	b.Run("baseline SELECT 1", func(b *testing.B) {
		for b.Loop() {
			var one int
			if err := pool.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("get", func(b *testing.B) {
		for b.Loop() {
			must(b)(svc.Get(ctx, canceling.GUID))
		}
	})
	b.Run("create", func(b *testing.B) {
		for b.Loop() {
			create(b)
		}
	})
	b.Run("cancel no-op", func(b *testing.B) {
		for b.Loop() {
			must(b)(svc.Cancel(ctx, canceling.GUID))
		}
	})
	b.Run("start+cancel+canceled", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			task := create(b)
			b.StartTimer()
			must(b)(svc.Start(ctx, task.GUID))
			must(b)(svc.Cancel(ctx, task.GUID))
			must(b)(svc.Canceled(ctx, task.GUID))
		}
	})
}

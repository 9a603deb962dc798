package tasklife_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/httpadapter"
	"github.com/tasklife/tasklife/memstore"
)

// A host creates a task, its executor starts it, a user cancels it, and the
// executor, told by its observer, stops the work and confirms.
func Example() {
	ctx := context.Background()
	svc := tasklife.New(memstore.New())
	svc.Observe(func(_ context.Context, c tasklife.Change) {
		if c.Event == tasklife.EventCreate {
			fmt.Printf("create: %s\n", c.To)
			return
		}
		fmt.Printf("%s: %s -> %s\n", c.Event, c.From, c.To)
	})

	task, _ := svc.Create(ctx, tasklife.NewTask{AppGUID: "app-1", Command: "sleep 600"})
	_, _ = svc.Start(ctx, task.GUID)
	_, _ = svc.Cancel(ctx, task.GUID)
	_, _ = svc.Cancel(ctx, task.GUID) // idempotent: no write, no observer call
	task, _ = svc.Canceled(ctx, task.GUID)
	fmt.Println(task.State, task.FailureReason, task.Version)

	_, err := svc.Cancel(ctx, task.GUID)
	fmt.Println(err, errors.Is(err, tasklife.ErrInvalidTransition))
	// Output:
	// create: PENDING
	// start: PENDING -> RUNNING
	// cancel: RUNNING -> CANCELING
	// canceled: CANCELING -> FAILED
	// FAILED task was cancelled 4
	// Task state is FAILED and therefore cannot be canceled true
}

// The package documentation's first lines.
func Example_create() {
	ctx := context.Background()
	svc := tasklife.New(memstore.New())
	task, err := svc.Create(ctx, tasklife.NewTask{AppGUID: "app-1", Command: "echo hi"})
	if err == nil {
		task, err = svc.Cancel(ctx, task.GUID) // PENDING -> CANCELING
	}
	fmt.Println(task.State, err)
	// Output: CANCELING <nil>
}

// The README's "Use it": an observer tells the host's executor of a cancel,
// and the adapter serves the Cloud Foundry API.
func Example_readme() {
	mux := http.NewServeMux()
	stopped := make(chan string, 1)
	err := useIt(context.Background(), mux, func(guid string) { stopped <- guid }, "s3cret")
	fmt.Println(err, len(stopped))
	// Output: <nil> 1
}

func useIt(ctx context.Context, mux *http.ServeMux, stopWork func(guid string), token string) error {
	svc := tasklife.New(memstore.New())
	svc.Observe(func(ctx context.Context, c tasklife.Change) {
		if c.To == tasklife.StateCanceling {
			stopWork(c.Task.GUID) // your executor; once the work has stopped: svc.Canceled(ctx, guid)
		}
	})
	task, err := svc.Create(ctx, tasklife.NewTask{AppGUID: "app-1", Command: "make report"})
	if err != nil {
		return err
	}
	if task, err = svc.Start(ctx, task.GUID); err != nil {
		return err
	}
	if _, err := svc.Cancel(ctx, task.GUID); err != nil { // CANCELING; a repeat is a no-op
		return err
	}
	mux.Handle("/", httpadapter.New(svc, httpadapter.BearerToken(token)))
	return nil
}

package tasklife_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/memstore"
)

// A host creates a task, its executor starts it, a user cancels it, and the
// executor, told by its observer, stops the work and confirms.
func Example() {
	ctx := context.Background()
	svc := tasklife.New(memstore.New())
	svc.Observe(func(_ context.Context, c tasklife.Change) {
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
	// start: PENDING -> RUNNING
	// cancel: RUNNING -> CANCELING
	// canceled: CANCELING -> FAILED
	// FAILED task was cancelled 4
	// Task state is FAILED and therefore cannot be canceled true
}

// The lifecycle as a Mermaid diagram, rendered by looplab/fsm.
func ExampleMermaidDiagram() {
	fmt.Print(tasklife.MermaidDiagram())
	// Output:
	// stateDiagram-v2
	//     [*] --> PENDING
	//     CANCELING --> FAILED: canceled
	//     CANCELING --> FAILED: fail
	//     CANCELING --> SUCCEEDED: succeed
	//     PENDING --> CANCELING: cancel
	//     PENDING --> FAILED: fail
	//     PENDING --> RUNNING: start
	//     RUNNING --> CANCELING: cancel
	//     RUNNING --> FAILED: fail
	//     RUNNING --> SUCCEEDED: succeed
}

package tasklife_test

import (
	"context"
	"fmt"
	"time"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/memstore"
)

// A client waits for a task to end without polling: Wait sleeps until a
// change to the task wakes it.
func ExampleService_Wait() {
	ctx := context.Background()
	svc := tasklife.New(memstore.New())
	created, _ := svc.Create(ctx, tasklife.NewTask{AppGUID: "app-1", Command: "make"})
	guid := created.GUID
	go func() {
		_, _ = svc.Start(ctx, guid)
		_, _ = svc.Succeed(ctx, guid)
	}()

	waitCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	task, err := svc.Wait(waitCtx, guid, tasklife.WaitFor{States: []tasklife.State{tasklife.StateSucceeded, tasklife.StateFailed}})
	fmt.Println(task.State, err)
	// Output: SUCCEEDED <nil>
}

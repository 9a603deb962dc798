package runner_test

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/memstore"
	"github.com/tasklife/tasklife/runner"
)

// A service runs its tasks' work in process: the work's context is
// cancelled the moment its task is, and every outcome is recorded.
func Example() {
	ctx, stop := context.WithCancel(context.Background())
	svc := tasklife.New(memstore.New())
	started, ended := make(chan string, 2), make(chan *tasklife.Task)
	svc.Observe(func(_ context.Context, c tasklife.Change) {
		switch {
		case c.To == tasklife.StateRunning:
			started <- c.Task.GUID
		case c.To.Terminal():
			ended <- c.Task
		}
	})
	done := make(chan error)
	go func() { done <- serve(ctx, svc) }()

	_, _ = svc.Create(ctx, tasklife.NewTask{AppGUID: "app-1", Command: "report"})
	fmt.Println((<-ended).State)
	task, _ := svc.Create(ctx, tasklife.NewTask{AppGUID: "app-1", Command: "wait"})
	for guid := <-started; guid != task.GUID; guid = <-started {
	}
	_, _ = svc.Cancel(ctx, task.GUID) // the work's context is cancelled now
	task = <-ended
	fmt.Println(task.State, task.FailureReason)
	stop()
	fmt.Println(<-done)
	// Output:
	// SUCCEEDED
	// FAILED task was cancelled
	// <nil>
}

func serve(ctx context.Context, svc *tasklife.Service) error {
	r := runner.New(svc, func(ctx context.Context, t *tasklife.Task) error {
		return render(ctx, t.Command) // return when ctx is done
	}, runner.Config{MaxRunning: 4})
	err := r.Run(ctx) // until ctx is done; then it stops the work and records it
	return err
}

// render stands for a host's work: "wait" waits for its cancel.
func render(ctx context.Context, command string) error {
	if strings.HasPrefix(command, "wait") {
		<-ctx.Done()
		return context.Cause(ctx)
	}
	if command == "" {
		return errors.New("nothing to render")
	}
	return nil
}

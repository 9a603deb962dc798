package runner

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/memstore"
)

// A cancel that commits after the work returned, but whose observer takes
// the runner's lock before execute does, did not reach the work: the task
// succeeded. The test holds the lock to pin that order.
func TestACancelAfterTheWorkReturnedKeepsSucceed(t *testing.T) {
	t.Parallel()
	mem := memstore.New()
	svc := tasklife.New(mem)
	release, started := make(chan struct{}), make(chan struct{})
	r := New(svc, func(context.Context, *tasklife.Task) error {
		close(started)
		<-release
		return nil
	}, Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	defer func() { stop(); <-done }()

	task, err := svc.Create(context.Background(), tasklife.NewTask{AppGUID: "app", Command: "x"})
	require.NoError(t, err)
	<-started
	r.mu.Lock()
	held := r.runs[task.GUID]
	require.NotNil(t, held)
	close(release)
	// The work returns; execute now waits for the lock.
	require.Eventually(t, held.finished.Load, 20*time.Second, time.Millisecond)
	_, err = tasklife.New(mem).Cancel(context.Background(), task.GUID)
	require.NoError(t, err)
	r.interruptLocked(held, ErrCanceled) // what the observer would do
	r.mu.Unlock()

	require.Eventually(t, func() bool {
		got, err := mem.Get(context.Background(), task.GUID)
		return err == nil && got.State.Terminal()
	}, 20*time.Second, time.Millisecond)
	got, err := mem.Get(context.Background(), task.GUID)
	require.NoError(t, err)
	require.Equal(t, tasklife.StateSucceeded, got.State)
}

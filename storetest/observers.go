package storetest

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tasklife/tasklife"
)

func testObservers(t *testing.T, newStore NewStore) {
	b := setup(t, newStore)
	var logged bytes.Buffer
	var logMu sync.Mutex
	b.svc = tasklife.New(b.store, tasklife.WithLogger(slog.New(slog.NewTextHandler(lockedWriter{&logMu, &logged}, nil))))
	var later []tasklife.Change
	b.svc.Observe(func(context.Context, tasklife.Change) { panic("observer bug") })
	b.svc.Observe(func(_ context.Context, c tasklife.Change) {
		c.Task.Labels = map[string]string{"mutated": "by observer"}
		c.Task.State = tasklife.StateFailed
		later = append(later, c)
	})
	task := b.create(t)
	require.Equal(t, tasklife.StatePending, task.State, "a panicking observer does not break a create")
	require.Empty(t, task.Labels, "observers cannot change the created task")
	got, err := b.svc.Start(b.ctx, task.GUID)
	require.NoError(t, err, "a panicking observer does not break the operation")
	require.Equal(t, tasklife.StateRunning, got.State)
	require.Empty(t, got.Labels, "observers cannot change the caller's task")
	require.Len(t, later, 2, "observers after a panicking one still run")
	require.Equal(t, tasklife.EventCreate, later[0].Event, "observers hear of the create")
	require.Equal(t, task.GUID, later[0].Task.GUID)
	require.Empty(t, later[0].From)
	require.Equal(t, tasklife.StatePending, later[0].To)
	require.Equal(t, tasklife.EventStart, later[1].Event)
	logMu.Lock()
	require.Contains(t, logged.String(), "observer panicked", "a recovered panic is logged")
	require.Contains(t, logged.String(), task.GUID)
	logMu.Unlock()
	stored := b.get(t, task.GUID)
	require.Equal(t, tasklife.StateRunning, stored.State, "observers cannot change the stored task")
	require.Empty(t, stored.Labels)
	require.Equal(t, got, stored)
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

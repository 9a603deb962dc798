package logname

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestTaskLogsAsWith: a Task's lines are those of a logger made with With,
// attributes, levels and source alike; Logger is that logger.
func TestTaskLogsAsWith(t *testing.T) {
	t.Parallel()
	var want, got bytes.Buffer
	opts := &slog.HandlerOptions{AddSource: true, ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		switch a.Key {
		case slog.TimeKey:
			return slog.Attr{}
		case slog.SourceKey:
			// The function and file; the lines differ by one.
			src := a.Value.Any().(*slog.Source)
			return slog.String(a.Key, src.Function+" "+src.File)
		}
		return a
	}}
	name := strings.Repeat("n", Max+1)
	with := slog.New(slog.NewTextHandler(&want, opts)).With("task_guid", "g-1", "task_name", Short(name))
	task := NewTask(slog.New(slog.NewTextHandler(&got, opts)), "g-1", name)
	err := errors.New("boom")

	with.Info("started", "pid", 7)
	task.Info("started", slog.Int("pid", 7))
	with.Warn("slow", "error", err)
	task.Warn("slow", slog.Any("error", err))
	with.Error("failed")
	task.Error("failed")
	with.Info("output", "line", "x")
	task.Logger().Info("output", "line", "x")

	require.Equal(t, want.String(), got.String())
	require.Equal(t, 4, strings.Count(got.String(), "task_guid=g-1 task_name="+Short(name)))
	require.Contains(t, got.String(), "TestTaskLogsAsWith")
}

// TestTaskLevel: a line below the handler's level is not logged.
func TestTaskLevel(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	task := NewTask(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn})), "g", "n")
	task.Info("quiet")
	task.Warn("loud")
	require.NotContains(t, buf.String(), "quiet")
	require.Contains(t, buf.String(), "msg=loud task_guid=g task_name=n")
}

// pcHandler records the PC of each record it handles.
type pcHandler struct {
	slog.Handler
	pcs *[]uintptr
}

func (h pcHandler) Handle(ctx context.Context, r slog.Record) error {
	*h.pcs = append(*h.pcs, r.PC)
	return h.Handler.Handle(ctx, r)
}

// TestSourceless: through Sourceless, a Task's lines and its Logger's are
// those of the handler it wraps, and a Task looks no caller up for them.
func TestSourceless(t *testing.T) {
	t.Parallel()
	var want, got bytes.Buffer
	opts := &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}}
	var pcs []uintptr
	plain := NewTask(slog.New(slog.NewTextHandler(&want, opts)), "g-1", "n")
	wrapped := NewTask(slog.New(Sourceless(pcHandler{slog.NewTextHandler(&got, opts), &pcs})), "g-1", "n")
	for _, task := range []*Task{plain, wrapped} {
		task.Info("started", slog.Int("pid", 7))
		task.Error("failed", slog.Any("error", errors.New("boom")))
		task.Logger().WithGroup("g").Info("output", "line", "x")
	}
	require.Equal(t, want.String(), got.String())
	require.Equal(t, []uintptr{0, 0}, pcs[:2], "a Task's own lines")

	pcs = nil
	NewTask(slog.New(pcHandler{slog.NewTextHandler(&got, opts), &pcs}), "g-1", "n").Info("started")
	require.Len(t, pcs, 1)
	require.NotZero(t, pcs[0], "without Sourceless, the caller is looked up")
}

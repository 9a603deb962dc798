package logname

import (
	"bytes"
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

package logname

import (
	"context"
	"log/slog"
	"runtime"
	"sync"
	"time"
)

// Task logs one task's lines: each carries task_guid and task_name first,
// as those of base.With("task_guid", guid, "task_name", Short(name)) do.
// With formats its attributes ahead and allocates, whether or not a line is
// logged through its logger, which was a tenth of what running a task
// cost the runner; Task adds them to each line instead, and makes the
// logger only for those who ask for it (Logger).
type Task struct {
	base  *slog.Logger
	attrs [2]slog.Attr
	once  sync.Once
	with  *slog.Logger
}

// NewTask returns the logger of the task guid named name.
func NewTask(base *slog.Logger, guid, name string) *Task {
	return &Task{base: base, attrs: [2]slog.Attr{slog.String("task_guid", guid), slog.String("task_name", Short(name))}}
}

// Logger returns base.With the task's attributes, made at the first call.
func (l *Task) Logger() *slog.Logger {
	l.once.Do(func() { l.with = l.base.With(l.attrs[0], l.attrs[1]) })
	return l.with
}

// Info, Warn and Error log msg with the task's attributes, then attrs, as
// Logger's methods would, their source (for a handler that adds it) the
// caller's.
func (l *Task) Info(msg string, attrs ...slog.Attr)  { l.log(slog.LevelInfo, msg, attrs) }
func (l *Task) Warn(msg string, attrs ...slog.Attr)  { l.log(slog.LevelWarn, msg, attrs) }
func (l *Task) Error(msg string, attrs ...slog.Attr) { l.log(slog.LevelError, msg, attrs) }

func (l *Task) log(level slog.Level, msg string, attrs []slog.Attr) {
	ctx := context.Background()
	h := l.base.Handler()
	if !h.Enabled(ctx, level) {
		return
	}
	var pc uintptr
	if _, ok := h.(sourceless); !ok {
		var pcs [1]uintptr
		runtime.Callers(3, pcs[:]) // runtime.Callers, log, and Info, Warn or Error
		pc = pcs[0]
	}
	r := slog.NewRecord(time.Now(), level, msg, pc)
	r.AddAttrs(l.attrs[:]...)
	r.AddAttrs(attrs...)
	_ = h.Handle(ctx, r)
}

// Sourceless wraps h, a handler that never reads a record's source
// (Record.PC): one made without HandlerOptions.AddSource, say. A Task
// logging through it does not look its caller up, which was a sixth of
// what one of taskd's lines cost; the lines are the same.
func Sourceless(h slog.Handler) slog.Handler { return sourceless{h} }

type sourceless struct{ slog.Handler }

func (h sourceless) WithAttrs(attrs []slog.Attr) slog.Handler {
	return sourceless{h.Handler.WithAttrs(attrs)}
}

func (h sourceless) WithGroup(name string) slog.Handler {
	return sourceless{h.Handler.WithGroup(name)}
}

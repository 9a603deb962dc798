package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/internal/logname"
)

// gatedTasks numbers startGated's tasks: finish stops every process of
// taskd's that carries its task's guid.
var gatedTasks atomic.Int64

// startGated starts command as taskd starts a task's, its gate held or
// opened before the fork, to be taken back if ctx ends.
func startGated(t *testing.T, ctx context.Context, command string, held bool) (*process, *logname.Task) {
	t.Helper()
	guid := fmt.Sprintf("gated-%d", gatedTasks.Add(1))
	log := logname.NewTask(slog.New(slog.DiscardHandler), guid, "name")
	p, err := startProcess(ctx, "/bin/sh", guid, command, newOutputLog(log.Logger, -1, 0), nil, held)
	require.NoError(t, err)
	return p, log
}

// awaitExit waits until p's shell has ended on its own, then reaps it.
func awaitExit(t *testing.T, p *process, log *logname.Task) int {
	t.Helper()
	select {
	case <-p.exited:
	case <-time.After(time.Minute):
		p.finish(log, time.Time{})
		t.Fatal("the shell did not end")
	}
	ws := p.finish(log, time.Time{})
	require.True(t, ws.Exited(), "ended by %v", ws.Signal())
	return ws.ExitStatus()
}

// TestGateCancelledBeforeTheShellPasses: a task cancelled while its process
// is being made, or before, never runs its command, whether its gate is
// held or its line was written before the fork: the shell exits 125 by
// itself. Only a shell that read the line before the cancel came runs it.
func TestGateCancelledBeforeTheShellPasses(t *testing.T) {
	t.Parallel()
	for _, held := range []bool{false, true} {
		for _, when := range []string{"before the start", "after the start"} {
			marker := filepath.Join(t.TempDir(), "ran")
			// The shell takes hundreds of microseconds to reach its
			// gate, so the cancel nearly always comes first; pass says
			// when it did not.
			neverRan := false
			for range 20 {
				ctx, cancel := context.WithCancel(context.Background())
				if when == "before the start" {
					cancel()
				}
				p, log := startGated(t, ctx, "touch "+marker, held)
				cancel()
				if p.gate.pass(ctx) {
					require.False(t, held, "a held gate opens only for a live task")
					require.Equal(t, 0, awaitExit(t, p, log), "a shell that passed the gate runs the command")
					require.FileExists(t, marker)
					require.NoError(t, os.Remove(marker))
					continue
				}
				require.Equal(t, 125, awaitExit(t, p, log))
				require.NoFileExists(t, marker, "the command ran behind a shut gate")
				neverRan = true
				break
			}
			require.True(t, neverRan, "held=%v, cancelled %s: the shell read the line first every time", held, when)
		}
	}
}

// TestGateCancelledAfterTheShellPassed: once the shell has read the line, a
// cancel cannot take it back, and pass says that the command runs, so that
// taskd stops it as it stops a running one.
func TestGateCancelledAfterTheShellPassed(t *testing.T) {
	t.Parallel()
	marker := filepath.Join(t.TempDir(), "ran")
	ctx, cancel := context.WithCancel(context.Background())
	p, log := startGated(t, ctx, "touch "+marker+"; exec sleep 600", false)
	require.Eventually(t, func() bool {
		_, err := os.Stat(marker)
		return err == nil
	}, time.Minute, time.Millisecond, "the command did not run")
	cancel()
	require.True(t, p.gate.pass(ctx))
	ws := p.finish(log, time.Time{})
	require.True(t, ws.Signaled(), "finish stops what runs: %v", ws)
}

// TestGateOpen: a live task's command runs, its gate held or not.
func TestGateOpen(t *testing.T) {
	t.Parallel()
	for _, held := range []bool{false, true} {
		p, log := startGated(t, context.Background(), "exit 7", held)
		require.True(t, p.gate.pass(context.Background()))
		require.Equal(t, 7, awaitExit(t, p, log), "held=%v", held)
	}
}

// TestShellWorkCancelledFirst: work given a task cancelled already (a
// cancel can come while the runner hands it over) starts nothing.
func TestShellWorkCancelledFirst(t *testing.T) {
	t.Parallel()
	s := newShell(slog.New(slog.DiscardHandler), time.Second)
	marker := filepath.Join(t.TempDir(), "ran")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := s.work(ctx, &tasklife.Task{GUID: "cancelled-first", Command: "touch " + marker})
	require.True(t, errors.Is(err, errStopped), "%v", err)
	require.NoFileExists(t, marker)
}

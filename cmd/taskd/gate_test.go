package main

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tasklife/tasklife/internal/logname"
)

// gatedTasks numbers startGated's tasks: finish stops every process of
// taskd's that carries its task's guid.
var gatedTasks atomic.Int64

// startGated starts command as taskd starts a task's, its gate held or
// opened before the fork.
func startGated(t *testing.T, command string, held bool) (*process, *logname.Task) {
	t.Helper()
	guid := fmt.Sprintf("gated-%d", gatedTasks.Add(1))
	log := logname.NewTask(slog.New(slog.DiscardHandler), guid, "name")
	p, err := startProcess("/bin/sh", guid, command, newOutputLog(log.Logger, -1, 0), nil, held)
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

// TestGateShutBeforeTheShellPasses: a gate whose line was written before the
// fork can still be shut while the shell has not read it (a task cancelled
// while it was being started): the shell then exits 125 by itself, and the
// command never runs. A held gate shut without its line does the same.
func TestGateShutBeforeTheShellPasses(t *testing.T) {
	t.Parallel()
	for _, held := range []bool{false, true} {
		marker := filepath.Join(t.TempDir(), "ran")
		// The shell takes hundreds of microseconds to reach its gate, so
		// shut nearly always comes first; it says when it did not.
		shutFirst := false
		for range 20 {
			p, log := startGated(t, "touch "+marker, held)
			if !p.shut() {
				require.False(t, held, "a held gate is shut until opened")
				require.Equal(t, 0, awaitExit(t, p, log), "a shell that passed the gate runs the command")
				require.FileExists(t, marker)
				require.NoError(t, os.Remove(marker))
				continue
			}
			require.Equal(t, 125, awaitExit(t, p, log))
			require.NoFileExists(t, marker, "the command ran behind a shut gate")
			shutFirst = true
			break
		}
		require.True(t, shutFirst, "held=%v: the shell read the gate's line before every shut", held)
	}
}

// TestGateShutAfterTheShellPassed: once the shell has read the line, shut
// cannot take it back and says so, so that taskd stops the command as it
// stops a running one.
func TestGateShutAfterTheShellPassed(t *testing.T) {
	t.Parallel()
	marker := filepath.Join(t.TempDir(), "ran")
	p, log := startGated(t, "touch "+marker+"; exec sleep 600", false)
	require.Eventually(t, func() bool {
		_, err := os.Stat(marker)
		return err == nil
	}, time.Minute, time.Millisecond, "the command did not run")
	require.False(t, p.shut())
	ws := p.finish(log, time.Time{})
	require.True(t, ws.Signaled(), "finish stops what runs: %v", ws)
}

// TestGateOpen: an opened gate runs the command, held or not.
func TestGateOpen(t *testing.T) {
	t.Parallel()
	for _, held := range []bool{false, true} {
		p, log := startGated(t, "exit 7", held)
		p.open()
		require.Equal(t, 7, awaitExit(t, p, log), "held=%v", held)
	}
}

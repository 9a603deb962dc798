package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/memstore"
	"github.com/tasklife/tasklife/runner"
)

func TestParseStat(t *testing.T) {
	t.Parallel()
	// Fields 3 to 22 of a real line; the name may hold spaces and ')'.
	rest := " S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10"
	for _, tc := range []struct {
		name    string
		line    string
		want    procStat
		wantErr bool
	}{
		{"plain", "4242 (sleep)" + rest, procStat{state: 'S', ppid: 1, pgrp: 4242, start: 987654}, false},
		{"name with ') ' in it", "4242 (a) Z 1 2 (b)" + rest, procStat{state: 'S', ppid: 1, pgrp: 4242, start: 987654}, false},
		{"zombie", "4242 (sh) Z" + strings.TrimPrefix(rest, " S"), procStat{state: 'Z', ppid: 1, pgrp: 4242, start: 987654}, false},
		{"no name", "4242 sleep" + rest, procStat{}, true},
		{"cut short", "4242 (sleep) S 1 4242", procStat{}, true},
		{"bad pgrp", "4242 (sleep) S 1 x 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654", procStat{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseStat(tc.line)
			if tc.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestStartTimeOfThisProcess(t *testing.T) {
	t.Parallel()
	start, err := startTime(os.Getpid())
	require.NoError(t, err)
	require.NotZero(t, start)
	again, err := startTime(os.Getpid())
	require.NoError(t, err)
	require.Equal(t, start, again)
}

func TestStateDirIsForOneTaskdAtATime(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "state")
	first, err := openStateDir(dir)
	require.NoError(t, err)
	_, err = openStateDir(dir)
	require.ErrorContains(t, err, "is in use by another taskd")
	require.NoError(t, first.Close())
	// A process that another test forked while the lock was held shares
	// its descriptor, and so the lock, until it execs (O_CLOEXEC closes it
	// only then): the lock is free once no such process is left.
	var second *stateDir
	require.Eventually(t, func() bool {
		s, err := openStateDir(dir)
		second = s
		return err == nil
	}, 5*time.Second, time.Millisecond, "the lock goes with the taskd that held it")
	require.NoError(t, second.Close())
}

// leftover is a process group as a crashed taskd would leave it: a child in
// the background, and a leader that, unless kept, has exited.
type leftover struct {
	leader, child int
	start         uint64 // the leader's
}

// startLeftover starts a group whose processes carry guid in their
// environment (as taskd's tasks do) and reads the leader's start time while
// it certainly lives. With keepLeader false the leader then exits and is
// reaped, as Pdeathsig would have had it.
func startLeftover(t *testing.T, guid string, keepLeader bool) leftover {
	t.Helper()
	cmd := exec.Command("/bin/sh", "-c", `sleep 600 & echo $!; read -r x; exit 0`)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Env = append(os.Environ(), taskGUIDEnv+"="+guid)
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	pgid := cmd.Process.Pid
	t.Cleanup(func() {
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		_ = stdin.Close()
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err)
	child, err := strconv.Atoi(strings.TrimSpace(line))
	require.NoError(t, err)
	start, err := startTime(pgid)
	require.NoError(t, err)
	if !keepLeader {
		require.NoError(t, stdin.Close())
		require.NoError(t, cmd.Wait())
	}
	return leftover{leader: pgid, child: child, start: start}
}

func TestKillLeftovers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		keepLeader bool
		envGUID    string // what the processes carry
		shiftStart int64  // added to the recorded start time
		killed     bool
	}{
		{"leader still there", true, "task-1", 0, true},
		{"leader gone, its child carries the guid", false, "task-1", 0, true},
		{"leader gone, the child is someone else's", false, "task-2", 0, false},
		{"leader gone, the child started before the recorded leader", false, "task-1", +1000, false},
		{"the group id now belongs to a newer process", true, "task-1", -1000, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g := startLeftover(t, tc.envGUID, tc.keepLeader)
			state, err := openStateDir(t.TempDir())
			require.NoError(t, err)
			t.Cleanup(func() { _ = state.Close() })
			rec := procRecord{GUID: "task-1", PGID: g.leader, Start: uint64(int64(g.start) + tc.shiftStart)}
			writeRecord(t, state, rec)

			state.killLeftovers(slog.New(slog.NewTextHandler(io.Discard, nil)))
			if tc.killed {
				awaitDead(t, g.child, 3*time.Second)
			} else {
				require.True(t, alive(g.child), "a process that was not the task's was killed")
			}
			_, err = os.Stat(state.recordPath("task-1"))
			require.ErrorIs(t, err, os.ErrNotExist, "the record is kept")
		})
	}
}

// writeRecord writes rec as taskd would have.
func writeRecord(t *testing.T, state *stateDir, rec procRecord) {
	t.Helper()
	b, err := json.Marshal(rec)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(state.recordPath(rec.GUID), b, 0o600))
}

func TestKillLeftoversDropsBrokenRecords(t *testing.T) {
	t.Parallel()
	state, err := openStateDir(t.TempDir())
	require.NoError(t, err)
	t.Cleanup(func() { _ = state.Close() })
	for name, content := range map[string]string{
		"garbled" + recordSuffix:       "{",
		"init" + recordSuffix:          `{"guid":"init","pgid":1,"start":1}`,
		"half" + recordSuffix + ".tmp": `{"guid":"half"`,
		"someone-elses-file.txt":       "kept",
	} {
		require.NoError(t, os.WriteFile(filepath.Join(state.path, name), []byte(content), 0o600))
	}
	recorded := state.killLeftovers(slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.Equal(t, map[string]bool{"garbled": true, "init": true}, recorded,
		"a broken record still says its task may have run; a half-written one says it never did")
	left, err := filepath.Glob(filepath.Join(state.path, "*"))
	require.NoError(t, err)
	for i := range left {
		left[i] = filepath.Base(left[i])
	}
	require.ElementsMatch(t, []string{"lock", "someone-elses-file.txt"}, left)
}

// TestRecordOutlivesALostOutcome checks that a task's process record is
// removed once its outcome is stored, and kept when the store never takes
// it: the outcome then goes to the state directory at shutdown, and the
// next start must not take such a task for one that never ran.
func TestRecordOutlivesALostOutcome(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		failures int32
		kept     bool
	}{
		{"outcome stored", 0, false},
		{"outcome lost", 1000, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			store := &unreachableOnce{Store: memstore.New()}
			store.failures.Store(tc.failures)
			svc := tasklife.New(store)
			e := newExecutor(svc, slog.New(slog.DiscardHandler), time.Second, 1)
			state, err := openStateDir(t.TempDir())
			require.NoError(t, err)
			t.Cleanup(func() { _ = state.Close() })
			e.shell.state = state
			created, err := e.Create(context.Background(), tasklife.NewTask{AppGUID: "a", Command: "true"})
			require.NoError(t, err)
			if !tc.kept {
				got := awaitTerminal(t, svc, created.GUID)
				require.Equal(t, tasklife.StateSucceeded, got.State)
				require.Eventually(t, func() bool {
					_, err := os.Stat(state.recordPath(created.GUID))
					return errors.Is(err, os.ErrNotExist)
				}, 10*time.Second, time.Millisecond, "the record of a finished task is kept")
				require.NoError(t, e.Shutdown(context.Background()))
				return
			}
			// The store refuses the outcome again and again.
			require.Eventually(t, func() bool { return store.failures.Load() < tc.failures-2 }, 10*time.Second, time.Millisecond)
			err = e.Shutdown(context.Background())
			var unrecorded *runner.UnrecordedError
			require.ErrorAs(t, err, &unrecorded)
			got, err := svc.Get(context.Background(), created.GUID)
			require.NoError(t, err)
			require.Equal(t, tasklife.StateRunning, got.State)
			require.Equal(t, []runner.Outcome{{GUID: created.GUID, Name: created.Name, Event: tasklife.EventSucceed, Owner: got.Owner}}, unrecorded.Outcomes)
			_, err = os.Stat(state.recordPath(created.GUID))
			require.NoError(t, err, "the record of a task whose outcome was lost is gone")
		})
	}
}

// TestUnrecordedOutcomesSurviveARestart: outcomes kept in the state
// directory are handed back once, and recorded by the next executor.
func TestUnrecordedOutcomesSurviveARestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	state, err := openStateDir(dir)
	require.NoError(t, err)
	t.Cleanup(func() { _ = state.Close() })
	svc := tasklife.New(memstore.New())
	task, err := svc.Create(context.Background(), tasklife.NewTask{AppGUID: "a", Command: "true"})
	require.NoError(t, err)
	_, err = svc.Start(context.Background(), task.GUID)
	require.NoError(t, err)
	kept := []runner.Outcome{{GUID: task.GUID, Name: task.Name, Event: tasklife.EventSucceed}}
	require.NoError(t, state.saveUnrecorded(kept))

	log := slog.New(slog.DiscardHandler)
	require.Equal(t, kept, state.takeUnrecorded(log))
	require.Empty(t, state.takeUnrecorded(log), "handed back once")
	e := newExecutor(svc, log, time.Second, 1)
	e.unrecorded = kept
	e.start()
	t.Cleanup(func() { require.NoError(t, e.Shutdown(context.Background())) })
	got := awaitTerminal(t, svc, task.GUID)
	require.Equal(t, tasklife.StateSucceeded, got.State, "the outcome the last run knew, not 'unknown'")
}

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// alive reports whether pid is a process that has not died: a zombie is
// dead, whoever has yet to reap it.
func alive(pid int) bool {
	st, err := readStat(pid)
	return err == nil && st.state != 'Z'
}

// awaitDead polls until pid has died.
func awaitDead(t *testing.T, pid int, within time.Duration) {
	t.Helper()
	require.Eventually(t, func() bool { return !alive(pid) }, within, 5*time.Millisecond,
		"process %d still alive after %v", pid, within)
}

func TestPostgresKilledTaskdLeavesNoProcess(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	inst := pgInstance{schema: newPGSchema(t), name: "a", stateDir: filepath.Join(dir, "state")}
	a := inst.start(t, "-max-running", "2")

	type started struct {
		guid          string
		leader, child int
	}
	var tasks []started
	for i := range 2 {
		leaderFile, childFile := filepath.Join(dir, "leader"+strconv.Itoa(i)), filepath.Join(dir, "child"+strconv.Itoa(i))
		// The shell waits on a child that would outlive it: Pdeathsig
		// reaches only the shell.
		created := a.create(fmt.Sprintf("echo $$ > %s; sleep 600 & echo $! > %s; wait", leaderFile, childFile))
		a.await(created.GUID, "RUNNING", 5*time.Second)
		s := started{guid: created.GUID, leader: readPID(t, leaderFile), child: readPID(t, childFile)}
		t.Cleanup(func() { _ = syscall.Kill(s.child, syscall.SIGKILL) })
		killGroupOnCleanup(t, s.leader)
		tasks = append(tasks, s)
	}

	marker := filepath.Join(dir, "marker")
	pending := a.create("touch " + marker) // accepted, waiting for a slot

	require.NoError(t, a.cmd.Process.Signal(syscall.SIGKILL))
	killed := time.Now()
	<-a.exited
	for _, s := range tasks {
		awaitDead(t, s.leader, 2*time.Second) // Pdeathsig
		require.True(t, alive(s.child), "the task's child died with taskd: nothing left to test")
	}
	t.Logf("%v after kill -9 of taskd: each task's shell is dead (Pdeathsig), its child lives on", time.Since(killed))

	restarted := time.Now()
	again := inst.start(t, "-max-running", "2")
	t.Logf("restart until serving, leftovers killed: %v", time.Since(restarted))
	for _, s := range tasks {
		// taskd killed them before it started serving.
		require.False(t, alive(s.child), "process %d of task %s outlived the restart", s.child, s.guid)
		got := again.get(s.guid)
		require.Equal(t, "FAILED", got.State)
		require.Equal(t, "Unable to determine completion status", reason(got))
	}
	again.await(pending.GUID, "SUCCEEDED", 5*time.Second)
	_, err := os.Stat(marker)
	require.NoError(t, err, "the task accepted before the crash did not run")
	require.Contains(t, again.log.String(), "killed processes a previous taskd left running")
	var records []string
	after := again.create("echo after")
	again.await(after.GUID, "SUCCEEDED", 5*time.Second)
	// taskd drops a task's record once the store has taken its outcome:
	// just after the store shows it.
	assert.Eventually(t, func() bool {
		left, err := filepath.Glob(filepath.Join(inst.stateDir, "*"+recordSuffix))
		return err == nil && len(left) == 0
	}, 5*time.Second, 5*time.Millisecond)
	records, err = filepath.Glob(filepath.Join(inst.stateDir, "*"+recordSuffix))
	require.NoError(t, err)
	require.Empty(t, records, "process records left behind")
	_, err = os.Stat(filepath.Join(inst.stateDir, "lock"))
	require.NoError(t, err)
}

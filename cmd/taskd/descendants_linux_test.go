package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// leftGroup is a command that starts a process outside its group (setsid),
// which writes its pid to %[1]s, and waits until it has.
const leftGroup = `setsid %[2]s sh -c 'echo $$ > %[1]s; exec sleep 601' & while [ ! -s %[1]s ]; do sleep 0.01; done; `

// escaped starts a task whose command runs what leftGroup starts (with
// prefix before its sh: "env -i" drops TASKD_TASK_GUID) and then rest, and
// returns it with the pid of the process that left the group.
func (d *taskd) escaped(prefix, rest string) (task, int, uint64) {
	d.t.Helper()
	pidFile := filepath.Join(d.t.TempDir(), "pid")
	created := d.create(fmt.Sprintf(leftGroup, pidFile, prefix) + rest)
	pid := readPID(d.t, pidFile)
	start, err := startTime(pid)
	if !errors.Is(err, fs.ErrNotExist) {
		require.NoError(d.t, err)
	}
	// Gone already: with rest "exit 0", taskd may have ended the task and
	// killed and reaped the process before its stat is read here; start 0
	// then matches no process, and requireStopped finds it gone.
	d.t.Cleanup(func() {
		if st, err := readStat(pid); err == nil && st.start == start {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	return created, pid, start
}

// requireStopped fails if pid, started at start, is alive; reaped also
// requires it reaped (not a zombie).
func requireStopped(t *testing.T, pid int, start uint64, reaped bool) {
	t.Helper()
	st, err := readStat(pid)
	if err != nil || st.start != start {
		return // gone
	}
	require.False(t, reaped, "process %d is still there, state %c", pid, st.state)
	require.Equal(t, byte('Z'), st.state, "process %d is still alive", pid)
}

// TestCancelStopsProcessesThatLeftTheGroup: a cancel stops the process a
// task started with setsid, and taskd reaps it.
func TestCancelStopsProcessesThatLeftTheGroup(t *testing.T) {
	t.Parallel()
	d := startTaskd(t, nil)
	tk, pid, start := d.escaped("", "sleep 600")
	d.await(tk.GUID, "RUNNING", 5*time.Second)
	d.requireCanceled(tk.GUID)
	requireStopped(t, pid, start, true)
	require.Contains(t, d.log.String(), "task left processes outside its process group: killed them")
}

// TestEndedTaskLeavesNoProcess: a task that ends on its own leaves neither
// a process that left its group nor, once that one would have ended, a
// zombie under taskd.
func TestEndedTaskLeavesNoProcess(t *testing.T) {
	t.Parallel()
	d := startTaskd(t, nil)
	tk, pid, start := d.escaped("", "exit 0")
	d.await(tk.GUID, "SUCCEEDED", 5*time.Second)
	requireStopped(t, pid, start, true)
}

// TestShutdownStopsEveryDescendant: a process that left the group and
// dropped TASKD_TASK_GUID escapes a cancel, but not the shutdown.
func TestShutdownStopsEveryDescendant(t *testing.T) {
	t.Parallel()
	d := startTaskd(t, nil)
	tk, pid, start := d.escaped("env -i", "sleep 600")
	d.await(tk.GUID, "RUNNING", 5*time.Second)
	require.NoError(t, d.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-d.exited:
	case <-time.After(testGrace + 2*time.Second):
		t.Fatal("taskd still running after SIGTERM")
	}
	require.Equal(t, 0, d.cmd.ProcessState.ExitCode(), "%s", d.log.String())
	// taskd has exited: a zombie it did not reap would now be init's.
	requireStopped(t, pid, start, false)
	require.Contains(t, d.log.String(), "processes left by tasks were still running at shutdown: killed them")
}

// TestOrphanIsReapedWhileTheTaskRuns: a process that left the group and
// ended on its own is reaped by taskd at once, not when its task ends.
func TestOrphanIsReapedWhileTheTaskRuns(t *testing.T) {
	t.Parallel()
	d := startTaskd(t, nil)
	pidFile := filepath.Join(t.TempDir(), "pid")
	tk := d.create(fmt.Sprintf(`(setsid sh -c 'echo $$ > %s' &); sleep 600`, pidFile))
	requireReaped(t, d, readPID(t, pidFile))
	require.Equal(t, "RUNNING", d.get(tk.GUID).State)
	d.requireCanceled(tk.GUID)
}

// requireReaped waits until pid, an orphan of a task, is no longer a
// child of taskd: reaped, not a zombie under it.
func requireReaped(t *testing.T, d *taskd, pid int) {
	t.Helper()
	require.Eventually(t, func() bool {
		st, err := readStat(pid)
		return err != nil || st.ppid != d.cmd.Process.Pid
	}, 5*time.Second, 5*time.Millisecond, "process %d stays a zombie under taskd", pid)
}

// TestOrphansAreListedUnderTheMainThread: taskd looks for the orphans it
// inherits in its main thread's children only (ownChildren), which holds
// them since Linux 3.19; this kernel must agree. A task's shell is listed
// under the thread that started it, so it needs a task of its own that
// leaves an orphan while it runs.
func TestOrphansAreListedUnderTheMainThread(t *testing.T) {
	if !orphansGoToMainThread() {
		t.Skip("Linux before 3.19: taskd reads every thread's children")
	}
	t.Parallel()
	d := startTaskd(t, nil)
	pidFile := filepath.Join(t.TempDir(), "pid")
	tk := d.create(fmt.Sprintf(`(setsid sh -c 'echo $$ > %s; exec sleep 601' &); sleep 600`, pidFile))
	pid := readPID(t, pidFile)
	main := d.cmd.Process.Pid
	children := fmt.Sprintf("/proc/%d/task/%d/children", main, main)
	require.Eventually(t, func() bool {
		b, err := os.ReadFile(children)
		return err == nil && slices.Contains(strings.Fields(string(b)), strconv.Itoa(pid))
	}, 5*time.Second, 5*time.Millisecond, "orphan %d is not in %s", pid, children)
	d.requireCanceled(tk.GUID)
}

func TestKernelAtLeast(t *testing.T) {
	for _, c := range []struct {
		release string
		want    bool
	}{
		{"6.1.0-18-amd64", true},
		{"3.19.0", true},
		{"3.19-rc1", true},
		{"4.0.0", true},
		{"3.18.140", false},
		{"3.10.0-1160.el7.x86_64", false},
		{"2.6.32", false},
		{"", false},
		{"garbage", false},
	} {
		require.Equal(t, c.want, kernelAtLeast(c.release, 3, 19), c.release)
	}
}

// TestOrphansEndingTogetherAreAllReaped: orphans that end within one
// listing's interval of each other (the SIGCHLDs that come meanwhile are
// not listened to) are all reaped while their task runs.
func TestOrphansEndingTogetherAreAllReaped(t *testing.T) {
	t.Parallel()
	d := startTaskd(t, nil)
	dir := t.TempDir()
	const n = 6
	tk := d.create(fmt.Sprintf(`for i in 1 2 3 4 5 6; do (setsid sh -c "echo \$\$ > %s/\$1; sleep 0.00\$1" sh $i &); done; sleep 600`, dir))
	for i := 1; i <= n; i++ {
		requireReaped(t, d, readPID(t, filepath.Join(dir, strconv.Itoa(i))))
	}
	require.Equal(t, "RUNNING", d.get(tk.GUID).State)
	d.requireCanceled(tk.GUID)
}

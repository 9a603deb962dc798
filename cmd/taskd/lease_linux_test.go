package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Several instances on one database: every task ends, whoever dies.

// testLease is the lease the tests give instances: an instance that dies
// loses its tasks within testLease plus a poll (1s) of a survivor.
const testLease = time.Second

// parentOf returns the parent process id of pid.
func parentOf(pid int) (int, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "PPid:"); ok {
			return strconv.Atoi(strings.TrimSpace(v))
		}
	}
	return 0, fmt.Errorf("no PPid in /proc/%d/status", pid)
}

// runBy returns which of the instances' processes pid descends from.
func runBy(t *testing.T, pid int, instances ...*taskd) *taskd {
	t.Helper()
	for p := pid; p > 1; {
		for _, d := range instances {
			if d.cmd.Process.Pid == p {
				return d
			}
		}
		var err error
		p, err = parentOf(p)
		require.NoError(t, err)
	}
	t.Fatalf("process %d descends from none of the instances", pid)
	return nil
}

// Two instances share the work; one is killed with SIGKILL and never comes
// back. Its RUNNING tasks end FAILED "Unable to determine completion
// status" within its lease and a poll of the survivor; the tasks accepted
// through it and still PENDING run on the survivor. Its processes die with
// it (each task's shell has a parent-death signal); what escaped them is
// the host's business until the instance starts again and kills it.
func TestPostgresKilledInstanceTasksEndOnTheSurvivor(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	schema := newPGSchema(t)
	args := []string{"-max-running", "2", "-lease", testLease.String()}
	a := pgInstance{schema: schema, name: "a", stateDir: filepath.Join(dir, "a")}.start(t, args...)
	b := pgInstance{schema: schema, name: "b", stateDir: filepath.Join(dir, "b")}.start(t, args...)

	// Four long tasks fill the four slots: two run on each instance.
	ranOn := map[*taskd][]task{}
	pids := map[string]int{}
	for i := range 4 {
		pidFile := filepath.Join(dir, "pid"+strconv.Itoa(i))
		created, pid := []*taskd{a, b}[i%2].runTracked(pidFile, "echo $$ > %s; exec sleep 600", pidFile)
		d := runBy(t, pid, a, b)
		ranOn[d] = append(ranOn[d], created)
		pids[created.GUID] = pid
	}
	require.Len(t, ranOn[a], 2, "the work was not shared")
	var markers []string
	var pending []task
	for i := range 2 {
		markers = append(markers, filepath.Join(dir, "marker"+strconv.Itoa(i)))
		pending = append(pending, a.create("touch "+markers[i])) // no free slot anywhere
	}

	require.NoError(t, a.cmd.Process.Signal(syscall.SIGKILL))
	killed := time.Now()
	<-a.exited
	for _, tk := range ranOn[a] {
		awaitDead(t, pids[tk.GUID], 5*time.Second)
	}
	for _, tk := range ranOn[a] {
		got := b.await(tk.GUID, "FAILED", 10*time.Second)
		require.Equal(t, "Unable to determine completion status", reason(got))
	}
	took := time.Since(killed)
	t.Logf("kill -9 until the survivor ended the dead instance's tasks: %v (lease %v, poll 1s)", took, testLease)
	require.Less(t, took, testLease+time.Second+3*time.Second, "not within lease + poll (with slack for a loaded machine)")
	for _, tk := range ranOn[b] {
		require.Equal(t, "RUNNING", b.get(tk.GUID).State, "the survivor's tasks are its own")
		b.requireCanceled(tk.GUID) // frees the survivor's slots
	}
	for i, tk := range pending {
		b.await(tk.GUID, "SUCCEEDED", 10*time.Second)
		_, err := os.Stat(markers[i])
		require.NoError(t, err)
	}
}

// An instance paused (SIGSTOP) for longer than its lease has its task taken
// over: another instance ends it FAILED "Unable to determine completion
// status". Its command exits during the pause; when the instance resumes,
// its late outcome is refused, or it learns first that it lost the task
// (through the listener or its renewal); it logs which. The task keeps the
// one outcome it was given.
func TestPostgresPausedInstanceLosesItsTask(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	schema := newPGSchema(t)
	args := []string{"-lease", testLease.String(), "-affinity"} // the task runs where it was created
	a := pgInstance{schema: schema, name: "a", stateDir: filepath.Join(dir, "a")}.start(t, args...)
	b := pgInstance{schema: schema, name: "b", stateDir: filepath.Join(dir, "b")}.start(t, args...)

	pidFile, goFile := filepath.Join(dir, "pid"), filepath.Join(dir, "go")
	created, pid := a.runTracked(pidFile, "echo $$ > %s; while [ ! -e %s ]; do sleep 0.01; done", pidFile, goFile)

	require.NoError(t, a.cmd.Process.Signal(syscall.SIGSTOP))
	t.Cleanup(func() { _ = a.cmd.Process.Signal(syscall.SIGCONT) })
	paused := time.Now()
	require.NoError(t, os.WriteFile(goFile, nil, 0o600))
	awaitDead(t, pid, 5*time.Second) // it succeeded; a cannot say so
	ended := b.await(created.GUID, "FAILED", 10*time.Second)
	require.Equal(t, "Unable to determine completion status", reason(ended))
	t.Logf("paused until the other instance took the task over: %v (lease %v)", time.Since(paused), testLease)

	require.NoError(t, a.cmd.Process.Signal(syscall.SIGCONT))
	require.Eventually(t, func() bool {
		log := a.log.String()
		// Refused, or it heard first that the task ended (the listener)
		// or was taken from it (its renewal): each is logged.
		return strings.Contains(log, "ended elsewhere") || strings.Contains(log, "taken from this runner")
	}, 10*time.Second, 10*time.Millisecond, "the resumed instance never noticed it lost the task")
	require.Equal(t, ended, a.get(created.GUID), "the task has a second outcome")
}

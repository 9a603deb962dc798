package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestCancelStopsTheProcessGroup(t *testing.T) {
	t.Parallel()
	d := startTaskd(t, nil)
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "pid")
	// A child in the background as well, to show the whole group goes.
	created := d.create(fmt.Sprintf("echo $$ > %s; sleep 600 & exec sleep 600", pidFile))
	require.Equal(t, "PENDING", created.State)
	d.await(created.GUID, "RUNNING", 5*time.Second)
	pgid := readPID(t, pidFile)
	killGroupOnCleanup(t, pgid)
	require.NoError(t, syscall.Kill(-pgid, 0), "the task's process group should be running")

	status, b := d.cancel(created.GUID)
	require.Equal(t, http.StatusAccepted, status, "%s", b)
	require.Equal(t, "CANCELING", decodeTask(t, b).State)
	start := time.Now()
	done := d.await(created.GUID, "FAILED", testGrace+time.Second)
	require.Equal(t, "task was cancelled", reason(done))
	require.Less(t, time.Since(start), testGrace, "sleep dies of SIGTERM; no SIGKILL needed")
	requireGroupGone(t, pgid)

	status, b = d.cancel(created.GUID)
	require.Equal(t, http.StatusUnprocessableEntity, status)
	require.Contains(t, string(b), "Task state is FAILED and therefore cannot be canceled")
}

func TestCancelIgnoredIsKilledAfterGrace(t *testing.T) {
	t.Parallel()
	d := startTaskd(t, nil)
	pidFile := filepath.Join(t.TempDir(), "pid")
	created := d.create(fmt.Sprintf("trap '' TERM; echo $$ > %s; sleep 600; sleep 600", pidFile))
	d.await(created.GUID, "RUNNING", 5*time.Second)
	pgid := readPID(t, pidFile)
	killGroupOnCleanup(t, pgid)

	status, first := d.cancel(created.GUID)
	require.Equal(t, http.StatusAccepted, status, "%s", first)
	start := time.Now()
	require.Equal(t, "CANCELING", decodeTask(t, first).State)

	// It ignores SIGTERM, so it stays CANCELING, and a second cancel
	// changes nothing.
	status, again := d.cancel(created.GUID)
	require.Equal(t, http.StatusAccepted, status, "%s", again)
	require.JSONEq(t, string(first), string(again))

	done := d.await(created.GUID, "FAILED", testGrace+time.Second)
	require.Equal(t, "task was cancelled", reason(done))
	require.GreaterOrEqual(t, time.Since(start), testGrace-100*time.Millisecond, "killed before the grace period was over")
	requireGroupGone(t, pgid)
	require.Contains(t, d.log.String(), "sending SIGKILL")
}

func TestCancelGivesTheWholeGroupTheGracePeriod(t *testing.T) {
	t.Parallel()
	d := startTaskd(t, nil)
	dir := t.TempDir()
	pidFile, cleaned, ready := filepath.Join(dir, "pid"), filepath.Join(dir, "cleaned"), filepath.Join(dir, "ready")
	// The task's shell dies of SIGTERM at once; its child takes half a
	// second to clean up, and must be let finish. The cancel waits until
	// the child has set its trap (before, SIGTERM kills it at once) and
	// the background subshell that becomes the sleep has dropped that
	// trap, which it inherits (before, SIGTERM does not end it, and the
	// sleep it becomes lives on until the grace period's SIGKILL).
	created, pgid := d.runTracked(pidFile,
		`echo $$ > %s; sh -c "trap 'sleep 0.5; echo done > %s; exit 0' TERM; (echo ready > %s; exec sleep 600) & wait"; echo not reached`,
		pidFile, cleaned, ready)
	readLine(t, ready)
	d.requireCanceled(created.GUID)
	got, err := os.ReadFile(cleaned)
	require.NoError(t, err, "the child was killed before it cleaned up")
	require.Equal(t, "done\n", string(got))
	requireGroupGone(t, pgid)
	require.NotContains(t, d.log.String(), "SIGKILL")
}

func TestCancelOfTaskThatExitsZeroOnTERM(t *testing.T) {
	t.Parallel()
	d := startTaskd(t, nil)
	pidFile := filepath.Join(t.TempDir(), "pid")
	// Its exit 0 is the cancel taking effect, not the task finishing.
	created, pgid := d.runTracked(pidFile, `trap "exit 0" TERM; echo $$ > %s; sleep 600 & wait`, pidFile)
	d.requireCanceled(created.GUID)
	requireGroupGone(t, pgid)
	require.Contains(t, d.log.String(), fmt.Sprintf(`task_guid=%s task_name=%s how="exited with status 0" event=canceled`, created.GUID, created.Name))
}

func TestCommandOutcome(t *testing.T) {
	t.Parallel()
	d := startTaskd(t, nil)
	for _, tc := range []struct {
		command string
		state   string
		reason  string
	}{
		{"true", "SUCCEEDED", ""},
		{"exit 3", "FAILED", "Exited with status 3"},
		{"kill -KILL $$", "FAILED", "Exited with status 137"},
		{"no-such-command-here", "FAILED", "Exited with status 127"},
	} {
		t.Run(tc.command, func(t *testing.T) {
			t.Parallel()
			created := d.create(tc.command)
			done := d.await(created.GUID, tc.state, 5*time.Second)
			require.Equal(t, tc.reason, reason(done))
		})
	}
}

func TestCanceledPendingTaskNeverRuns(t *testing.T) {
	t.Parallel()
	d := startTaskd(t, nil, "-max-running", "1")
	dir := t.TempDir()
	marker := filepath.Join(dir, "marker")
	blocker := d.create("exec sleep 600")
	d.await(blocker.GUID, "RUNNING", 5*time.Second)

	pending := d.create("touch " + marker)
	require.Equal(t, "PENDING", d.get(pending.GUID).State, "only one task may run")
	status, b := d.cancel(pending.GUID)
	require.Equal(t, http.StatusAccepted, status, "%s", b)
	require.Equal(t, "CANCELING", decodeTask(t, b).State)
	done := d.await(pending.GUID, "FAILED", time.Second)
	require.Equal(t, "task was cancelled", reason(done))

	// Free the slot: the queue moves on, past the cancelled task.
	status, b = d.cancel(blocker.GUID)
	require.Equal(t, http.StatusAccepted, status, "%s", b)
	after := d.create("true")
	d.await(after.GUID, "SUCCEEDED", 5*time.Second)
	_, err := os.Stat(marker)
	require.ErrorIs(t, err, os.ErrNotExist, "the cancelled task ran")
}

func TestPendingTasksRunInCreationOrder(t *testing.T) {
	t.Parallel()
	d := startTaskd(t, nil, "-max-running", "1")
	out := filepath.Join(t.TempDir(), "order")
	blocker := d.create("exec sleep 600")
	d.await(blocker.GUID, "RUNNING", 5*time.Second)
	var guids []string
	for i := range 5 {
		guids = append(guids, d.create(fmt.Sprintf("echo %d >> %s", i, out)).GUID)
	}
	for _, guid := range guids {
		require.Equal(t, "PENDING", d.get(guid).State)
	}
	status, _ := d.cancel(blocker.GUID)
	require.Equal(t, http.StatusAccepted, status)
	for _, guid := range guids {
		d.await(guid, "SUCCEEDED", 5*time.Second)
	}
	b, err := os.ReadFile(out)
	require.NoError(t, err)
	require.Equal(t, "0\n1\n2\n3\n4\n", string(b))
}

func TestOutputIsLoggedWithTheTask(t *testing.T) {
	t.Parallel()
	d := startTaskd(t, nil)
	status, b := d.do("POST", "/v3/apps/app-1/tasks", `{"command":"echo to-stdout; echo to-stderr >&2; echo the token is ${TASKD_TOKEN:-unset}","name":"chatty"}`)
	require.Equal(t, http.StatusAccepted, status, "%s", b)
	created := decodeTask(t, b)
	d.await(created.GUID, "SUCCEEDED", 5*time.Second)
	// The lines are logged before the task is reported finished.
	logged := d.log.String()
	for _, want := range []string{
		fmt.Sprintf(`msg="task output" task_guid=%s task_name=chatty stream=stdout line=to-stdout`, created.GUID),
		fmt.Sprintf(`msg="task output" task_guid=%s task_name=chatty stream=stderr line=to-stderr`, created.GUID),
		`line="the token is unset"`,
	} {
		require.Contains(t, logged, want)
	}
}

func TestShutdownCancelsTasksAndLeavesNoProcess(t *testing.T) {
	t.Parallel()
	d := startTaskd(t, nil, "-max-running", "3")
	dir := t.TempDir()
	var pgids []int
	var guids []string
	for i, command := range []string{
		"echo $$ > %s; exec sleep 600",
		"trap '' TERM; echo $$ > %s; sleep 600 & sleep 600",
		`trap "exit 0" TERM; echo $$ > %s; sleep 600 & wait`,
	} {
		pidFile := filepath.Join(dir, strconv.Itoa(i))
		created := d.create(fmt.Sprintf(command, pidFile))
		d.await(created.GUID, "RUNNING", 5*time.Second)
		pgid := readPID(t, pidFile)
		killGroupOnCleanup(t, pgid)
		pgids = append(pgids, pgid)
		guids = append(guids, created.GUID)
	}
	marker := filepath.Join(dir, "marker")
	pending := d.create("touch " + marker)
	guids = append(guids, pending.GUID)

	start := time.Now()
	require.NoError(t, d.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-d.exited:
	case <-time.After(testGrace + time.Second):
		t.Fatalf("taskd still running %v after SIGTERM", testGrace+time.Second)
	}
	t.Logf("taskd exited %v after SIGTERM", time.Since(start))
	require.Equal(t, 0, d.cmd.ProcessState.ExitCode(), "%s", d.log.String())
	for _, pgid := range pgids {
		requireGroupGone(t, pgid)
	}
	_, err := os.Stat(marker)
	require.ErrorIs(t, err, os.ErrNotExist, "the pending task ran")
	logged := d.log.String()
	for _, guid := range guids {
		require.Contains(t, logged, fmt.Sprintf(`msg="task ended" task_guid=%s`, guid))
		require.Regexp(t, fmt.Sprintf(`task_guid=%s task_name=\w+ state=FAILED failure_reason="task was cancelled"`, guid), logged)
	}
}

func TestRefusesBeyondLoopbackWithoutToken(t *testing.T) {
	t.Parallel()
	cmd := exec.Command(taskdBin, "-addr", "0.0.0.0:0")
	cmd.Env = append(os.Environ(), "TASKD_TOKEN=")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, "%s", out)
	require.Equal(t, 1, exit.ExitCode())
	require.Contains(t, string(out), "set TASKD_TOKEN")
}

// A create retried with its Idempotency-Key, after the task has run, gets
// the first answer byte for byte, and runs nothing twice.
func TestCreateRetriedWithItsKeyRunsOnce(t *testing.T) {
	t.Parallel()
	d := startTaskd(t, nil)
	marker := filepath.Join(t.TempDir(), "runs")
	body := fmt.Sprintf(`{"command":"echo run >> %s"}`, marker)
	post := func() (int, []byte) {
		req, err := http.NewRequest("POST", d.base+"/v3/apps/demo/tasks", strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Authorization", "bearer "+d.token)
		req.Header.Set("Idempotency-Key", `"create-1"`)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, b
	}
	status, first := post()
	require.Equal(t, http.StatusAccepted, status, "%s", first)
	d.await(decodeTask(t, first).GUID, "SUCCEEDED", 10*time.Second)
	status, again := post()
	require.Equal(t, http.StatusAccepted, status, "%s", again)
	require.Equal(t, string(first), string(again), "the retry is answered with the first response")
	runs, err := os.ReadFile(marker)
	require.NoError(t, err)
	require.Equal(t, "run\n", string(runs), "the command ran once")
}

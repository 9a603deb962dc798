package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// The end-to-end tests build taskd once, start it on a free port per test
// and talk to it over HTTP, as a user would.

// taskdBin is the binary under test, built by TestMain.
var taskdBin string

// testGrace is the -cancel-grace the tests run taskd with.
const testGrace = 2 * time.Second

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "taskd-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	taskdBin = filepath.Join(dir, "taskd")
	args := []string{"build", "-o", taskdBin}
	if raceEnabled {
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, ".")...)
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building taskd: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	// The executor tests run in this process: none of their goroutines
	// (process waiters, output readers) may outlive them.
	http.DefaultClient.CloseIdleConnections()
	if err := goleak.Find(); code == 0 && err != nil {
		fmt.Fprintln(os.Stderr, "goroutines leaked:", err)
		code = 1
	}
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// taskd is one running taskd process.
type taskd struct {
	t      *testing.T
	cmd    *exec.Cmd
	base   string
	token  string
	banner []string      // what it printed before serving
	log    *fileLog      // its stderr
	exited chan struct{} // closed once it has exited and been reaped
}

// fileLog is taskd's stderr: a file that taskd writes to itself, so that
// whatever it logged before it answered a request is there once the answer
// is. Through a pipe, the test's copy of it could lag behind.
type fileLog struct{ path string }

func (l *fileLog) String() string {
	b, _ := os.ReadFile(l.path)
	return string(b)
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var listenLine = regexp.MustCompile(`^taskd listening on (http://\S+)`)

// startTaskd starts taskd on a free loopback port with args after the
// defaults, and env (nil: a fixed token) as its environment.
func startTaskd(t *testing.T, env []string, args ...string) *taskd {
	t.Helper()
	return startTaskdWith(t, nil, env, args...)
}

// startTaskdAs is startTaskd as the user nobody when asNobody.
func startTaskdAs(t *testing.T, asNobody bool) *taskd {
	t.Helper()
	if !asNobody {
		return startTaskd(t, nil)
	}
	return startTaskdWith(t, &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}, nil)
}

func startTaskdWith(t *testing.T, attr *syscall.SysProcAttr, env []string, args ...string) *taskd {
	t.Helper()
	if env == nil {
		env = []string{"TASKD_TOKEN=test-token"}
	}
	defaults := []string{"-addr", "127.0.0.1:0", "-cancel-grace", testGrace.String()}
	if os.Geteuid() == 0 && (attr == nil || attr.Credential == nil) {
		// Tasks write to the test's root-owned temporary directories; a
		// test that wants taskd's default user passes -run-as= after.
		defaults = append(defaults, "-run-as", "root")
	}
	cmd := exec.Command(taskdBin, append(defaults, args...)...)
	// The race detector sleeps a second before exiting by default, which
	// would blur the shutdown deadline. A DATABASE_URL of the caller's must
	// not turn the in-memory tests into database ones.
	cmd.Env = append(append(os.Environ(), "GORACE=atexit_sleep_ms=0", "DATABASE_URL=", "TASKD_INSTANCE="), env...)
	cmd.SysProcAttr = attr
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	d := &taskd{t: t, cmd: cmd, token: "test-token", log: &fileLog{filepath.Join(t.TempDir(), "stderr")}, exited: make(chan struct{})}
	stderr, err := os.Create(d.log.path)
	require.NoError(t, err)
	cmd.Stderr = stderr
	err = cmd.Start()
	_ = stderr.Close() // taskd has its own
	require.NoError(t, err)
	go func() {
		_ = cmd.Wait()
		close(d.exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGKILL)
		<-d.exited
		require.NotContains(t, d.log.String(), "WARNING: DATA RACE")
		if t.Failed() {
			t.Logf("taskd stderr:\n%s", d.log.String())
		}
	})

	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	timeout := time.After(10 * time.Second)
	for d.base == "" {
		select {
		case line, ok := <-lines:
			require.True(t, ok, "taskd exited before listening; stderr:\n%s", d.log.String())
			d.banner = append(d.banner, line)
			if m := listenLine.FindStringSubmatch(line); m != nil {
				d.base = m[1]
			}
		case <-timeout:
			t.Fatalf("taskd did not say where it listens; printed %q", d.banner)
		}
	}
	// The rest of the banner follows at once; collect it, then drain.
	for len(d.banner) < 6 {
		select {
		case line := <-lines:
			d.banner = append(d.banner, line)
		case <-timeout:
			t.Fatalf("taskd banner incomplete: %q", d.banner)
		}
	}
	go func() {
		for range lines {
		}
	}()
	return d
}

// task is the part of the task JSON the tests look at.
type task struct {
	GUID      string `json:"guid"`
	Name      string `json:"name"`
	State     string `json:"state"`
	UpdatedAt string `json:"updated_at"`
	Result    struct {
		FailureReason *string `json:"failure_reason"`
	} `json:"result"`
}

func (d *taskd) do(method, path, body string) (int, []byte) {
	d.t.Helper()
	status, b, err := d.try(method, path, body)
	require.NoError(d.t, err)
	return status, b
}

// try is do for a goroutine other than the test's: it returns its error.
func (d *taskd) try(method, path, body string) (int, []byte, error) {
	req, err := http.NewRequest(method, d.base+path, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "bearer "+d.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

func (d *taskd) create(command string) task {
	d.t.Helper()
	body, err := json.Marshal(map[string]string{"command": command})
	require.NoError(d.t, err)
	status, b := d.do("POST", "/v3/apps/app-1/tasks", string(body))
	require.Equal(d.t, http.StatusAccepted, status, "%s", b)
	return decodeTask(d.t, b)
}

func (d *taskd) get(guid string) task {
	d.t.Helper()
	status, b := d.do("GET", "/v3/tasks/"+guid, "")
	require.Equal(d.t, http.StatusOK, status, "%s", b)
	return decodeTask(d.t, b)
}

func (d *taskd) cancel(guid string) (int, []byte) {
	d.t.Helper()
	return d.do("POST", "/v3/tasks/"+guid+"/actions/cancel", "")
}

// await polls the task until it is in state, and fails after within.
func (d *taskd) await(guid, state string, within time.Duration) task {
	d.t.Helper()
	var got task
	require.EventuallyWithT(d.t, func(c *assert.CollectT) {
		// Not d.get: its require would stop this goroutine, not the test.
		status, b, err := d.try("GET", "/v3/tasks/"+guid, "")
		require.NoError(c, err)
		require.Equal(c, http.StatusOK, status, "%s", b)
		var now task
		require.NoError(c, json.Unmarshal(b, &now), "%s", b)
		require.Equal(c, state, now.State, "task %s", guid)
		got = now
	}, within, 20*time.Millisecond, "task %s not %s after %v", guid, state, within)
	return got
}

func decodeTask(t *testing.T, b []byte) task {
	t.Helper()
	var got task
	require.NoError(t, json.Unmarshal(b, &got), "%s", b)
	return got
}

func reason(tk task) string {
	if tk.Result.FailureReason == nil {
		return ""
	}
	return *tk.Result.FailureReason
}

// readPID waits for a task to write its process group id to path.
func readPID(t *testing.T, path string) int {
	t.Helper()
	pid, err := strconv.Atoi(readLine(t, path))
	require.NoError(t, err)
	return pid
}

// readLine waits for a task to write a whole line to path and returns it,
// without its newline.
func readLine(t *testing.T, path string) string {
	t.Helper()
	var b []byte
	require.Eventually(t, func() bool {
		var err error
		b, err = os.ReadFile(path)
		return err == nil && bytes.HasSuffix(b, []byte("\n"))
	}, 5*time.Second, 10*time.Millisecond, "no line in %s", path)
	return strings.TrimSpace(string(b))
}

// requireGroupGone fails unless no process is left in the process group.
func requireGroupGone(t *testing.T, pgid int) {
	t.Helper()
	err := syscall.Kill(-pgid, 0)
	require.True(t, errors.Is(err, syscall.ESRCH), "process group %d still exists (kill: %v)", pgid, err)
}

// killGroupOnCleanup makes sure a failing test leaves no process behind.
func killGroupOnCleanup(t *testing.T, pgid int) {
	t.Cleanup(func() { _ = syscall.Kill(-pgid, syscall.SIGKILL) })
}

// runTracked creates a task from format and args, whose command writes its
// process group id to pidFile, and returns it once it runs, with that id.
func (d *taskd) runTracked(pidFile, format string, args ...any) (task, int) {
	d.t.Helper()
	created := d.create(fmt.Sprintf(format, args...))
	d.await(created.GUID, "RUNNING", 5*time.Second)
	pgid := readPID(d.t, pidFile)
	killGroupOnCleanup(d.t, pgid)
	return created, pgid
}

// requireCanceled cancels a running task and waits for it to end FAILED
// "task was cancelled".
func (d *taskd) requireCanceled(guid string) {
	d.t.Helper()
	status, b := d.cancel(guid)
	require.Equal(d.t, http.StatusAccepted, status, "%s", b)
	done := d.await(guid, "FAILED", testGrace+time.Second)
	require.Equal(d.t, "task was cancelled", reason(done))
}

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

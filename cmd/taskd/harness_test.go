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
	t      testing.TB
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

func startTaskdWith(t testing.TB, attr *syscall.SysProcAttr, env []string, args ...string) *taskd {
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

func decodeTask(t testing.TB, b []byte) task {
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
func readPID(t testing.TB, path string) int {
	t.Helper()
	pid, err := strconv.Atoi(readLine(t, path))
	require.NoError(t, err)
	return pid
}

// readLine waits for a task to write a whole line to path and returns it,
// without its newline.
func readLine(t testing.TB, path string) string {
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
func killGroupOnCleanup(t testing.TB, pgid int) {
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

//go:build faults

package reliability

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/pgstore/pgtest"
)

// taskd is a taskd process on the test's own server, reached over HTTP.
type taskd struct {
	base, token string
	cmd         *exec.Cmd
}

// startTaskd builds and starts taskd in a schema of its own.
func startTaskd(t *testing.T, args ...string) *taskd {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "taskd")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/tasklife/tasklife/cmd/taskd").CombinedOutput()
	require.NoError(t, err, "%s", out)
	pool := pgtest.Pool(t)
	schema := pgtest.SchemaName(t, pool)
	d := &taskd{token: "outage-test-token"}
	defaults := []string{"-addr", "127.0.0.1:0", "-database-schema", schema,
		"-state-dir", filepath.Join(dir, "state"), "-instance", "outage"}
	if os.Geteuid() == 0 {
		// The tasks touch files in this test's root-only directory; as
		// root, taskd would run them as nobody.
		defaults = append(defaults, "-run-as", "root")
	}
	d.cmd = exec.Command(bin, append(defaults, args...)...)
	d.cmd.Env = append(os.Environ(), "TASKD_TOKEN="+d.token, "DATABASE_URL="+pgtest.URL(t))
	stdout, err := d.cmd.StdoutPipe()
	require.NoError(t, err)
	logFile, err := os.Create(filepath.Join(dir, "taskd.log"))
	require.NoError(t, err)
	d.cmd.Stderr = logFile
	require.NoError(t, d.cmd.Start())
	t.Cleanup(func() {
		_ = d.cmd.Process.Signal(syscall.SIGTERM)
		_ = d.cmd.Wait()
		if t.Failed() {
			b, _ := os.ReadFile(logFile.Name())
			t.Logf("taskd's log:\n%s", b)
		}
	})
	banner := bufio.NewReader(stdout)
	line, err := banner.ReadString('\n')
	require.NoError(t, err)
	m := regexp.MustCompile(`listening on (http://\S+)`).FindStringSubmatch(line)
	require.NotNil(t, m, "taskd's banner: %q", line)
	d.base = m[1]
	go func() { _, _ = io.Copy(io.Discard, banner) }() // taskd must never block on its stdout
	return d
}

type wireTask struct {
	GUID   string `json:"guid"`
	State  string `json:"state"`
	Result struct {
		FailureReason *string `json:"failure_reason"`
	} `json:"result"`
}

func (d *taskd) do(t *testing.T, method, path, body string) (*wireTask, int) {
	t.Helper()
	req, err := http.NewRequest(method, d.base+path, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", "bearer "+d.token)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		return nil, 0
	}
	defer resp.Body.Close()
	var task wireTask
	_ = json.NewDecoder(resp.Body).Decode(&task)
	return &task, resp.StatusCode
}

// TestTaskdRidesOutAnOutage is TestRunnerRidesOutAnOutage through taskd:
// shell commands that exit 0, exit 3, are cancelled mid-grace or wait in
// the queue, and a 10 s stop of the server while they end.
func TestTaskdRidesOutAnOutage(t *testing.T) {
	pgctl := pgctl(t)
	d := startTaskd(t, "-max-running", "9", "-cancel-grace", "60s")
	dir := t.TempDir()
	release := filepath.Join(dir, "release") // made while the server is down
	waitRelease := fmt.Sprintf("while [ ! -e %s ]; do sleep 0.05; done", release)
	want := map[string][2]string{}
	var cancels []string
	create := func(command, state, reason string) string {
		task, status := d.do(t, "POST", "/v3/apps/outage/tasks", fmt.Sprintf(`{"command":%q}`, command))
		require.Equal(t, http.StatusAccepted, status)
		want[task.GUID] = [2]string{state, reason}
		return task.GUID
	}
	for i := range 3 {
		create(waitRelease+"; exit 0", "SUCCEEDED", "")
		create(waitRelease+"; exit 3", "FAILED", "Exited with status 3")
		ready := filepath.Join(dir, fmt.Sprint("ready-", i))
		cancels = append(cancels, create(fmt.Sprintf(`trap '%s; exit 0' TERM; touch %s; sleep 600 & wait`, waitRelease, ready),
			"FAILED", tasklife.ReasonCanceled))
		require.Eventually(t, func() bool { _, err := os.Stat(ready); return err == nil }, 30*time.Second, 10*time.Millisecond)
	}
	for range 3 {
		create("true", "SUCCEEDED", "") // queued: every slot is taken
	}
	for _, guid := range cancels {
		task, status := d.do(t, "POST", "/v3/tasks/"+guid+"/actions/cancel", "")
		require.Equal(t, http.StatusAccepted, status)
		require.Equal(t, "CANCELING", task.State)
	}

	outage(t, pgctl, func() { require.NoError(t, os.WriteFile(release, nil, 0o600)) })
	back := time.Now()
	require.Eventually(t, func() bool {
		for guid := range want {
			task, status := d.do(t, "GET", "/v3/tasks/"+guid, "")
			if status != http.StatusOK || (task.State != "SUCCEEDED" && task.State != "FAILED") {
				return false
			}
		}
		return true
	}, 30*time.Second, 100*time.Millisecond, "a task was not terminal 30 s after the restart")
	t.Logf("every task terminal %v after the server was back", time.Since(back).Round(time.Millisecond))
	for guid, w := range want {
		task, _ := d.do(t, "GET", "/v3/tasks/"+guid, "")
		reason := ""
		if task.Result.FailureReason != nil {
			reason = *task.Result.FailureReason
		}
		require.Equal(t, w, [2]string{task.State, reason}, "task %s", guid)
	}
}

//go:build faults

package reliability

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/runner"
)

// outageLength is how long the server is down: longer than every retry
// layer below the runner, so only the runner's own retries can save the
// outcomes.
const outageLength = 10 * time.Second

// pgctl returns the command prefix that controls the test's own server, or
// skips (fails in CI) without one.
func pgctl(t *testing.T) string {
	t.Helper()
	pgctl := os.Getenv("TASKLIFE_TEST_PGCTL")
	if pgctl == "" {
		msg := "needs TASKLIFE_TEST_PGCTL: run under scripts/with-postgres, which starts a server this test may stop and restart"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return pgctl
}

// outage stops the server with pg_ctl stop -m fast, keeps it down for
// outageLength, and starts it again. during runs while it is down.
func outage(t *testing.T, pgctl string, during func()) {
	t.Helper()
	out, err := exec.Command("sh", "-c", pgctl+" stop -m fast -w -t 60").CombinedOutput()
	require.NoError(t, err, "pg_ctl stop: %s", out)
	restarted := false
	t.Cleanup(func() {
		if !restarted { // a failed test must not leave the next one without a server
			_ = exec.Command("sh", "-c", pgctl+" start -w -t 60").Run()
		}
	})
	during()
	time.Sleep(outageLength) // the fault's length, not a wait for a condition
	out, err = exec.Command("sh", "-c", pgctl+" start -w -t 60").CombinedOutput()
	require.NoError(t, err, "pg_ctl start: %s", out)
	restarted = true
}

// TestRunnerRidesOutAnOutage runs tasks through the runner on PostgreSQL,
// stops the server for 10 s while some finish, some are cancelled mid-grace
// and some wait in the queue, and requires every task to reach its true
// outcome within 30 s of the restart: none left RUNNING or CANCELING, none
// that succeeded reported failed, none accepted and failed without running.
func TestRunnerRidesOutAnOutage(t *testing.T) {
	pgctl := pgctl(t)
	store := faultStore(t)
	svc := tasklife.New(store)
	release := make(chan struct{}) // closed while the server is down
	ran := make(chan string, 100)
	work := func(ctx context.Context, task *tasklife.Task) error {
		ran <- task.GUID
		switch {
		case strings.HasPrefix(task.Name, "queued"):
			return nil
		case strings.HasPrefix(task.Name, "cancel"):
			<-ctx.Done() // cancelled before the outage...
			<-release    // ...and still winding down when it starts
			return ctx.Err()
		}
		<-release
		if strings.HasPrefix(task.Name, "fail") {
			return runner.Failure("Exited with status 3", nil)
		}
		return nil
	}
	const each, running = 3, 9 // finish, fail, cancel: 3 of each hold every slot
	r := runner.New(svc, work, runner.Config{
		MaxRunning: running, Grace: time.Minute, StoreTimeout: 2 * time.Second,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		stop()
		require.NoError(t, <-done)
	})

	want := map[string]tasklife.State{}
	reasons := map[string]string{}
	var cancels []string
	create := func(name string, state tasklife.State, reason string) *tasklife.Task {
		task, err := svc.Create(context.Background(), tasklife.NewTask{AppGUID: loadApp, Name: name, Command: "work"})
		require.NoError(t, err)
		want[task.GUID], reasons[task.GUID] = state, reason
		return task
	}
	for i := range each {
		create(fmt.Sprint("finish-", i), tasklife.StateSucceeded, "")
		create(fmt.Sprint("fail-", i), tasklife.StateFailed, "Exited with status 3")
		cancels = append(cancels, create(fmt.Sprint("cancel-", i), tasklife.StateFailed, tasklife.ReasonCanceled).GUID)
	}
	for range running {
		<-ran // every slot is taken
	}
	for i := range each {
		create(fmt.Sprint("queued-", i), tasklife.StateSucceeded, "")
	}
	for _, guid := range cancels {
		_, err := svc.Cancel(context.Background(), guid)
		require.NoError(t, err)
	}

	outage(t, pgctl, func() { close(release) })
	back := time.Now()
	require.Eventually(t, func() bool {
		for guid := range want {
			probe, cancel := context.WithTimeout(context.Background(), time.Second)
			got, err := svc.Get(probe, guid)
			cancel()
			if err != nil || !got.State.Terminal() {
				return false
			}
		}
		return true
	}, 30*time.Second, 50*time.Millisecond, "a task was not terminal 30 s after the restart")
	t.Logf("every task terminal %v after the server was back", time.Since(back).Round(time.Millisecond))
	for guid, state := range want {
		got, err := svc.Get(context.Background(), guid)
		require.NoError(t, err)
		require.Equal(t, state, got.State, "task %s (%s)", guid, got.Name)
		require.Equal(t, reasons[guid], got.FailureReason, "task %s (%s)", guid, got.Name)
	}
}

package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tasklife/tasklife/pgstore/pgtest"
)

// These tests run taskd on PostgreSQL (see pgtest), each in a schema of its
// own that every instance of the test shares.

// pgInstance is how to start one taskd instance on a test's database.
type pgInstance struct {
	schema   string
	name     string
	stateDir string
}

// newPGSchema returns a fresh schema on the test server, dropped when t ends.
func newPGSchema(t *testing.T) string {
	t.Helper()
	schema, _ := newPGSchemaPool(t)
	return schema
}

// newPGSchemaPool returns a fresh schema and a pool on the test server.
func newPGSchemaPool(t *testing.T) (string, *pgxpool.Pool) {
	t.Helper()
	pool := pgtest.Pool(t)
	return pgtest.SchemaName(t, pool), pool
}

func (p pgInstance) args(extra ...string) []string {
	return append([]string{
		"-database-url", os.Getenv(pgtest.EnvURL), "-database-schema", p.schema,
		"-instance", p.name, "-state-dir", p.stateDir,
	}, extra...)
}

// start starts the instance and checks it says which store it uses.
func (p pgInstance) start(t *testing.T, extra ...string) *taskd {
	t.Helper()
	d := startTaskd(t, nil, p.args(extra...)...)
	require.Contains(t, d.banner[0], fmt.Sprintf(", schema %s, instance %q: tasks survive a restart", p.schema, p.name))
	return d
}

// stop sends SIGTERM and waits for a clean exit.
func (d *taskd) stop() {
	d.t.Helper()
	require.NoError(d.t, d.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-d.exited:
	case <-time.After(testGrace + 2*time.Second):
		d.t.Fatalf("taskd still running %v after SIGTERM", testGrace+2*time.Second)
	}
	require.Equal(d.t, 0, d.cmd.ProcessState.ExitCode(), "%s", d.log.String())
}

// getJSON returns a task's JSON with the instance's address taken out of
// its links, so that two instances' answers compare equal.
func (d *taskd) getJSON(guid string) string {
	d.t.Helper()
	status, b := d.do("GET", "/v3/tasks/"+guid, "")
	require.Equal(d.t, http.StatusOK, status, "%s", b)
	return strings.ReplaceAll(string(b), d.base, "http://taskd")
}

// awaitGroupGone polls until no process is left in the group and returns
// how long that took.
func awaitGroupGone(t *testing.T, pgid int, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		err := syscall.Kill(-pgid, 0)
		require.ErrorIs(c, err, syscall.ESRCH, "process group %d still there (kill: %v)", pgid, err)
	}, within, time.Millisecond, "process group %d still there after %v", pgid, within)
	return time.Since(start)
}

func TestPostgresTasksSurviveRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// With -affinity, as before instances shared the work: each runs what
	// was created through it, so the tasks wait for their own instance.
	inst := pgInstance{schema: newPGSchema(t), name: "a", stateDir: filepath.Join(dir, "state")}
	a := inst.start(t, "-max-running", "1", "-affinity")

	finished := a.create("echo finished")
	a.await(finished.GUID, "SUCCEEDED", 5*time.Second)
	finishedJSON := a.getJSON(finished.GUID)
	require.Contains(t, finishedJSON, `"annotations":{"taskd.tasklife.dev/instance":"a"}`)

	pidFile, marker := filepath.Join(dir, "pid"), filepath.Join(dir, "marker")
	running, pgid := a.runTracked(pidFile, "echo $$ > %s; exec sleep 600", pidFile)
	pending := a.create("touch " + marker)
	require.Equal(t, "PENDING", a.get(pending.GUID).State)
	canceledMarker := filepath.Join(dir, "canceled-marker")
	canceledWhileStopped := a.create("touch " + canceledMarker)

	// A graceful stop cancels what runs, but what was only accepted stays
	// PENDING for the next start of this instance.
	a.stop()
	requireGroupGone(t, pgid)
	_, err := os.Stat(marker)
	require.ErrorIs(t, err, os.ErrNotExist, "the pending task ran during shutdown")

	// Canceled through another instance while its owner is stopped, it
	// waits in CANCELING for the owner, which knows it never ran.
	other := pgInstance{schema: inst.schema, name: "b", stateDir: filepath.Join(dir, "b")}.start(t, "-affinity")
	status, body := other.cancel(canceledWhileStopped.GUID)
	require.Equal(t, http.StatusAccepted, status, "%s", body)
	require.Equal(t, "CANCELING", decodeTask(t, body).State)

	again := inst.start(t, "-max-running", "1", "-affinity")
	gone := again.get(canceledWhileStopped.GUID)
	require.Equal(t, "FAILED", gone.State)
	require.Equal(t, "task was cancelled", reason(gone))
	require.Equal(t, finishedJSON, again.getJSON(finished.GUID), "a finished task reads the same after a restart")
	canceled := again.get(running.GUID)
	require.Equal(t, "FAILED", canceled.State)
	require.Equal(t, "task was cancelled", reason(canceled))
	again.await(pending.GUID, "SUCCEEDED", 5*time.Second)
	_, err = os.Stat(marker)
	require.NoError(t, err, "the task accepted before the restart did not run")
	_, err = os.Stat(canceledMarker)
	require.ErrorIs(t, err, os.ErrNotExist, "the task canceled while its instance was stopped ran")
}

func TestPostgresCancelReachesAnotherInstance(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	schema := newPGSchema(t)
	// With -affinity, B runs what was created through it, and A never
	// takes B's queue.
	a := pgInstance{schema: schema, name: "a", stateDir: filepath.Join(dir, "a")}.start(t, "-affinity")
	// B reconciles too seldom to matter here: cancels must reach it as
	// notifications.
	b := pgInstance{schema: schema, name: "b", stateDir: filepath.Join(dir, "b")}.start(t,
		"-max-running", "1", "-reconcile-interval", "1h", "-affinity")

	pidFile, marker := filepath.Join(dir, "pid"), filepath.Join(dir, "marker")
	running, pgid := b.runTracked(pidFile, "echo $$ > %s; exec sleep 600", pidFile)

	// A task queued on B and canceled through A never starts, and does not
	// wait for a free slot to end.
	queued := b.create("touch " + marker)
	require.Equal(t, "PENDING", a.get(queued.GUID).State)
	status, body := a.cancel(queued.GUID)
	require.Equal(t, http.StatusAccepted, status, "%s", body)
	require.Equal(t, "CANCELING", decodeTask(t, body).State)
	done := b.await(queued.GUID, "FAILED", 2*time.Second)
	require.Equal(t, "task was cancelled", reason(done))

	sent := time.Now()
	status, body = a.cancel(running.GUID)
	require.Equal(t, http.StatusAccepted, status, "%s", body)
	require.Equal(t, "CANCELING", decodeTask(t, body).State)
	awaitGroupGone(t, pgid, testGrace)
	t.Logf("cancel sent to A until B's process group was gone: %v", time.Since(sent))
	for _, d := range []*taskd{a, b} {
		done := d.await(running.GUID, "FAILED", time.Second)
		require.Equal(t, "task was cancelled", reason(done))
	}
	require.Equal(t, a.getJSON(running.GUID), b.getJSON(running.GUID))
	_, err := os.Stat(marker)
	require.ErrorIs(t, err, os.ErrNotExist, "the task canceled while queued ran")

	// The same through B itself, for comparison.
	local, pgid := b.runTracked(pidFile+".2", "echo $$ > %s; exec sleep 600", pidFile+".2")
	sent = time.Now()
	status, body = b.cancel(local.GUID)
	require.Equal(t, http.StatusAccepted, status, "%s", body)
	awaitGroupGone(t, pgid, testGrace)
	t.Logf("cancel sent to B until B's process group was gone: %v", time.Since(sent))
}

// TestPostgresMissedCancelIsFoundByPolling writes a cancel into the database
// behind the store's back, so that no notification is sent, as if it had
// been lost: the periodic pass over CANCELING tasks must find it.
func TestPostgresMissedCancelIsFoundByPolling(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	schema, pool := newPGSchemaPool(t)
	const interval = 300 * time.Millisecond
	b := pgInstance{schema: schema, name: "b", stateDir: filepath.Join(dir, "b")}.start(t,
		"-reconcile-interval", interval.String())
	pidFile := filepath.Join(dir, "pid")
	running, pgid := b.runTracked(pidFile, "echo $$ > %s; exec sleep 600", pidFile)

	sent := time.Now()
	tag, err := pool.Exec(t.Context(), "UPDATE "+pgx.Identifier{schema, "tasks"}.Sanitize()+
		" SET state = 'CANCELING', version = version + 1, updated_at = clock_timestamp() WHERE guid = $1", running.GUID)
	require.NoError(t, err)
	require.EqualValues(t, 1, tag.RowsAffected())
	awaitGroupGone(t, pgid, interval+testGrace)
	t.Logf("unannounced cancel until the process group was gone: %v (interval %v)", time.Since(sent), interval)
	done := b.await(running.GUID, "FAILED", time.Second)
	require.Equal(t, "task was cancelled", reason(done))
}

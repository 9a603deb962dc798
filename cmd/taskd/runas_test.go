package main

import (
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// requireRoot skips a test that needs root to switch users. CI runs as
// root, so there it always runs.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("switching a task's user needs root; run the tests as root (CI does)")
	}
}

func lookupUID(t *testing.T, name string) string {
	t.Helper()
	u, err := user.Lookup(name)
	require.NoError(t, err)
	return u.Uid
}

// requireRunsAs runs a task in d that prints its uid and tries to read
// taskd's environment, and checks it ran as uid and could not.
func requireRunsAs(t *testing.T, d *taskd, uid string) {
	t.Helper()
	tk := d.create(`echo uid=$(id -u) groups=$(id -G) home=$HOME; cat /proc/$PPID/environ > /dev/null && echo environ-readable || echo environ-denied`)
	d.await(tk.GUID, "SUCCEEDED", 5*time.Second)
	o := d.log.String()
	require.Contains(t, o, "line=\"uid="+uid+" ")
	require.Contains(t, o, "line=environ-denied")
	require.NotContains(t, o, "environ-readable")
}

func TestRunAsSwitchesTheTasksUser(t *testing.T) {
	t.Parallel()
	requireRoot(t)
	d := startTaskd(t, nil, "-run-as", "nobody")
	requireRunsAs(t, d, lookupUID(t, "nobody"))
	require.Contains(t, d.log.String(), `msg="tasks run as nobody (uid `+lookupUID(t, "nobody")+`)"`)
}

// TestRootRunsTasksAsNobodyByDefault: taskd started as root without
// -run-as does not hand root to its tasks.
func TestRootRunsTasksAsNobodyByDefault(t *testing.T) {
	t.Parallel()
	requireRoot(t)
	d := startTaskd(t, nil, "-run-as=") // after the helper's -run-as root
	requireRunsAs(t, d, lookupUID(t, "nobody"))
}

// TestRunAsRefusedWithoutRoot: a taskd that cannot switch users refuses to
// start rather than run tasks as itself.
func TestRunAsRefusedWithoutRoot(t *testing.T) {
	t.Parallel()
	cmd := exec.Command(taskdBin, "-addr", "127.0.0.1:0", "-run-as", "root")
	cmd.Env = append(os.Environ(), "TASKD_TOKEN=t", "DATABASE_URL=")
	if os.Geteuid() == 0 {
		require.NoError(t, os.Chmod(filepath.Dir(taskdBin), 0o755))
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	}
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, "%s", out)
	require.Equal(t, 1, exit.ExitCode())
	require.Contains(t, string(out), "-run-as root: taskd runs as uid")
	require.Contains(t, string(out), "cannot switch its tasks to uid 0")
}

func TestResolveRunAs(t *testing.T) {
	t.Parallel()
	own, err := resolveRunAs("", 1000)
	require.NoError(t, err)
	require.Nil(t, own.cred, "not root, no -run-as: taskd's own user")

	_, err = resolveRunAs("no-such-user-taskd", 0)
	require.ErrorContains(t, err, "-run-as: user: unknown user no-such-user-taskd")

	byID, err := resolveRunAs("0", 0)
	require.NoError(t, err)
	require.Nil(t, byID.cred, "root asked to run tasks as root: no switch")
	require.Equal(t, "root", byID.name)

	nobody, err := resolveRunAs("", 0)
	require.NoError(t, err)
	require.NotNil(t, nobody.cred)
	require.Equal(t, lookupUID(t, "nobody"), strconv.FormatUint(uint64(nobody.cred.Uid), 10))
	require.Contains(t, nobody.env, "USER=nobody")
}

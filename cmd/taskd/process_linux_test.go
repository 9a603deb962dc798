package main

import (
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestLeaderExited checks the look that tells a task that ended on its own
// from one stopped by a cancel: it sees the exit before awaitLeader returns
// and does not reap the leader.
func TestLeaderExited(t *testing.T) {
	t.Parallel()
	cmd := exec.Command("/bin/sh", "-c", "read -r _; exit 0")
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	require.False(t, leaderExited(cmd.Process.Pid), "it waits for a line")

	require.NoError(t, stdin.Close())
	require.Eventually(t, func() bool { return leaderExited(cmd.Process.Pid) }, 5*time.Second, 5*time.Millisecond)
	require.True(t, leaderExited(cmd.Process.Pid), "still a zombie: looking did not reap it")
	require.NoError(t, cmd.Wait())
	require.Equal(t, 0, cmd.ProcessState.ExitCode())
}

// TestTasksEnv: a task's environment is taskd's without its secrets and
// any guid of its own, deduplicated as os/exec would.
func TestTasksEnv(t *testing.T) {
	t.Parallel()
	env := []string{"A=1", "B=2", tokenEnv + "=secret", "A=3", "junk", databaseURLEnv + "=postgres://u:p@h/d",
		"=X=1", "", taskGUIDEnv + "=old", "C=", "=X=2"}
	require.Equal(t, []string{"B=2", "A=3", "junk", "C=", "=X=2"}, tasksEnv(env))
	cmd := exec.Command("/bin/sh", "-c", "true")
	cmd.Env = []string{"A=1", "B=2", "A=3", "junk", "C=", "=X=1", "=X=2"}
	require.Equal(t, []string{"B=2", "A=3", "junk", "C=", "=X=2"}, cmd.Environ(), "os/exec's own")
}

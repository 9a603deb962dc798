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

package main

import (
	"errors"
	"os/exec"
	"syscall"

	"golang.org/x/sys/unix"
)

// sysProcAttr puts the task in a process group of its own, so one signal
// reaches everything it started, and has the kernel kill it should taskd die
// without a chance to clean up.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// awaitLeader returns once the group leader has exited, without reaping it:
// while it is a zombie its pid, and so the group id, cannot be handed to
// another process, so killing the group afterwards cannot hit a stranger.
func awaitLeader(cmd *exec.Cmd) {
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_PID, cmd.Process.Pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if !errors.Is(err, unix.EINTR) {
			return
		}
	}
}

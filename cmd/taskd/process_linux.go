package main

import (
	"errors"
	"os/exec"
	"syscall"
	"time"

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

// becomeSubreaper makes taskd the parent of every orphan its tasks leave,
// so reapGroup can reap them: otherwise they go to init, which in many
// containers reaps nothing.
func becomeSubreaper() error {
	return unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
}

// reapGroup reaps what is left of a killed process group: the orphans that
// came to taskd as their subreaper. It gives up after a second, since only a
// process stuck in the kernel outlives SIGKILL that long.
func reapGroup(pgid int) {
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		pid, err := unix.Wait4(-pgid, nil, unix.WNOHANG, nil)
		switch {
		case errors.Is(err, unix.EINTR), err == nil && pid > 0:
		case err != nil:
			return // ECHILD: none left.
		default:
			time.Sleep(5 * time.Millisecond) // Still dying.
		}
	}
}

// awaitGroup reaps the rest of a process group whose leader has been reaped,
// as its members end, and reports whether none of them is left by deadline.
// Orphans come to taskd as their subreaper, so they are taskd's children.
func awaitGroup(pgid int, deadline time.Time) bool {
	for {
		pid, err := unix.Wait4(-pgid, nil, unix.WNOHANG, nil)
		switch {
		case errors.Is(err, unix.EINTR), err == nil && pid > 0:
		case err != nil:
			return true // ECHILD: none left.
		case !time.Now().Before(deadline):
			return false
		default:
			time.Sleep(10 * time.Millisecond)
		}
	}
}

//go:build unix && !linux

package main

import (
	"errors"
	"os"
	"syscall"
	"time"
)

// sysProcAttr puts the task in a process group of its own, so one signal
// reaches everything it started. There are no pidfds: pidfd stays -1.
func sysProcAttr(*int) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

// awaitLeader returns once the group leader has exited. Without Linux's
// waitid(WNOWAIT) it has to reap the leader, which leaves a short window in
// which the group id could be reused before the group is killed.
func awaitLeader(p *process) { p.status = reapPid(p.pid) }

// leaderExited cannot look without reaping the leader, which awaitLeader
// does: until awaitLeader returns, the leader counts as running.
func leaderExited(int) bool { return false }

// taskPipe returns a pipe between taskd and a task, its ends closed on
// exec; the end taskd reads from (r, when taskdReads) is non-blocking, for
// Go's poller.
func taskPipe(taskdReads bool) (r, w int, err error) {
	var p [2]int
	syscall.ForkLock.RLock()
	err = syscall.Pipe(p[:])
	if err == nil {
		syscall.CloseOnExec(p[0])
		syscall.CloseOnExec(p[1])
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return -1, -1, os.NewSyscallError("pipe", err)
	}
	if taskdReads {
		if err := syscall.SetNonblock(p[0], true); err != nil {
			_ = syscall.Close(p[0])
			_ = syscall.Close(p[1])
			return -1, -1, os.NewSyscallError("fcntl", err)
		}
	}
	return p[0], p[1], nil
}

// becomeSubreaper is Linux only; elsewhere orphans go to init.
func becomeSubreaper() error { return nil }

// reapGroup has nothing to reap without a subreaper.
func reapGroup(int) {}

// awaitGroup cannot see the rest of the group without a subreaper: it
// reports members left, so they are killed at once.
func awaitGroup(int, time.Time) bool { return false }

// canRecover reports whether taskd can find a crashed predecessor's
// processes: that needs Linux's /proc.
const canRecover = false

// startTime needs /proc.
func startTime(int) (uint64, error) {
	return 0, errors.New("process start times need Linux's /proc")
}

// killGroup needs /proc to tell taskd's orphans from strangers; without it,
// nothing is killed.
func killGroup(procRecord) int { return 0 }

// signalDescendants needs /proc to find processes that left the group.
func signalDescendants(string, int, syscall.Signal) map[int]uint64 { return nil }

// stopDescendants needs /proc and a subreaper; elsewhere processes that
// left the group go to init.
func stopDescendants(string, map[int]uint64, *shellSet) int { return 0 }

// stopAllDescendants needs /proc and a subreaper.
func stopAllDescendants(map[int]bool) int { return 0 }

// reapOrphans has nothing to reap without a subreaper.
func reapOrphans(*shellSet) (stop func()) { return func() {} }

// pipeUnread cannot tell elsewhere: a stalled reader is stopped at once.
func pipeUnread(int) int { return 0 }

// makeUndumpable is Linux only.
func makeUndumpable() error { return nil }

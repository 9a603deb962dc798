package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// sysProcAttr puts the task in a process group of its own, so one signal
// reaches everything it started, and has the kernel kill it should taskd die
// without a chance to clean up. The fork stores the leader's pidfd in
// pidfd, or -1 if the kernel has none to give.
func sysProcAttr(pidfd *int) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL, PidFD: pidfd}
}

// awaitLeader returns once the group leader has exited, without reaping it:
// while it is a zombie its pid, and so the group id, cannot be handed to
// another process, so killing the group afterwards cannot hit a stranger.
//
// It is the goroutine watchLeader starts when the watcher (fds) cannot
// take the leader's pidfd. It waits on the pidfd (the fork's, else one it
// opens) in Go's poller, so that a running task holds no thread: a thread
// blocked in waitid per task made each end wake a thread that then had to
// win a P back, and made every listing of taskd's children (a file per
// thread) longer. Without pidfds (Linux before 5.10), it blocks in waitid.
func awaitLeader(p *process) {
	fd, err := p.pidfd, error(nil)
	if fd >= 0 {
		// The poller takes only a non-blocking descriptor.
		if _, err = unix.FcntlInt(uintptr(fd), unix.F_SETFL, unix.O_NONBLOCK); err != nil {
			_ = unix.Close(fd)
		}
	} else {
		fd, err = unix.PidfdOpen(p.pid, unix.PIDFD_NONBLOCK)
	}
	if err == nil {
		f := os.NewFile(uintptr(fd), "pidfd")
		defer f.Close()
		if rc, err := f.SyscallConn(); err == nil {
			// Read waits until the pidfd is readable, which it is once
			// the process has exited, and asks again.
			if rc.Read(func(uintptr) bool { return leaderExited(p.pid) }) == nil {
				return
			}
		}
	}
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_PID, p.pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if !errors.Is(err, unix.EINTR) {
			return
		}
	}
}

// leaderExited reports whether the group leader pid has exited, without
// waiting and without reaping it.
func leaderExited(pid int) bool {
	for {
		var info unix.Siginfo
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT|unix.WNOHANG, nil)
		switch {
		case errors.Is(err, unix.EINTR):
		case err != nil:
			return true // ECHILD: reaped already.
		default:
			// While the leader runs, WNOHANG leaves info as it was,
			// zeroed; an exit fills in SIGCHLD.
			return info.Signo != 0
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
		pid, err := wait4(-pgid)
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
		pid, err := wait4(-pgid)
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

// taskPipe returns a pipe between taskd and a task. Only the end taskd
// reads from (r, when taskdReads) is non-blocking, for Go's poller (see
// startProcess): os.Pipe registers both ends, and registering (and
// unregistering) an end the task takes and taskd closes at once, or the
// gate's, which taskd writes one line to, was a dozen system calls per
// task for nothing. The task's end is blocking, as a task expects.
func taskPipe(taskdReads bool) (r, w int, err error) {
	var p [2]int
	flags := unix.O_CLOEXEC
	if taskdReads {
		flags |= unix.O_NONBLOCK // both ends: one fcntl clears w's
	}
	if err := unix.Pipe2(p[:], flags); err != nil {
		return -1, -1, os.NewSyscallError("pipe2", err)
	}
	if taskdReads {
		if _, err := unix.FcntlInt(uintptr(p[1]), unix.F_SETFL, 0); err != nil {
			_ = unix.Close(p[0])
			_ = unix.Close(p[1])
			return -1, -1, os.NewSyscallError("fcntl", err)
		}
	}
	return p[0], p[1], nil
}

// wait4 reaps a child in pid (see unix.Wait4) without waiting.
func wait4(pid int) (int, error) {
	return unix.Wait4(pid, nil, unix.WNOHANG, nil)
}

// canRecover reports whether taskd can find a crashed predecessor's
// processes (see killGroup).
const canRecover = true

// procStat is what taskd reads of /proc/<pid>/stat.
type procStat struct {
	state byte // 'Z' for a zombie: dead, waiting to be reaped
	ppid  int
	pgrp  int
	start uint64 // clock ticks after boot
}

// readStat reads /proc/<pid>/stat. The command name, field 2, is in
// parentheses and may itself hold spaces and parentheses, so the fields are
// counted from the last ')'.
func readStat(pid int) (procStat, error) {
	var buf [512]byte
	b, err := readProc("/proc/"+strconv.Itoa(pid)+"/stat", buf[:])
	if err != nil {
		return procStat{}, err
	}
	return parseStat(string(b))
}

// readProc reads a whole /proc file into buf, which it grows if need be,
// with one open, reads and a close: os.ReadFile also stats the file and
// registers it with the poller, which costs more than the read itself
// when taskd reads every process's stat.
func readProc(path string, buf []byte) ([]byte, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	for errors.Is(err, unix.EINTR) {
		fd, err = unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	}
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	n := 0
	for {
		if n == len(buf) {
			buf = append(buf, make([]byte, len(buf)+512)...)
		}
		m, err := unix.Read(fd, buf[n:])
		switch {
		case errors.Is(err, unix.EINTR):
		case err != nil:
			return nil, &fs.PathError{Op: "read", Path: path, Err: err}
		case m == 0:
			return buf[:n], nil
		default:
			n += m
		}
	}
}

func parseStat(s string) (procStat, error) {
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return procStat{}, fmt.Errorf("malformed stat %q", s)
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state), so field n is f[n-3].
	if len(f) < 20 || len(f[0]) != 1 {
		return procStat{}, fmt.Errorf("malformed stat %q", s)
	}
	ppid, err := strconv.Atoi(f[4-3])
	if err != nil {
		return procStat{}, fmt.Errorf("malformed ppid in stat %q", s)
	}
	pgrp, err := strconv.Atoi(f[5-3])
	if err != nil {
		return procStat{}, fmt.Errorf("malformed pgrp in stat %q", s)
	}
	start, err := strconv.ParseUint(f[22-3], 10, 64)
	if err != nil {
		return procStat{}, fmt.Errorf("malformed starttime in stat %q", s)
	}
	return procStat{state: f[0][0], ppid: ppid, pgrp: pgrp, start: start}, nil
}

// startTime returns when pid started, in clock ticks after boot.
func startTime(pid int) (uint64, error) {
	st, err := readStat(pid)
	return st.start, err
}

// killGroup SIGKILLs what is left of a recorded process group and reports
// how many live processes it found in it. The group id is the record's if
// its leader is still there with the recorded start time; with the leader
// gone (Pdeathsig took it), only if its members carry the task's guid in
// their environment and started no earlier than the leader did. While one
// of them lives, no stranger can get the group id.
func killGroup(rec procRecord) int {
	found := 0
	deadline := time.Now().Add(2 * time.Second)
	for {
		n := len(ourMembers(rec))
		if n == 0 || time.Now().After(deadline) {
			return found
		}
		found = max(found, n)
		_ = syscall.Kill(-rec.PGID, syscall.SIGKILL)
		time.Sleep(10 * time.Millisecond) // SIGKILL takes effect asynchronously.
	}
}

// ourMembers lists the live members of rec's process group that rec's task
// started.
func ourMembers(rec procRecord) []int {
	leaderOurs := false
	if leader, err := readStat(rec.PGID); err == nil {
		if leader.start != rec.Start {
			return nil // The id went to another process, whose group it is now.
		}
		leaderOurs = true
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := readStat(pid)
		if err != nil || st.pgrp != rec.PGID || st.state == 'Z' {
			continue
		}
		if leaderOurs || (st.start >= rec.Start && carriesGUID(pid, rec.GUID)) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// carriesGUID reports whether pid's environment names the task. A process
// whose environment taskd may not read gets the benefit of the doubt: its
// group id and start time already match.
func carriesGUID(pid int, guid string) bool {
	has, err := environHas(pid, taskGUIDEnv+"="+guid)
	if err != nil {
		return errors.Is(err, fs.ErrPermission)
	}
	return has
}

// environs holds environHas's buffers.
var environs = sync.Pool{New: func() any { return new([]byte) }}

// environHas reports whether pid's environment holds kv (NAME=value). It
// reads it with readProc into a buffer kept for the next call: a task's end
// looks at the environment of taskd's children being started, and
// os.ReadFile, which also stats the file, registers it with the poller and
// allocates all of it, was most of what that cost.
func environHas(pid int, kv string) (bool, error) {
	buf := environs.Get().(*[]byte)
	defer environs.Put(buf)
	b, err := readProc("/proc/"+strconv.Itoa(pid)+"/environ", (*buf)[:cap(*buf)])
	if err != nil {
		return false, err
	}
	*buf = b
	for got := range bytes.SplitSeq(b, []byte{0}) {
		if string(got) == kv {
			return true, nil
		}
	}
	return false, nil
}

// makeUndumpable keeps processes of taskd's user, its tasks among them,
// out of its memory and /proc/<pid>/environ.
func makeUndumpable() error {
	return unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0)
}

// pipeUnread returns how many bytes wait to be read in the pipe fd
// (TIOCINQ is Linux's FIONREAD).
func pipeUnread(fd int) int {
	n, _ := unix.IoctlGetInt(fd, unix.TIOCINQ)
	return n
}

package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// A task's command may start processes that leave its process group
// (setsid), which a signal to the group misses. taskd finds them through
// /proc instead of a cgroup, so that it works wherever taskd does: taskd is
// their subreaper, so once their parents are gone they are its children,
// and TASKD_TASK_GUID in their environment, which they inherit, says which
// task they belong to. A process that both leaves the group and drops that
// variable is found only at shutdown, when taskd stops every descendant it
// has (stopAllDescendants).

// descendantStopTime bounds how long stopping a task's descendants takes:
// only a process stuck in the kernel outlives SIGKILL that long.
const descendantStopTime = 2 * time.Second

// signalDescendants sends sig to the task's processes outside its group,
// once (the SIGTERM of a cancel), and returns them by pid with their start
// times: once dead, their environment no longer says whose they are. The
// group's leader, whose pid is the group id, is still running, so what is
// still under it must carry the task's guid itself: a process that both
// left the group and dropped the variable is not the task's, whether its
// scan comes before or after the leader's end has handed it to taskd.
func signalDescendants(guid string, leader int, sig unix.Signal) map[int]uint64 {
	self := os.Getpid()
	procs := scanProcs()
	signaled := make(map[int]uint64)
	for pid, st := range procs {
		if st.state == 'Z' || st.pgrp == leader || !belongs(procs, pid, self, guid) {
			continue
		}
		if topOf(procs, pid, self) == leader && !hasGUID(pid, guid) {
			continue
		}
		signalPid(pid, st.start, sig)
		signaled[pid] = st.start
	}
	return signaled
}

// stopDescendants SIGKILLs the task's processes outside its group until none
// is left, and reaps those that came to taskd, signaled (by
// signalDescendants) included. The leader must be reaped already, and its
// group. It returns how many processes it stopped.
//
// With shells (the tasks' shells), it first lists taskd's children,
// which costs a few reads, where looking for the task's processes reads
// every process's stat: with the task's group gone, a live process the
// task started descends from a child of taskd (as its subreaper, taskd
// inherits the orphans) that carries the task's guid, so when no child but
// the shells carries it, there is none.
func stopDescendants(guid string, signaled map[int]uint64, shells *shellSet) int {
	if len(signaled) == 0 && shells != nil && !childCarries(guid, shells) {
		return 0
	}
	self := os.Getpid()
	return stopProcesses(func(procs map[int]procStat, pid int) bool { return belongs(procs, pid, self, guid) }, signaled, nil)
}

// stopAllDescendants SIGKILLs every descendant of taskd but the leaders
// (still to be reaped by their own waiters), and reaps them: at shutdown,
// once every task has ended, whatever is left escaped its task.
func stopAllDescendants(leaders map[int]bool) int {
	self := os.Getpid()
	return stopProcesses(func(procs map[int]procStat, pid int) bool {
		return !leaders[pid] && topOf(procs, pid, self) != 0
	}, nil, leaders)
}

// stopProcesses kills the processes match selects, again until none is
// left (one may fork before its SIGKILL lands), then reaps those, and
// those in known, that are taskd's children, never a pid in keep.
func stopProcesses(match func(procs map[int]procStat, pid int) bool, known map[int]uint64, keep map[int]bool) int {
	self := os.Getpid()
	deadline := time.Now().Add(descendantStopTime)
	killed := maps.Clone(known) // pid: start time
	if killed == nil {
		killed = make(map[int]uint64)
	}
	for {
		procs := scanProcs()
		live, dying := 0, 0
		for pid, st := range procs {
			if start, ok := killed[pid]; ok && start == st.start && st.ppid == self && !keep[pid] {
				if st.state == 'Z' {
					_, _ = wait4(pid)
					continue
				}
				dying++
			}
			if st.state == 'Z' || !match(procs, pid) {
				continue
			}
			live++
			killed[pid] = st.start
			signalPid(pid, st.start, unix.SIGKILL)
		}
		if (live == 0 && dying == 0) || time.Now().After(deadline) {
			return len(killed)
		}
		time.Sleep(5 * time.Millisecond) // SIGKILL and reparenting take effect asynchronously.
	}
}

// orphanReapInterval is the least time between two of reapOrphans'
// listings: every task's end is a SIGCHLD, and a zombie orphan is rare and
// harmless for that long, so a busy taskd lists its children for them a
// few dozen times a second instead of once per task.
const orphanReapInterval = 20 * time.Millisecond

// reapOrphans reaps, whenever a child of taskd exits (within
// orphanReapInterval), every zombie child that is not a task's shell (its
// work reaps it), until stop is called: an orphan of a task that ends while
// the task runs would otherwise stay a zombie until the task ends. Only a
// process whose children are all task shells or their orphans may run it.
func reapOrphans(shells *shellSet) (stop func()) {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, unix.SIGCHLD)
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		defer signal.Stop(sigs)
		var last time.Time
		for {
			select {
			case <-done:
				return
			case <-sigs:
			}
			if wait := orphanReapInterval - time.Since(last); wait > 0 {
				// The SIGCHLDs meanwhile are not needed: the listing
				// after the wait finds their children. Unsubscribed,
				// a busy taskd's signal handler drops each task's end
				// at once, where it woke os/signal's goroutine (and
				// the thread it waits on) to be dropped here.
				signal.Stop(sigs)
				timer := time.NewTimer(wait)
				select {
				case <-done:
					timer.Stop()
					return
				case <-timer.C:
				}
				select { // one may have come before Stop
				case <-sigs:
				default:
				}
				signal.Notify(sigs, unix.SIGCHLD) // before the listing: no end is missed
			}
			last = time.Now()
			// A child's state first, then the shells: a task's shell
			// is counted before it is forked, so one that is a zombie
			// is among all the shells asked afterwards, or its work
			// has reaped it. The other way round, a task started in
			// between, whose command ended at once, was reaped here and
			// its work lost its exit status. The shells asked before
			// only spare their stats.
			self := os.Getpid()
			children, _ := ownChildren()
			shellsBefore, _ := shells.snapshot()
			var zombies []int
			for _, pid := range children {
				if shellsBefore[pid] {
					continue
				}
				if st, err := readStat(pid); err == nil && st.ppid == self && st.state == 'Z' {
					zombies = append(zombies, pid)
				}
			}
			if len(zombies) == 0 {
				continue
			}
			keep := shells.all()
			for _, pid := range zombies {
				if !keep[pid] {
					_, _ = wait4(pid)
				}
			}
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}

// childCarries reports whether a child of taskd that is not a task's shell
// carries the task's guid in its environment (an error counts as one): a
// process of the task's is one under such a child (see belongs), so when
// there is none, stopProcesses would find nothing. The shells, which carry
// their own task's guid, only spare the reads of their environments; a
// child still being started, not yet among them, carries taskd's
// environment or its own task's guid, so it needs no waiting for.
func childCarries(guid string, shells *shellSet) bool {
	children, err := ownChildren()
	if err != nil {
		return true
	}
	known, _ := shells.snapshot()
	for _, pid := range children {
		if !known[pid] && hasGUID(pid, guid) {
			return true
		}
	}
	return false
}

// ownChildren lists taskd's children, every orphan it inherited among them,
// from its threads' /proc/self/task/<tid>/children: a child is listed under
// the thread that started it, an orphan under the thread that inherited
// it. Since Linux 3.19 that is the first live thread of the subreaper
// (find_new_reaper, find_alive_thread), taskd's main thread, which lives as
// long as taskd does (the Go runtime never ends it), so only its list is
// read: the others hold only the shells their threads started, which every
// caller passes over, and reading them all was most of what a task's end
// cost. Before 3.19, an orphan went to the thread that started its
// ancestor shell, and every thread's list is read. A thread that exits
// hands its children to another; the Go runtime ends a thread only when a
// goroutine exits locked to it, which no goroutine of taskd does.
func ownChildren() ([]int, error) {
	childLists.mu.Lock()
	defer childLists.mu.Unlock()
	threads := []string{strconv.Itoa(os.Getpid())}
	if !orphansGoToMainThread() {
		var err error
		if threads, err = childLists.threads(); err != nil {
			return nil, err
		}
	}
	var children []int
	for _, tid := range threads {
		b, err := childLists.stable(tid)
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ESRCH) {
			continue // the thread has exited: its children went to another
		}
		if err != nil {
			return nil, err
		}
		for f := range strings.FieldsSeq(string(b)) {
			pid, err := strconv.Atoi(f)
			if err != nil {
				return nil, fmt.Errorf("malformed children list %q", b)
			}
			children = append(children, pid)
		}
	}
	return children, nil
}

// orphansGoToMainThread reports whether the kernel hands an orphan to its
// subreaper's main thread: Linux 3.19 and later (see ownChildren).
var orphansGoToMainThread = sync.OnceValue(func() bool {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return false
	}
	return kernelAtLeast(unix.ByteSliceToString(u.Release[:]), 3, 19)
})

// kernelAtLeast reports whether a kernel release ("6.1.0-18-amd64") is
// major.minor or later; false when it cannot tell.
func kernelAtLeast(release string, major, minor int) bool {
	fields := strings.SplitN(release, ".", 3)
	if len(fields) < 2 {
		return false
	}
	maj, err1 := strconv.Atoi(fields[0])
	end := strings.IndexFunc(fields[1], func(r rune) bool { return r < '0' || r > '9' })
	if end < 0 {
		end = len(fields[1])
	}
	mnr, err2 := strconv.Atoi(fields[1][:end])
	if err1 != nil || err2 != nil {
		return false
	}
	return maj > major || maj == major && mnr >= minor
}

// childLists keeps each thread's children file open, and the directory of
// the threads: a task's end lists taskd's children, and opening and closing
// a file per thread was most of what that cost. A file or directory of
// /proc read again from offset 0 is generated afresh.
var childLists = &childFiles{fds: map[string]int{}, bufs: [2][]byte{make([]byte, 0, 4096), make([]byte, 0, 4096)}}

type childFiles struct {
	mu   sync.Mutex
	dir  *os.File       // /proc/self/task
	fds  map[string]int // by thread id
	bufs [2][]byte      // two reads of one thread's children, to compare
}

// threads returns the ids of taskd's threads.
func (c *childFiles) threads() ([]string, error) {
	if c.dir == nil {
		dir, err := os.Open("/proc/self/task")
		if err != nil {
			return nil, err
		}
		c.dir = dir
	} else if _, err := c.dir.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	return c.dir.Readdirnames(-1)
}

// childListTries bounds how many times stable reads a thread's children
// before it gives up: each time, one was reaped meanwhile.
const childListTries = 100

// stable returns the children the thread tid lists, read twice alike. The
// kernel lists them a step at a time, and skips one when a child listed
// before it is reaped between two steps; that child is missing from the
// next read, so two reads alike mean the first skipped none. (taskd used
// to hold every start and reap while it listed: a listing then waited for
// the forks under way, and held up every task's start and end meanwhile.)
// The slice is overwritten by the next call.
func (c *childFiles) stable(tid string) ([]byte, error) {
	prev, err := c.read(tid, c.bufs[0][:0])
	if err != nil {
		return nil, err
	}
	c.bufs[0] = prev
	for range childListTries {
		next, err := c.read(tid, c.bufs[1][:0])
		if err != nil {
			return nil, err
		}
		c.bufs[1] = next
		if bytes.Equal(prev, next) {
			return next, nil
		}
		c.bufs[0], c.bufs[1] = c.bufs[1], c.bufs[0]
		prev = c.bufs[0]
	}
	return nil, fmt.Errorf("the children of thread %s kept changing", tid)
}

// read appends the children the thread tid lists now to buf.
func (c *childFiles) read(tid string, buf []byte) ([]byte, error) {
	path := "/proc/self/task/" + tid + "/children"
	fd, ok := c.fds[tid]
	if !ok {
		var err error
		fd, err = unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		for errors.Is(err, unix.EINTR) {
			fd, err = unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		}
		if err != nil {
			return nil, &fs.PathError{Op: "open", Path: path, Err: err}
		}
		c.fds[tid] = fd
	}
	start := len(buf)
	for {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, max(cap(buf), 512))
		}
		m, err := unix.Pread(fd, buf[len(buf):cap(buf)], int64(len(buf)-start))
		switch {
		case errors.Is(err, unix.EINTR):
		case err != nil:
			_ = unix.Close(fd)
			delete(c.fds, tid)
			return nil, &fs.PathError{Op: "read", Path: path, Err: err}
		case m == 0:
			return buf, nil
		default:
			buf = buf[:len(buf)+m]
		}
	}
}

// belongs reports whether pid is one of the task's processes: under a child
// of taskd (the leader, or an orphan that came to taskd) that carries the
// task's guid.
func belongs(procs map[int]procStat, pid, self int, guid string) bool {
	top := topOf(procs, pid, self)
	return top != 0 && hasGUID(top, guid)
}

// topOf returns the child of self that pid descends from (pid itself if it
// is one), or 0 if pid does not descend from self.
func topOf(procs map[int]procStat, pid, self int) int {
	for range len(procs) + 1 {
		st, ok := procs[pid]
		switch {
		case !ok:
			return 0
		case st.ppid == self:
			return pid
		}
		pid = st.ppid
	}
	return 0
}

// scanProcs reads every process's stat.
func scanProcs() map[int]procStat {
	procs := make(map[int]procStat)
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, err := readStat(pid); err == nil {
			procs[pid] = st
		}
	}
	return procs
}

// signalPid sends sig to pid through a pidfd, once it has checked that pid
// is still the process that started at start: between the scan and the
// signal, the pid may have been reused.
func signalPid(pid int, start uint64, sig unix.Signal) {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return
	}
	defer unix.Close(fd)
	if st, err := readStat(pid); err != nil || st.start != start {
		return
	}
	_ = unix.PidfdSendSignal(fd, sig, nil, 0)
}

// hasGUID reports whether pid's environment names the task; unlike
// carriesGUID, an environment taskd may not read does not count.
func hasGUID(pid int, guid string) bool {
	has, err := environHas(pid, taskGUIDEnv+"="+guid)
	return err == nil && has
}

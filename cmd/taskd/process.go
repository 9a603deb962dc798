package main

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/tasklife/tasklife/internal/logname"
)

// process is a started task command.
type process struct {
	guid string
	// shells, when set, holds every task's shell (the group leaders):
	// once this task's group is gone, a child of taskd that is none of
	// them may be a process the task left outside its group, and only
	// then does finish look for those.
	shells *shellSet
	strays map[int]uint64 // processes outside the group signaled on cancel
	mu     sync.Mutex
	reaped bool // the group id may belong to someone else from now on
	pid    int  // the leader's
	// pidfd is the leader's pidfd from the fork, for watchLeader (the
	// watcher's leaderReady, or awaitLeader, closes it); -1 when the
	// kernel gave none (or not on Linux).
	pidfd  int
	status *syscall.WaitStatus // how the leader ended, once reaped
	gate   *gate
	exited chan struct{} // closed once the group leader has exited
	// drained is closed once both output readers have reached the end
	// of their pipes (or their closing).
	drained chan struct{}
	out     *outputLog
	streams []*outStream // stdout and stderr
}

// startProcess starts command with shell in a new process group, behind
// its start gate (held, or opened before the fork and taken back by a
// cancel of ctx: see gate), as the user as names (nil: taskd's). Each line
// it writes is logged through out.
//
// It works with descriptors, not *os.File, and syscall.StartProcess, not
// os.StartProcess or os/exec: taskd reads two of the six ends, and only
// those need Go's poller. Each os.File costs a system call (F_GETFL) and a
// finalizer, os/exec copies and deduplicates the environment (taskEnv has
// done that once), and os.StartProcess makes a second pidfd of the leader,
// which taskd has from the fork, for Wait.
func startProcess(ctx context.Context, shell, guid, command string, out *outputLog, as *runAs, held bool) (*process, error) {
	var (
		parent []int // ours: closed on failure
		child  []int // the child's: always closed here once started
	)
	closeAll := func(fds []int) {
		for _, fd := range fds {
			_ = syscall.Close(fd)
		}
	}
	defer func() { closeAll(child) }()
	g, gateR, err := newGate(ctx, held)
	if err != nil {
		return nil, err
	}
	failed := func() { g.close(); closeAll(parent) }
	if held {
		child = append(child, gateR)
	}
	outR, outW, err := taskPipe(true)
	if err != nil {
		failed()
		return nil, err
	}
	parent, child = append(parent, outR), append(child, outW)
	errR, errW, err := taskPipe(true)
	if err != nil {
		failed()
		return nil, err
	}
	parent, child = append(parent, errR), append(child, errW)

	stdin, err := devNull()
	if err != nil {
		failed()
		return nil, err
	}
	pidfd := -1
	attr := &syscall.ProcAttr{Files: []uintptr{stdin.Fd(), uintptr(outW), uintptr(errW), uintptr(gateR)}, Sys: sysProcAttr(&pidfd)}
	var userEnv []string
	if as != nil && as.cred != nil {
		attr.Sys.Credential, userEnv = as.cred, as.env
	}
	attr.Env = taskEnv(guid, userEnv)
	pid, _, err := syscall.StartProcess(shell, []string{shell, "-c", gateScript, shell, command}, attr)
	if err != nil {
		failed()
		return nil, &os.PathError{Op: "fork/exec", Path: shell, Err: err}
	}
	p := &process{guid: guid, pid: pid, pidfd: pidfd, gate: g, exited: make(chan struct{}), out: out}
	p.drained = make(chan struct{})
	var reading atomic.Int32
	reading.Store(2)
	ended := func() {
		if reading.Add(-1) == 0 {
			close(p.drained)
		}
	}
	p.streams = []*outStream{startStream(outR, "stdout", out, ended), startStream(errR, "stderr", out, ended)}
	watchLeader(p)
	return p, nil
}

// watchLeader closes p.exited once the group leader has exited: the
// watcher waits on its pidfd, or else a goroutine (awaitLeader).
func watchLeader(p *process) {
	if p.pidfd >= 0 {
		if _, err := fds.watch(p.pidfd, func() { leaderReady(p) }); err == nil {
			return
		}
	}
	go leaderGone(p)
}

// leaderGone closes p.exited once awaitLeader returns.
func leaderGone(p *process) {
	awaitLeader(p)
	close(p.exited)
}

// leaderReady is the watcher's: the leader's pidfd is readable, which it
// is once the leader has exited (asked again, without reaping it).
func leaderReady(p *process) {
	if !leaderExited(p.pid) {
		go leaderGone(p) // never seen: wait as without a watcher
		return
	}
	_ = syscall.Close(p.pidfd)
	p.pidfd = -1
	close(p.exited)
}

// devNull is the task's standard input, opened once, not once per task.
var devNull = sync.OnceValues(func() (*os.File, error) { return os.Open(os.DevNull) })

// taskEnv is taskd's environment without its secrets (the bearer token and
// the database URL, which may hold a password), plus the task's guid and
// userEnv (HOME, USER, LOGNAME of the user it runs as), which replace
// taskd's.
func taskEnv(guid string, userEnv []string) []string {
	base := baseEnv()
	env := make([]string, 0, len(base)+len(userEnv)+1)
	for _, kv := range base {
		name, _, _ := strings.Cut(kv, "=")
		if !slices.ContainsFunc(userEnv, func(u string) bool { return strings.HasPrefix(u, name+"=") }) {
			env = append(env, kv)
		}
	}
	return append(append(env, userEnv...), taskGUIDEnv+"="+guid)
}

// baseEnv is taskd's environment as tasks get it, taken once (taskd does
// not change its environment once it runs tasks; hideSecrets runs before,
// and its names are left out anyway).
var baseEnv = sync.OnceValue(func() []string { return tasksEnv(os.Environ()) })

// tasksEnv is env without the secrets and the task guid, deduplicated as
// os/exec does: of a name given twice, the last value, in the order of
// those last values; an entry that is not NAME=value stays as it is.
func tasksEnv(env []string) []string {
	seen := make(map[string]bool, len(env))
	var kept []string
	for i := len(env) - 1; i >= 0; i-- {
		kv := env[i]
		eq := strings.Index(kv, "=")
		if eq == 0 {
			eq = strings.Index(kv[1:], "=") + 1 // os/exec's name of "=A=b" is "=A"
		}
		if eq < 0 {
			if kv != "" {
				kept = append(kept, kv)
			}
			continue
		}
		name := kv[:eq]
		if seen[name] || name == tokenEnv || name == databaseURLEnv || name == taskGUIDEnv {
			continue
		}
		seen[name] = true
		kept = append(kept, kv)
	}
	slices.Reverse(kept)
	return kept
}

// signal sends sig to the whole process group, unless it is gone.
func (p *process) signal(sig syscall.Signal) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.reaped {
		_ = syscall.Kill(-p.pid, sig) // ESRCH: nothing left.
	}
}

// killGroup sends SIGKILL to the whole group, its leader reaped or not: a
// group whose leader exited may still hold children that ignored SIGTERM,
// and while any member is left the group id cannot belong to anyone else.
func (p *process) killGroup() {
	p.mu.Lock()
	defer p.mu.Unlock()
	_ = syscall.Kill(-p.pid, syscall.SIGKILL) // ESRCH: nothing left.
}

// reapPid reaps the child pid, and returns how it ended; nil if it could
// not (another wait reaped it).
func reapPid(pid int) *syscall.WaitStatus {
	for {
		var ws syscall.WaitStatus
		_, err := syscall.Wait4(pid, &ws, 0, nil)
		switch {
		case errors.Is(err, syscall.EINTR):
		case err != nil:
			return nil
		default:
			return &ws
		}
	}
}

// reap waits for the group leader, after which the group id is no longer
// safe to signal through p.
func (p *process) reap() {
	p.mu.Lock()
	p.reaped = true
	p.mu.Unlock()
	if p.status == nil {
		p.status = reapPid(p.pid)
	}
}

// hasExited reports whether the group leader has exited, even if awaitLeader
// has not said so yet.
func (p *process) hasExited() bool {
	select {
	case <-p.exited:
		return true
	default:
		return leaderExited(p.pid)
	}
}

// finish kills what is left of the process group (all of it, at once, when
// the leader has not exited yet), reaps it and collects the rest of its
// output. Until linger, the rest of a group whose leader has exited may
// still end on its own: a canceled task's children get the whole grace
// period for their cleanup, as its shell did.
func (p *process) finish(log *logname.Task, linger time.Time) syscall.WaitStatus {
	p.gate.close()
	select {
	case <-p.exited:
	default:
		p.signal(syscall.SIGKILL)
		<-p.exited
	}
	pgid := p.pid
	if time.Now().Before(linger) {
		p.reap()
		if !awaitGroup(pgid, linger) {
			log.Warn("task's processes outlived the grace period: sending SIGKILL to its process group")
			// Members are left, so the group id is still theirs.
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
		}
	} else {
		// The leader has exited but is not reaped, so the group id is
		// still ours.
		p.signal(syscall.SIGKILL)
		p.reap()
	}
	reapGroup(pgid)
	if n := stopDescendants(p.guid, p.strays, p.shells); n > 0 {
		log.Warn("task left processes outside its process group: killed them", slog.Int("processes", n))
	}
	p.drainOutput(log)
	for _, st := range p.streams {
		st.close()
	}
	p.out.close()
	if p.status == nil {
		// Reaped by stopAllDescendants at a shutdown that ran out of
		// time: it was killed.
		return syscall.WaitStatus(syscall.SIGKILL)
	}
	return *p.status
}

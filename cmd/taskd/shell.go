package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/internal/logname"
	"github.com/tasklife/tasklife/runner"
)

// shell is taskd's runner.Work: it runs a task's command with /bin/sh -c in
// a process group of its own, sends the group SIGTERM when the task is
// cancelled, and maps how the process ended to the task's outcome. The
// runner calls kill, its HardStop, for a group that outlives the grace
// period.
type shell struct {
	path  string // runs the gate script; /bin/sh unless a test breaks it
	grace time.Duration
	log   *slog.Logger
	// state, when set, records each running task's process group, so that
	// a restart after a crash can kill what is left of it.
	state *stateDir
	// as, when set, is the user tasks run as (-run-as).
	as *runAs
	// logLines caps the lines of output logged per task and second
	// (-log-lines-per-second); 0: no cap.
	logLines int
	// logs, when set, keeps each task's output for GET .../logs.
	logs *taskLogs

	mu     sync.Mutex
	procs  map[string]*process // by task guid, while the work runs
	shells *shellSet           // the tasks' shells (leaders)
	works  sync.WaitGroup      // work calls that have not returned
}

func newShell(log *slog.Logger, grace time.Duration) *shell {
	return &shell{path: "/bin/sh", grace: grace, log: log, procs: make(map[string]*process), shells: newShellSet()}
}

// errStopped is what work returns for a process it stopped: the runner
// records the task canceled whatever the error says.
var errStopped = errors.New("stopped by taskd")

// neverRan is logged for a task cancelled before its command could run.
const neverRan = "task canceled while it was being started: its command never ran"

// work runs the task's command until it ends, or until ctx is done and the
// group has stopped.
func (s *shell) work(ctx context.Context, t *tasklife.Task) error {
	s.works.Add(1)
	defer s.works.Done()
	log := logname.NewTask(s.log, t.GUID, t.Name)
	if ctx.Err() != nil {
		// Cancelled before its process was made (a cancel can come
		// while the runner hands the task over).
		log.Info(neverRan)
		return errStopped
	}
	p, err := s.start(ctx, t, log)
	if err != nil {
		log.Error("task could not be started", slog.Any("error", err))
		return runner.Failure(tasklife.ReasonCannotBeStarted, err)
	}
	defer s.shells.drop(p.pid)
	if s.state != nil {
		// Before the gate opens: until then the group is one shell that
		// Pdeathsig kills with taskd, afterwards only the record finds
		// what it may have started. taskd removes it once the outcome is
		// stored.
		if err := s.state.add(t.GUID, p.pid); err != nil {
			p.finish(log, time.Time{})
			log.Error("task's process could not be recorded; not running it", slog.Any("error", err))
			return runner.Failure(tasklife.ReasonCannotBeStarted, err)
		}
	}
	s.track(t.GUID, p)
	defer s.untrack(t.GUID)
	if !p.gate.pass(ctx) {
		// Cancelled while its process was being made, before its shell
		// passed the gate: the command never runs. A shell that passed it
		// is stopped below, as a running task is.
		p.finish(log, time.Time{})
		log.Info(neverRan)
		return errStopped
	}
	log.Info("task's process started", slog.Int("pid", p.pid))

	signaled := false
	var linger time.Time // until when the group may outlive its leader
	select {
	case <-p.exited:
	case <-ctx.Done():
		if p.hasExited() {
			// It ended on its own before the cancel reached it: its exit
			// status stands, whatever it is.
			break
		}
		signaled = true
		log.Info("task canceling: sending SIGTERM to its process group", slog.Duration("grace", s.grace))
		p.signal(syscall.SIGTERM)
		p.strays = signalDescendants(t.GUID, p.pid, syscall.SIGTERM)
		linger = time.Now().Add(s.grace)
		<-p.exited // kill, the runner's HardStop, ends a group that ignores it
	}
	ws := p.finish(log, linger)
	ev, reason := outcome(ws, signaled)
	log.Info("task's process ended", slog.String("how", describe(ws)), slog.String("event", string(ev)))
	return result(ev, reason)
}

// outcome maps how the process ended to the event that ends its task.
// Once taskd has signalled the group, any end is the cancel taking effect,
// exit 0 included: a task that traps SIGTERM and exits 0 was still stopped
// before it finished. Only an end that came before the signal keeps its own
// outcome, and then signaled is false.
func outcome(ws syscall.WaitStatus, signaled bool) (tasklife.Event, string) {
	switch {
	case signaled:
		return tasklife.EventCanceled, ""
	case ws.Exited() && ws.ExitStatus() == 0:
		return tasklife.EventSucceed, ""
	case ws.Signaled():
		// A shell reports death by signal N as status 128+N; so does Diego.
		return tasklife.EventFail, tasklife.ExitedWithStatus(128 + int(ws.Signal()))
	default:
		return tasklife.EventFail, tasklife.ExitedWithStatus(ws.ExitStatus())
	}
}

// result is what work returns for an outcome: the runner records a
// canceled task as such whatever work returns, and an end the process
// reached by itself stands even if the cancel reached the work while it
// was being reaped (Completed).
func result(ev tasklife.Event, reason string) error {
	switch ev {
	case tasklife.EventCanceled:
		return errStopped
	case tasklife.EventSucceed:
		return runner.Completed(nil)
	}
	return runner.Completed(runner.Failure(reason, nil))
}

// describe says how a process ended, for the log.
func describe(ws syscall.WaitStatus) string {
	if ws.Signaled() {
		return fmt.Sprintf("killed by signal %d (%s)", ws.Signal(), ws.Signal())
	}
	return "exited with status " + strconv.Itoa(ws.ExitStatus())
}

// start starts the task's shell behind its gate, and counts it among the
// shells from before it is forked, so that no listing of taskd's children
// takes it for an orphan (see shellSet). Starts do not wait for listings,
// nor listings for starts, except to place a child still being started.
func (s *shell) start(ctx context.Context, t *tasklife.Task, log *logname.Task) (*process, error) {
	starting := s.shells.begin()
	out := newOutputLog(log.Logger, t.LogRateLimitInBytesPerSecond, s.logLines)
	out.logs, out.guid = s.logs, t.GUID
	if s.logs != nil {
		// Before the process, so before any output.
		s.logs.begin(t.GUID)
	}
	// The gate is held only until the group is recorded, if taskd keeps
	// records.
	p, err := startProcess(ctx, s.path, t.GUID, t.Command, out, s.as, s.state != nil)
	if err != nil {
		s.shells.started(starting, 0)
		if s.logs != nil {
			s.logs.end(t.GUID) // none
		}
		return nil, err
	}
	p.shells = s.shells
	s.shells.started(starting, p.pid)
	return p, nil
}

func (s *shell) track(guid string, p *process) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.procs[guid] = p
}

func (s *shell) untrack(guid string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.procs, guid)
}

// kill sends SIGKILL to the task's process group: the runner's HardStop for
// a group that ignored SIGTERM for the whole grace period.
func (s *shell) kill(t *tasklife.Task) {
	s.mu.Lock()
	p := s.procs[t.GUID]
	s.mu.Unlock()
	if p != nil {
		s.log.Warn("task ignored SIGTERM: sending SIGKILL to its process group", "task_guid", t.GUID)
		p.killGroup()
	}
}

// wait waits until every work call has returned, or ctx is done.
func (s *shell) wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		s.works.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// leaders returns the pids of the tasks' shells, which their work reaps:
// from the moment each is started until its work is through with it.
func (s *shell) leaders() map[int]bool {
	return s.shells.all()
}

// killAll sends SIGKILL to every group still running: a shutdown that ran
// out of time.
func (s *shell) killAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.procs {
		p.killGroup()
	}
}

package main

import (
	"errors"
	"flag"
	"fmt"
	"strconv"
	"sync"
	"time"
)

// Task logs: taskd keeps each task's recent output in memory, for
// GET /v3/tasks/{guid}/logs and the console. Only what passed the task's
// log rate limit is kept (output.go tees it here after the limiter), and
// the limiter's own reports are kept too, as stream "taskd", so that a
// reader sees why lines are missing.
//
// It is bounded twice: per task (the last -task-log-lines lines and at
// most -task-log-bytes; older lines are dropped first) and in total
// (-task-logs-bytes): a line that would pass the total evicts the logs of
// the tasks that ended longest ago, whole, then, if only running tasks'
// logs are left, the oldest lines of the task that writes it. Each task's
// log counts taskOverhead besides its lines, so that many tasks that wrote
// nothing are bounded too; only running tasks' logs can take the total
// beyond the bound, by taskOverhead each. Ended tasks' logs stay until
// evicted, or until retention deletes the task.
//
// Output lives in the memory of the instance that ran the task: it does
// not survive a restart, and on PostgreSQL another instance has none of it
// (the database holds tasks, not output: writing every line there would
// make a chatty task a write load on the store every instance shares).

// lineOverhead is what a kept line costs beyond its text: its logLine in
// the slice (72 bytes on 64-bit) and the rounding of the text's
// allocation. Counting it bounds the memory of a task that writes empty
// lines.
const lineOverhead = 96

// taskOverhead is what a task's log costs without a line: its map entry,
// struct and place in the eviction order. Counting it keeps the total
// bound true for many tasks that write nothing.
const taskOverhead = 256

// logLine is one line of a task's output as it was kept.
type logLine struct {
	n         int64 // its number in the task's output, from 1
	time      time.Time
	stream    string // stdout, stderr or taskd
	text      string
	truncated bool // the task wrote more of it than maxLogLine
}

func (l logLine) cost() int64 { return int64(len(l.text)) + lineOverhead }

// taskLog is one task's kept output.
type taskLog struct {
	lines   []logLine // oldest first
	bytes   int64     // their cost
	written int64     // lines kept so far, dropped ones included
	ended   bool      // the output has ended: nothing more comes
	endedAt time.Time
	wake    chan struct{} // closed and replaced when a line comes or it ends
}

// taskLogs holds the output of the tasks this instance ran. Safe for
// concurrent use.
type taskLogs struct {
	maxLines     int
	maxTaskBytes int64
	maxBytes     int64

	mu    sync.Mutex
	tasks map[string]*taskLog
	ended []string // guids in the order their output ended; may hold gone ones
	bytes int64
	// started is closed and replaced when a task's log begins, for the
	// followers of a task whose output has not begun here yet.
	started chan struct{}
}

// logsConfig is what the flags say about task logs.
type logsConfig struct {
	taskLines int
	taskBytes int64
	total     int64
}

func (c *logsConfig) flags(fs *flag.FlagSet) {
	fs.IntVar(&c.taskLines, "task-log-lines", 1000, "how many of a task's last lines of output taskd keeps for GET /v3/tasks/{guid}/logs")
	fs.Int64Var(&c.taskBytes, "task-log-bytes", 256<<10, "how many bytes of a task's last output taskd keeps (each line counts "+strconv.Itoa(lineOverhead)+" bytes more than its text)")
	fs.Int64Var(&c.total, "task-logs-bytes", 64<<20, "how many bytes of output taskd keeps in all; beyond it, the logs of the tasks that ended first go (0: keep no output)")
}

func (c *logsConfig) check() error {
	if c.taskLines < 1 || c.taskBytes < lineOverhead {
		return fmt.Errorf("-task-log-lines must be at least 1 and -task-log-bytes at least %d", lineOverhead)
	}
	if c.total != 0 && c.total < c.taskBytes {
		return errors.New("-task-logs-bytes must be 0 (keep no output) or at least -task-log-bytes")
	}
	return nil
}

func newTaskLogs(c logsConfig) *taskLogs {
	return &taskLogs{maxLines: c.taskLines, maxTaskBytes: c.taskBytes, maxBytes: c.total,
		tasks: make(map[string]*taskLog), started: make(chan struct{})}
}

// begin starts the log of a task whose process is about to start here. A
// task that runs again here (after a lost lease, say) keeps what it had.
func (s *taskLogs) begin(guid string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if tl, ok := s.tasks[guid]; ok {
		tl.ended = false
		return
	}
	if s.maxBytes == 0 {
		return // keep no output: every task reads as having none here
	}
	for s.bytes+taskOverhead > s.maxBytes && s.evictEnded(guid) {
	}
	s.tasks[guid] = &taskLog{wake: make(chan struct{})}
	s.bytes += taskOverhead
	close(s.started)
	s.started = make(chan struct{})
}

// add keeps one line of guid's output, dropping older ones to stay within
// the bounds. A line for a task whose log has not begun is not kept.
func (s *taskLogs) add(guid string, l logLine) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tl := s.tasks[guid]
	if tl == nil || s.maxBytes == 0 {
		return
	}
	tl.written++
	l.n = tl.written
	cost := l.cost()
	if cost > s.maxTaskBytes {
		l.text, l.truncated = l.text[:s.maxTaskBytes-lineOverhead], true
		cost = l.cost()
	}
	for len(tl.lines) > 0 && (len(tl.lines) >= s.maxLines || tl.bytes+cost > s.maxTaskBytes) {
		s.dropOldest(tl)
	}
	for s.bytes+cost > s.maxBytes && s.evictEnded(guid) {
	}
	for s.bytes+cost > s.maxBytes && len(tl.lines) > 0 {
		s.dropOldest(tl)
	}
	if s.bytes+cost > s.maxBytes {
		return // running tasks' logs fill it all
	}
	tl.lines = append(tl.lines, l)
	tl.bytes += cost
	s.bytes += cost
	tl.notify()
}

func (s *taskLogs) dropOldest(tl *taskLog) {
	c := tl.lines[0].cost()
	tl.lines[0] = logLine{}
	tl.lines = tl.lines[1:]
	tl.bytes -= c
	s.bytes -= c
}

// evictEnded forgets the log of the task whose output ended longest ago
// (not keep's), and reports false when there is none.
func (s *taskLogs) evictEnded(keep string) bool {
	for i := 0; i < len(s.ended); {
		guid := s.ended[i]
		tl := s.tasks[guid]
		switch {
		case tl == nil: // forgotten already
			s.ended = append(s.ended[:i], s.ended[i+1:]...)
		case guid == keep || !tl.ended: // running again
			i++
		default:
			s.ended = append(s.ended[:i], s.ended[i+1:]...)
			s.forget(guid, tl)
			return true
		}
	}
	return false
}

func (s *taskLogs) forget(guid string, tl *taskLog) {
	s.bytes -= tl.bytes + taskOverhead
	delete(s.tasks, guid)
	tl.ended = true
	tl.notify() // its followers stop
}

// end records that guid's output has ended.
func (s *taskLogs) end(guid string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tl := s.tasks[guid]
	if tl == nil || tl.ended {
		return
	}
	tl.ended, tl.endedAt = true, time.Now()
	s.ended = append(s.ended, guid)
	tl.notify()
}

// dropEndedBefore forgets the logs of tasks whose output ended before t:
// retention has deleted those tasks, or will.
func (s *taskLogs) dropEndedBefore(t time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	kept := s.ended[:0]
	for _, guid := range s.ended {
		tl := s.tasks[guid]
		switch {
		case tl == nil || !tl.ended:
		case tl.endedAt.Before(t):
			s.forget(guid, tl)
		default:
			kept = append(kept, guid)
		}
	}
	clear(s.ended[len(kept):])
	s.ended = kept
}

func (tl *taskLog) notify() {
	close(tl.wake)
	tl.wake = make(chan struct{})
}

// logRead is what read returns: the lines after a point, and how to wait
// for more.
type logRead struct {
	found   bool      // this instance holds a log for the task
	lines   []logLine // the kept lines numbered after the point asked for
	dropped int64     // lines after that point that are no longer kept
	ended   bool      // nothing more comes
	wake    <-chan struct{}
}

// read returns guid's kept lines numbered after after. When found is
// false, wake is closed once any task's log begins.
func (s *taskLogs) read(guid string, after int64) logRead {
	s.mu.Lock()
	defer s.mu.Unlock()
	tl := s.tasks[guid]
	if tl == nil {
		return logRead{wake: s.started}
	}
	r := logRead{found: true, ended: tl.ended, wake: tl.wake}
	i := 0
	for i < len(tl.lines) && tl.lines[i].n <= after {
		i++
	}
	r.lines = append([]logLine(nil), tl.lines[i:]...)
	first := tl.written + 1
	if len(tl.lines) > 0 {
		first = tl.lines[0].n
	}
	r.dropped = max(0, first-1-after)
	return r
}

// size returns the bytes kept in all, for tests and metrics.
func (s *taskLogs) size() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bytes
}

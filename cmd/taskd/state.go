package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/tasklife/tasklife/runner"
)

// taskGUIDEnv names the variable each task's processes get their task's guid
// in. Tasks may use it; taskd uses it after a crash to tell its own orphans
// from strangers that happen to share a process group id.
const taskGUIDEnv = "TASKD_TASK_GUID"

// stateDir is the directory where taskd keeps what it must know after being
// killed without a chance to clean up: one record per running task. Only one
// taskd at a time may use it; it holds a lock on it while it runs.
type stateDir struct {
	path string
	lock *os.File // flock held for taskd's lifetime; the kernel drops it on exit
}

// procRecord is what a crashed taskd left about one task's process group.
type procRecord struct {
	GUID string `json:"guid"`
	PGID int    `json:"pgid"`
	// Start is the group leader's start time in clock ticks since boot
	// (field 22 of /proc/<pid>/stat), so a reused pid is not mistaken for it.
	Start uint64 `json:"start"`
}

const recordSuffix = ".proc.json"

// openStateDir creates dir if needed and locks it, failing when another
// taskd holds it: two taskds on one state directory would each take the
// other's tasks for dead.
func openStateDir(dir string) (*stateDir, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	// os.OpenFile sets O_CLOEXEC, so no task inherits the lock and keeps
	// a restarted taskd out.
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("state directory %s is in use by another taskd: give each instance its own -state-dir and -instance", dir)
		}
		return nil, fmt.Errorf("locking state directory %s: %w", dir, err)
	}
	return &stateDir{path: dir, lock: f}, nil
}

// Close releases the lock.
func (s *stateDir) Close() error { return s.lock.Close() }

func (s *stateDir) recordPath(guid string) string {
	return filepath.Join(s.path, guid+recordSuffix)
}

// add records a task's process group. It is written whole or not at all
// (rename), and without fsync: it must survive taskd's death, not the
// machine's, which takes the processes with it.
func (s *stateDir) add(guid string, pgid int) error {
	start, err := startTime(pgid)
	if err != nil {
		return fmt.Errorf("reading the start time of %d: %w", pgid, err)
	}
	b, err := json.Marshal(procRecord{GUID: guid, PGID: pgid, Start: start})
	if err != nil {
		return err
	}
	tmp := s.recordPath(guid) + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, s.recordPath(guid))
}

// remove forgets a task's process group once nothing of it is left and its
// outcome is stored.
func (s *stateDir) remove(guid string, log *slog.Logger) {
	if err := os.Remove(s.recordPath(guid)); err != nil && !errors.Is(err, os.ErrNotExist) {
		log.Warn("process record could not be removed", "error", err)
	}
}

// killLeftovers kills what is left of the process groups a previous taskd
// on this state directory recorded, and deletes the records. It runs before
// anything else, when no task of this instance can be running.
//
// It returns the guids of the tasks that had a record: those may have run,
// since a record is written before a task's command is let past the gate
// and removed only once its outcome is stored. The result is nil when the
// directory could not be read, and then any task may have run.
func (s *stateDir) killLeftovers(log *slog.Logger) map[string]bool {
	entries, err := os.ReadDir(s.path)
	if err != nil {
		log.Error("state directory cannot be read: processes of a crashed taskd may still run", "dir", s.path, "error", err)
		return nil
	}
	recorded := make(map[string]bool)
	for _, e := range entries {
		name := e.Name()
		path := filepath.Join(s.path, name)
		switch {
		case strings.HasSuffix(name, recordSuffix+".tmp"):
			// Its task never got past the gate, and Pdeathsig took it.
			_ = os.Remove(path)
			continue
		case !strings.HasSuffix(name, recordSuffix):
			continue
		}
		// Even an unreadable record says its task may have run.
		recorded[strings.TrimSuffix(name, recordSuffix)] = true
		var rec procRecord
		b, err := os.ReadFile(path)
		if err == nil {
			err = json.Unmarshal(b, &rec)
		}
		if err != nil || rec.PGID <= 1 {
			log.Error("process record unreadable; removed", "file", path, "error", err)
			_ = os.Remove(path)
			continue
		}
		if n := killGroup(rec); n > 0 {
			log.Warn("killed processes a previous taskd left running", "task_guid", rec.GUID, "pgid", rec.PGID, "processes", n)
		}
		if err := os.Remove(path); err != nil {
			log.Warn("process record could not be removed", "file", path, "error", err)
		}
	}
	return recorded
}

// outcomesFile holds the outcomes a stopping taskd could not record (the
// database was down): the next start records them, so that a task that
// succeeded is not reported as one whose outcome is unknown.
const outcomesFile = "unrecorded-outcomes.json"

// saveUnrecorded keeps outcomes for the next start, whole or not at all.
func (s *stateDir) saveUnrecorded(outcomes []runner.Outcome) error {
	b, err := json.Marshal(outcomes)
	if err != nil {
		return err
	}
	path := filepath.Join(s.path, outcomesFile)
	if err := os.WriteFile(path+".tmp", b, 0o600); err != nil {
		return err
	}
	return os.Rename(path+".tmp", path)
}

// takeUnrecorded returns the outcomes a previous taskd kept, and forgets
// them: from now on the runner holds them, and hands back any it cannot
// record either.
func (s *stateDir) takeUnrecorded(log *slog.Logger) []runner.Outcome {
	path := filepath.Join(s.path, outcomesFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	var outcomes []runner.Outcome
	if err == nil {
		err = json.Unmarshal(b, &outcomes)
	}
	if err != nil {
		log.Error("unrecorded outcomes unreadable; those tasks end as unknown", "file", path, "error", err)
	}
	if err := os.Remove(path); err != nil {
		log.Warn("unrecorded outcomes file could not be removed", "error", err)
	}
	return outcomes
}

package main

import (
	"maps"
	"slices"
	"sync"
)

// shellSet holds the pids of the tasks' shells (the process group leaders),
// which their works reap, so that a listing of taskd's children
// (ownChildren) can tell them from the orphans taskd inherited. A shell
// counts from before it is forked (begin) until its work is through with it
// (drop). While it is being started its pid is not known yet: a listing
// that must place every child it meets asks again once the starts under
// way have ended (all), rather than hold every start up while it lists.
type shellSet struct {
	mu       sync.Mutex
	pids     map[int]bool
	starting map[*startingShell]bool
}

// startingShell is a shell being started: started sets pid, 0 if the start
// failed, before it closes done.
type startingShell struct {
	done chan struct{}
	pid  int
}

func newShellSet() *shellSet {
	return &shellSet{pids: make(map[int]bool), starting: make(map[*startingShell]bool)}
}

// begin counts a shell that is about to be forked; started must follow.
func (s *shellSet) begin() *startingShell {
	st := &startingShell{done: make(chan struct{})}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.starting[st] = true
	return st
}

// started records the pid of st's shell, 0 if it was not started.
func (s *shellSet) started(st *startingShell, pid int) {
	s.mu.Lock()
	if pid != 0 {
		s.pids[pid] = true
	}
	delete(s.starting, st)
	st.pid = pid
	s.mu.Unlock()
	close(st.done)
}

// drop forgets a shell its work has reaped, or will not wait for.
func (s *shellSet) drop(pid int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.pids, pid)
}

// snapshot returns the pids of the shells started so far and the starts
// under way.
func (s *shellSet) snapshot() (map[int]bool, []*startingShell) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.pids), slices.Collect(maps.Keys(s.starting))
}

// all returns the pids of every shell, those being started when it is
// called included, once their starts have ended.
func (s *shellSet) all() map[int]bool {
	pids, starting := s.snapshot()
	for _, st := range starting {
		<-st.done
		if st.pid != 0 {
			pids[st.pid] = true
		}
	}
	return pids
}

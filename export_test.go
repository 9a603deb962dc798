package tasklife

// WaitersOf reports how many Waits on guid are registered: for tests that
// must know a waiter is in place before they make the change it waits for.
func WaitersOf(s *Service, guid string) int {
	s.waits.mu.Lock()
	defer s.waits.mu.Unlock()
	return len(s.waits.byGUID[guid])
}

// WaitersThatReadOf reports how many Waits on guid have read the task at
// least once: a change made after that wakes them rather than being seen
// by their first read.
func WaitersThatReadOf(s *Service, guid string) int {
	s.waits.mu.Lock()
	defer s.waits.mu.Unlock()
	n := 0
	for _, w := range s.waits.byGUID[guid] {
		if w.read.Load() {
			n++
		}
	}
	return n
}

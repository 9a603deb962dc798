package tasklife

// WaitersOf reports how many Waits on guid are registered: for tests that
// must know a waiter is in place before they make the change it waits for.
func WaitersOf(s *Service, guid string) int {
	s.waits.mu.Lock()
	defer s.waits.mu.Unlock()
	return len(s.waits.byGUID[guid])
}

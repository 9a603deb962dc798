package pgstore

import "github.com/tasklife/tasklife"

// ListStatement returns the statement and arguments List sends for q, for
// tests that EXPLAIN it.
func (s *Store) ListStatement(q tasklife.ListQuery) (string, []any) {
	where, args := listFilter(q)
	return s.sql.listPage(q, where, args, int64(q.PerPage), int64(q.Page-1)*int64(q.PerPage))
}

// LeaseStatements returns the statements Claim (oldest first, and among
// GUIDs), Renew and Expire send, for tests that EXPLAIN them.
func (s *Store) LeaseStatements() (claim, claimGUIDs, renew, expire string) {
	return s.sql.claim, s.sql.claimGUIDs, s.sql.renew, s.sql.expire
}

// DeleteEndedStatement returns the retention statement, for EXPLAIN.
func (s *Store) DeleteEndedStatement() string { return s.sql.deleteEnded }

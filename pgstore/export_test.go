package pgstore

import "github.com/tasklife/tasklife"

// ListStatement returns the statement and arguments List sends for q, for
// tests that EXPLAIN it.
func (s *Store) ListStatement(q tasklife.ListQuery) (string, []any) {
	where, args := listFilter(q)
	return s.sql.listPage(q, where, args, int64(q.PerPage), int64(q.Page-1)*int64(q.PerPage))
}

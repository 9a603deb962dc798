package memstore

import (
	"context"

	"github.com/tasklife/tasklife"
)

// List implements tasklife.Store. Its page and total describe one moment:
// the moment at which every shard was read-locked, with the indexes caught
// up with every write before it. What a write may wait for:
//
//   - catching up (index.go): each shard written since is brought up to
//     date under its own lock, at most catchUpChunk records at a time;
//   - the moment itself: every shard read-locked while the indexes catch
//     up with the few writes left;
//   - for a list its indexes answer alone (see readsRecords), nothing else:
//     the locks are released before the walk, which reads only the
//     indexes, and each record of the page is copied under its shard's
//     lock if no write reached it since the moment (else the list is made
//     again with every lock held);
//   - for other lists, the walk to the page with every shard read-locked.
//
// The Tasks are built from the copies once every lock is released.
func (s *Store) List(ctx context.Context, q tasklife.ListQuery) (*tasklife.Page, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.ix.mu.Lock()
	s.catchUp()
	s.lockMoment()
	var recs []fields
	var total int
	if s.readsRecords(q) {
		recs, total = s.copied(q)
		s.unlockAll()
	} else {
		s.unlockAll()
		var ok bool
		if recs, total, ok = s.copiedIfUnchanged(q); !ok {
			s.lockMoment()
			recs, total = s.copied(q)
			s.unlockAll()
		}
	}
	s.ix.mu.Unlock()
	page := &tasklife.Page{TotalResults: total, Tasks: make([]*tasklife.Task, len(recs))}
	for i := range recs {
		page.Tasks[i] = recs[i].task()
	}
	return page, nil
}

// lockMoment read-locks every shard and catches the indexes up with the
// writes left. ix.mu is held.
func (s *Store) lockMoment() {
	for i := range s.shards {
		s.shards[i].mu.RLock()
	}
	for i := range s.shards {
		s.ix.catchUpShard(&s.shards[i], len(s.shards[i].dirty))
	}
}

func (s *Store) unlockAll() {
	for i := range s.shards {
		s.shards[i].mu.RUnlock()
	}
}

// copied plans q and copies its page, with every shard read-locked.
func (s *Store) copied(q tasklife.ListQuery) ([]fields, int) {
	rs, total := s.plan(q)
	recs := make([]fields, len(rs))
	for i, r := range rs {
		recs[i] = r.fields
	}
	return recs, total
}

// copiedIfUnchanged plans q with no shard locked, and copies its page
// under each record's shard lock; ok is false if a write reached one of
// them since the moment. A record is dirty from its first write after the
// indexes caught up with it until they catch up again, which needs ix.mu,
// held here.
func (s *Store) copiedIfUnchanged(q tasklife.ListQuery) (recs []fields, total int, ok bool) {
	rs, total := s.plan(q)
	recs = make([]fields, len(rs))
	for i, r := range rs {
		sh := &s.shards[s.shardIndex(r.guid())]
		sh.mu.RLock()
		recs[i] = r.fields
		sh.mu.RUnlock()
		if recs[i].dirty {
			return nil, 0, false
		}
	}
	return recs, total, true
}

// readsRecords reports whether planning q reads what writes change in
// records (and so needs every shard locked), rather than the indexes
// alone: a lookup (by guid, sequence id, or name in updated_at order, see
// plan), or a filter the
// driving index does not express, which matches applies to each record.
func (s *Store) readsRecords(q tasklife.ListQuery) bool {
	if len(q.GUIDs) > 0 || len(q.SequenceIDs) > 0 || len(q.Names) > 0 && orderOf(q) == byUpdated {
		return true
	}
	_, driver := s.sources(q, orderOf(q))
	return otherFilters(q, driver)
}

func orderOf(q tasklife.ListQuery) int {
	if q.OrderBy == tasklife.OrderByUpdatedAt {
		return byUpdated
	}
	return byCreated
}

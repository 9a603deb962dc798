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
	p := s.choose(q)
	var recs []fields
	var total int
	if p.readsRecords() {
		recs, total = s.copied(q, p)
		s.unlockAll()
	} else {
		s.unlockAll()
		var ok bool
		if recs, total, ok = s.copiedIfUnchanged(q, p); !ok {
			s.lockMoment() // the indexes catch up again: plan again
			recs, total = s.copied(q, s.choose(q))
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

// copied follows p and copies q's page, with every shard read-locked.
func (s *Store) copied(q tasklife.ListQuery, p listPlan) ([]fields, int) {
	rs, total := s.plan(q, p)
	recs := make([]fields, len(rs))
	for i, r := range rs {
		recs[i] = r.fields
	}
	return recs, total
}

// copiedIfUnchanged follows p with no shard locked, and copies q's page
// under each record's shard lock; ok is false if a write reached one of
// them since the moment. A record is dirty from its first write after the
// indexes caught up with it until they catch up again, which needs ix.mu,
// held here.
func (s *Store) copiedIfUnchanged(q tasklife.ListQuery, p listPlan) (recs []fields, total int, ok bool) {
	rs, total := s.plan(q, p)
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

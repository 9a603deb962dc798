package memstore

import (
	"sort"

	"github.com/tasklife/tasklife"
)

// Time filters as index ranges: created_ats bounds in creation order, and
// updated_ats bounds in update order, are a range of the trees already in
// that order, found by binary search over positions (GetAt): O(log² n),
// then O(page) like any other range. created_at never goes back in
// creation order (see Create), so the tree of every task by creation is
// also sorted by it. Exact seconds (Equal) and a filter on the other order
// are applied to candidates instead.

// timeDriver names the filter a time range stands for, by order.
var timeDriver = [numOrders]string{byCreated: "created_ats", byUpdated: "updated_ats"}

// timeSources returns the ranges of q's time filter in order o; ok is
// false when q has none that an index serves.
func (s *Store) timeSources(q tasklife.ListQuery, o int) ([]source, bool) {
	f := q.CreatedAts
	trees := []*tree{s.ix.all}
	stamp := func(it item) int64 { return it.r.created } // created never changes
	if o == byUpdated {
		f = q.UpdatedAts
		trees = trees[:0]
		for i := range s.ix.states {
			trees = append(trees, s.ix.states[i][byUpdated])
		}
		stamp = func(it item) int64 { return it.key } // updated_at when indexed
	}
	from, to := f.Bounds()
	if len(f.Equal) > 0 || from.IsZero() && to.IsZero() {
		return nil, false
	}
	srcs := make([]source, 0, len(trees))
	for _, t := range trees {
		n := t.Len()
		at := func(bound int64) int {
			return sort.Search(n, func(i int) bool { it, _ := t.GetAt(i); return stamp(it) >= bound })
		}
		lo, hi := 0, n
		if !from.IsZero() {
			lo = at(from.UnixMicro())
		}
		if !to.IsZero() {
			hi = at(to.UnixMicro())
		}
		srcs = append(srcs, source{t: t, n: max(0, hi-lo), ranged: true, lo: lo})
	}
	return srcs, true
}

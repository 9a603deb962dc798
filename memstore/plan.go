package memstore

// The list planner: which index a list walks, and how.

import (
	"math"
	"reflect"
	"slices"
	"sort"
	"time"

	"github.com/tidwall/btree"

	"github.com/tasklife/tasklife"
)

// listPlan is how a list reads the indexes: chosen once they are up to
// date (choose), and followed by plan.
type listPlan struct {
	o       int  // the list's order
	lookup  bool // guids, sequence ids, or names in updated order: see lookup
	sources []source
	exact   bool // the sources express every filter: matches is not needed
}

// readsRecords reports whether following p reads what writes change in
// records (and so needs every shard locked), rather than the indexes
// alone: a lookup, or a filter the driving index does not express.
func (p listPlan) readsRecords() bool { return p.lookup || !p.exact }

// choose plans q on the indexes as they are, with ix.mu held.
func (s *Store) choose(q tasklife.ListQuery) listPlan {
	p := listPlan{o: byCreated}
	if q.OrderBy == tasklife.OrderByUpdatedAt {
		p.o = byUpdated
	}
	if p.lookup = len(q.GUIDs) > 0 || len(q.SequenceIDs) > 0 || len(q.Names) > 0 && p.o == byUpdated; !p.lookup {
		var driver string
		p.sources, driver = s.sources(q, p.o)
		p.exact = !otherFilters(q, driver)
	}
	return p
}

// plan finds q's page and total by p with the indexes up to date and ix.mu
// held; every shard is read-locked too if p.readsRecords().
// The filter with the fewest candidates drives, by an index:
//   - guids and sequence ids are looked up, at most MaxFilterValues of
//     them, and so are names in updated_at order (their tasks, sorted);
//   - no filter in creation order, one app, one state: O(log n + page) at
//     any page, and the total is the index's count;
//   - no filter in updated order (the five states), several apps, states
//     or names, or one name: their indexes merged, so O(values * log n +
//     page) for the first page and O(offset) deeper; a name's total counts
//     its tasks;
//   - with other filters as well, matches decides about each candidate of
//     the driving index, and the total counts them: O(candidates).
func (s *Store) plan(q tasklife.ListQuery, p listPlan) ([]*record, int) {
	o := p.o
	offset := s.ix.count // past the end: no page, and no overflow
	if q.Page-1 <= offset/q.PerPage {
		offset = (q.Page - 1) * q.PerPage
	}
	if p.lookup {
		return pageOf(s.lookup(q, o), q, o, offset)
	}
	sources, exact := p.sources, p.exact
	total := 0
	for _, src := range sources {
		total += src.n
	}
	if exact && len(sources) == 1 && (sources[0].whole || sources[0].ranged) {
		return s.slice(sources[0], q, offset), total
	}
	cursors := make([]*cursor, 0, len(sources))
	for _, src := range sources {
		if c := src.open(q.Descending); !c.done {
			cursors = append(cursors, c)
		}
	}
	if !exact {
		total = 0
	}
	var page []*record
	lt := keyLess(o)
	for i := 0; ; {
		if exact && i >= offset+q.PerPage {
			break
		}
		best := -1
		for j, c := range cursors {
			if best < 0 || lt(c.cur, cursors[best].cur) != q.Descending {
				best = j
			}
		}
		if best < 0 {
			break
		}
		r := cursors[best].cur.r
		if cursors[best].advance(); cursors[best].done {
			cursors = slices.Delete(cursors, best, best+1)
		}
		if !exact && !matches(r, q) {
			continue
		}
		if i >= offset && i < offset+q.PerPage {
			page = append(page, r)
		}
		i++
		if !exact {
			total++
		}
	}
	return page, total
}

// slice is the page of a whole tree or a range of one, from the record
// at offset.
func (s *Store) slice(src source, q tasklife.ListQuery, offset int) []*record {
	t, n := src.t, src.n
	if offset >= n {
		return nil
	}
	at := src.lo + offset
	if q.Descending {
		at = src.lo + n - 1 - offset
	}
	first, _ := t.GetAt(at)
	c := openAt(t, first, q.Descending)
	c.left = n - offset // the range's end, or the tree's
	page := make([]*record, 0, min(q.PerPage, n-offset))
	for ; !c.done && len(page) < q.PerPage; c.advance() {
		page = append(page, c.cur.r)
	}
	return page
}

// lookup returns the candidates of a guids or sequence_ids filter, or of
// names in updated_at order, that match q (see choose).
func (s *Store) lookup(q tasklife.ListQuery, o int) (rs []*record) {
	switch {
	case len(q.GUIDs) > 0:
		for _, g := range q.GUIDs {
			// Every shard is read-locked.
			if r := s.shards[s.shardIndex(g)].tasks[g]; r != nil && matches(r, q) && !slices.Contains(rs, r) {
				rs = append(rs, r)
			}
		}
		return rs
	case len(q.SequenceIDs) > 0:
		app := s.ix.apps[q.AppGUIDs[0]] // Normalize: exactly one app
		if app == nil {
			return nil
		}
		// Within an app, sequence ids grow with creation order.
		t := app[byCreated]
		for _, seq := range q.SequenceIDs {
			i := sort.Search(t.Len(), func(i int) bool { it, _ := t.GetAt(i); return it.r.seq >= seq })
			if it, found := t.GetAt(i); found && it.r.seq == seq && matches(it.r, q) && !slices.Contains(rs, it.r) {
				rs = append(rs, it.r)
			}
		}
		return rs
	case len(q.Names) > 0 && o == byUpdated:
		// The names tree is in creation order: these are sorted by pageOf.
		for _, name := range dedupe(q.Names) {
			for c := s.nameSource(name).open(false); !c.done; c.advance() {
				if matches(c.cur.r, q) {
					rs = append(rs, c.cur.r)
				}
			}
		}
		return rs
	}
	return nil
}

// pageOf sorts looked-up records and cuts q's page.
func pageOf(rs []*record, q tasklife.ListQuery, o, offset int) ([]*record, int) {
	lt := keyLess(o)
	slices.SortFunc(rs, func(a, b *record) int {
		switch {
		case lt(entry(a, o, a.updated), entry(b, o, b.updated)) != q.Descending:
			return -1
		case a == b:
			return 0
		}
		return 1
	})
	return rs[min(offset, len(rs)):min(offset+q.PerPage, len(rs))], len(rs)
}

// source is one index range a list may read: a whole tree, or one name's
// records in the names tree.
type source struct {
	t     *tree
	n     int
	whole bool
	name  string
	hash  uint64 // of name
	// ranged: the n entries of t from position lo (see timerange.go).
	ranged bool
	lo     int
}

func (src source) open(desc bool) *cursor {
	if src.ranged {
		if src.n == 0 {
			return &cursor{done: true}
		}
		at := src.lo
		if desc {
			at = src.lo + src.n - 1
		}
		first, _ := src.t.GetAt(at)
		c := openAt(src.t, first, desc)
		c.left = src.n
		return c
	}
	if src.whole {
		first, ok := src.t.Min()
		if desc {
			first, ok = src.t.Max()
		}
		if !ok {
			return &cursor{done: true}
		}
		return openAt(src.t, first, desc)
	}
	// One name's entries are those with its hash; another name with the
	// same hash is skipped. No record comes before seek in creation order.
	c := &cursor{desc: desc, hash: src.hash, name: src.name, named: true}
	c.it = src.t.Iter()
	var ok bool
	switch {
	case !desc:
		ok = c.it.Seek(item{key: int64(src.hash), r: seek})
	case src.hash != math.MaxUint64 && c.it.Seek(item{key: int64(src.hash + 1), r: seek}):
		ok = c.it.Prev()
	default:
		ok = c.it.Last()
	}
	c.set(ok)
	return c
}

// seek is the record a search for the first entry of a key gives: it comes
// before every other in creation order.
var seek = &record{}

// nameSource is name's range of the names tree.
func (s *Store) nameSource(name string) source {
	src := source{t: s.ix.names, name: name, hash: s.ix.nameHash(name)}
	for c := src.open(false); !c.done; c.advance() {
		src.n++
	}
	return src
}

// sources returns the index ranges of the filter with the fewest
// candidates, and which filter that is ("" for none: every task, by
// creation or in the five states' trees).
func (s *Store) sources(q tasklife.ListQuery, o int) ([]source, string) {
	best := []source{{t: s.ix.all, n: s.ix.all.Len(), whole: true}}
	if o == byUpdated {
		best = nil
		for i := range s.ix.states {
			t := s.ix.states[i][o]
			best = append(best, source{t: t, n: t.Len(), whole: true})
		}
	}
	driver, least := "", s.ix.count
	consider := func(name string, srcs []source) {
		n := 0
		for _, src := range srcs {
			n += src.n
		}
		if n < least || driver == "" {
			best, driver, least = srcs, name, n
		}
	}
	if len(q.AppGUIDs) > 0 {
		var srcs []source
		for _, a := range dedupe(q.AppGUIDs) {
			if p := s.ix.apps[a]; p != nil {
				srcs = append(srcs, source{t: p[o], n: p[o].Len(), whole: true})
			}
		}
		consider("app_guids", srcs)
	}
	if len(q.States) > 0 {
		var srcs []source
		for _, st := range dedupe(q.States) {
			t := s.ix.states[stateIndex(st)][o]
			srcs = append(srcs, source{t: t, n: t.Len(), whole: true})
		}
		consider("states", srcs)
	}
	// A label requirement that names values (=, ==, in): the union of
	// their pairs (disjoint: a task has one value per key).
	for _, req := range q.LabelSelector {
		if req.Op != tasklife.LabelEqual && req.Op != tasklife.LabelIn {
			continue
		}
		var srcs []source
		for _, v := range dedupe(req.Values) {
			if p := s.ix.labels[labelKey(req.Key, v)]; p != nil {
				srcs = append(srcs, source{t: p[o], n: p[o].Len(), whole: true})
			}
		}
		consider("label_selector", srcs)
	}
	if srcs, ok := s.timeSources(q, o); ok {
		consider(timeDriver[o], srcs)
	}
	if len(q.Names) > 0 && o == byCreated { // in updated order: lookup
		var srcs []source
		for _, name := range dedupe(q.Names) {
			if src := s.nameSource(name); src.n > 0 {
				srcs = append(srcs, src)
			}
		}
		consider("names", srcs)
	}
	return best, driver
}

func dedupe[T comparable](vs []T) []T {
	out := make([]T, 0, len(vs))
	for _, v := range vs {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// otherFilters reports whether q filters by anything besides its driver.
// It reads every field of the query, so that a filter added to ListQuery
// later is applied by matches before anyone teaches the planner about it.
func otherFilters(q tasklife.ListQuery, driver string) bool {
	v := reflect.ValueOf(q)
	for i := range v.NumField() {
		f, ft := v.Field(i), v.Type().Field(i)
		switch ft.Name {
		case "OrderBy", "Descending", "Page", "PerPage":
			continue
		}
		if ft.Name == map[string]string{"app_guids": "AppGUIDs", "states": "States", "names": "Names"}[driver] {
			continue
		}
		if ft.Name == map[string]string{"created_ats": "CreatedAts", "updated_ats": "UpdatedAts"}[driver] {
			continue // a range of bounds; Equal never drives
		}
		// A label driver expresses one requirement: the selector's only one.
		if ft.Name == "LabelSelector" && driver == "label_selector" && len(q.LabelSelector) == 1 {
			continue
		}
		if (f.Kind() == reflect.Slice || f.Kind() == reflect.Map) && f.Len() > 0 ||
			f.Kind() != reflect.Slice && f.Kind() != reflect.Map && !f.IsZero() {
			return true
		}
	}
	return false
}

// matches is the filter every list path applies to a record. The
// cheapest tests come first; a zero filter costs one comparison.
func matches(r *record, q tasklife.ListQuery) bool {
	return (len(q.GUIDs) == 0 || slices.Contains(q.GUIDs, r.text(textGUID))) &&
		(len(q.Names) == 0 || slices.Contains(q.Names, r.text(textName))) &&
		(len(q.States) == 0 || slices.Contains(q.States, r.currentState())) &&
		(len(q.AppGUIDs) == 0 || slices.Contains(q.AppGUIDs, r.text(textApp))) &&
		(len(q.SequenceIDs) == 0 || slices.Contains(q.SequenceIDs, r.seq)) &&
		(q.CreatedAts.IsZero() || q.CreatedAts.Match(time.UnixMicro(r.created))) &&
		(q.UpdatedAts.IsZero() || q.UpdatedAts.Match(time.UnixMicro(r.updated))) &&
		selected(q.LabelSelector, r.labels)
}

// cursor walks an index in one direction: a whole tree, or one name's
// entries in a names tree.
type cursor struct {
	it    btree.IterG[item]
	desc  bool
	named bool
	hash  uint64
	name  string
	cur   item
	done  bool
	left  int // entries left, this one included, in a range; 0: no bound
}

// openAt returns a cursor at it, an entry of t.
func openAt(t *tree, it item, desc bool) *cursor {
	c := &cursor{desc: desc}
	c.it = t.Iter()
	c.set(c.it.Seek(it))
	return c
}

func (c *cursor) step() bool {
	if c.desc {
		return c.it.Prev()
	}
	return c.it.Next()
}

func (c *cursor) advance() {
	if c.left > 0 {
		if c.left--; c.left == 0 {
			c.done = true
			return
		}
	}
	c.set(c.step())
}

// set moves the cursor to its iterator's entry (ok: there is one). A name's
// entries come out with their creation order as key, the order the names
// tree keeps them in.
func (c *cursor) set(ok bool) {
	if !c.named {
		c.done, c.cur = !ok, c.it.Item()
		return
	}
	for ok && uint64(c.it.Item().key) == c.hash && c.it.Item().r.text(textName) != c.name {
		ok = c.step()
	}
	c.done = !ok || uint64(c.it.Item().key) != c.hash
	if !c.done {
		c.cur = entry(c.it.Item().r, byCreated, 0)
	}
}

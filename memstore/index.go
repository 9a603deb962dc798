package memstore

import (
	"hash/maphash"
	"maps"
	"sync"

	"github.com/tidwall/btree"
)

// The list indexes, which plan.go walks. Every ordered index is a B-tree
// of records from github.com/tidwall/btree: its nodes count their
// subtrees, so the record at any position is found in O(log n) (GetAt),
// and a total is a tree's length, kept as the tree changes. The trees:
//
//   - every task by creation, the default list;
//   - one pair per state, by creation and by last update: every task is
//     in one state, so every task by last update is the five merged;
//   - one pair per app, in the same two orders;
//   - every task by name (a hash of it), then by creation: names are often
//     unique, and a pair of trees per name would cost more than the task;
//   - one pair per label (key and value), for label selectors.
//
// That is six entries a task, of 16 bytes each. An entry carries its sort
// key, so that a search compares without reading a record (a cache miss
// each, at a million tasks).
//
// The indexes are kept lazily, so that they cost a write nothing it would
// wait for: a write marks its record dirty in its own shard, under the
// shard lock it holds anyway, and whoever next reads the indexes (a list)
// or lets go of records (DeleteEnded) first brings them up to date
// (catchUp). A record is in the indexes under the keys it had when they
// last caught up with it (indexedState, indexedUpdated), which is how its
// old entries are found when it moves.
type index struct {
	// mu is held by whoever reads or changes the trees, and taken before
	// any shard lock. Writes never take it.
	mu     sync.Mutex
	seed   maphash.Seed
	all    *tree  // by creation
	states []pair // by state index
	apps   map[string]*pair
	names  *tree            // by name's hash, then by creation
	labels map[string]*pair // by labelKey
	count  int              // records indexed
}

// item is an index entry: r under its key in one order.
type item struct {
	key int64 // the creation order, updated_at, or in names the name's hash
	r   *record
}

type tree = btree.BTreeG[item]

// pair is one set of records in both list orders.
type pair [numOrders]*tree

// The list orders, as indexes into a pair.
const (
	byCreated = iota
	byUpdated
	numOrders
)

func newPair() *pair {
	// The index's own lock guards every tree: theirs would be a second one.
	opts := btree.Options{NoLocks: true}
	return &pair{btree.NewBTreeGOptions(lessCreated, opts), btree.NewBTreeGOptions(lessUpdated, opts)}
}

func newIndex(seed maphash.Seed) *index {
	opts := btree.Options{NoLocks: true}
	ix := &index{seed: seed, all: btree.NewBTreeGOptions(lessCreated, opts), states: make([]pair, len(states)),
		apps: make(map[string]*pair), names: btree.NewBTreeGOptions(lessNamed, opts), labels: make(map[string]*pair)}
	for i := range ix.states {
		ix.states[i] = *newPair()
	}
	return ix
}

// keyLess is list order o: created_at or updated_at, ties in creation
// order. The store never lets created_at go back (see Create), so the
// creation order alone is the first.
func keyLess(o int) func(a, b item) bool {
	if o == byUpdated {
		return lessUpdated
	}
	return lessCreated
}

func lessCreated(a, b item) bool { return a.key < b.key }
func lessUpdated(a, b item) bool { return a.key < b.key || a.key == b.key && a.r.order < b.r.order }
func lessNamed(a, b item) bool {
	return uint64(a.key) < uint64(b.key) || a.key == b.key && a.r.order < b.r.order
}

// entry is r's entry in order o, with updated as its update key.
func entry(r *record, o int, updated int64) item {
	if o == byUpdated {
		return item{key: updated, r: r}
	}
	return item{key: int64(r.order), r: r}
}

func (ix *index) named(r *record) item {
	return item{key: int64(ix.nameHash(r.text(textName))), r: r}
}

func (ix *index) nameHash(name string) uint64 { return maphash.String(ix.seed, name) }

// put adds an entry. New entries almost always sort last (creation order
// grows, and a write moves updated_at past every other), and Load fills
// the last node before it splits, where Set would leave nodes half full.
func put(t *tree, it item) { t.Load(it) }

// catchUpChunk bounds how many records one catch-up step brings up to date
// while it holds a shard's lock: what a write on that shard may wait for.
const catchUpChunk = 256

// catchUp brings the indexes up to date with every shard that has written
// records, locking each (only it) for at most catchUpChunk records at a
// time. ix.mu is held. A list does it before it locks every shard, so that
// what is left to index then is only what was written meanwhile: the tree
// work a write would wait for is done while writes go on elsewhere.
func (s *Store) catchUp() {
	for i := range s.shards {
		sh := &s.shards[i]
		for more := sh.ndirty.Load() > 0; more; {
			sh.mu.Lock()
			more = s.ix.catchUpShard(sh, catchUpChunk)
			sh.mu.Unlock()
		}
	}
}

// catchUpAll brings the indexes up to date, so that they let go of
// deleted records.
func (s *Store) catchUpAll() {
	s.ix.mu.Lock()
	defer s.ix.mu.Unlock()
	s.catchUp()
}

// catchUpShard brings up to date at most n of sh's dirty records, the
// last written first, and reports whether any are left. ix.mu is held and
// sh is locked: for writing, or for reading by a caller that holds every
// shard's read lock (no write can be under way, and ix.mu keeps out every
// other caller that changes dirty lists).
func (ix *index) catchUpShard(sh *shard, n int) bool {
	from := max(0, len(sh.dirty)-n)
	for _, r := range sh.dirty[from:] {
		ix.reindex(r)
	}
	clear(sh.dirty[from:])
	sh.dirty = sh.dirty[:from]
	sh.ndirty.Store(int32(from))
	if from == 0 && cap(sh.dirty) > 4*catchUpChunk {
		sh.dirty = nil // a burst's backlog is not kept for ever
	}
	return from > 0
}

// reindex puts r in the indexes as it is now: in, out, or moved.
func (ix *index) reindex(r *record) {
	r.dirty = false
	switch {
	case r.gone && r.indexed:
		ix.remove(r)
	case r.gone:
	case !r.indexed:
		ix.add(r)
	case r.indexedState != r.state || r.indexedUpdated != r.updated || !maps.Equal(r.indexedLabels, r.labels):
		ix.move(r)
	}
	r.indexed = !r.gone
	r.indexedState, r.indexedUpdated, r.indexedLabels = r.state, r.updated, r.labels
}

// labelKey names the pair of a label, key and value.
func labelKey(k, v string) string { return k + "\x00" + v }

// label returns the pair of a label, made when missing.
func (ix *index) label(k, v string) *pair {
	p := ix.labels[labelKey(k, v)]
	if p == nil {
		p = newPair()
		ix.labels[labelKey(k, v)] = p
	}
	return p
}

// unlabel takes r out of the trees of order o of its indexed labels that
// keep (the labels keep reports true for), under update key updated.
func (ix *index) unlabel(r *record, o int, updated int64, keep func(k, v string) bool) {
	for k, v := range r.indexedLabels {
		if keep(k, v) {
			continue
		}
		p := ix.labels[labelKey(k, v)]
		p[o].Delete(entry(r, o, updated))
		if p[byCreated].Len() == 0 && p[byUpdated].Len() == 0 {
			delete(ix.labels, labelKey(k, v))
		}
	}
}

// add puts a new record into every index.
func (ix *index) add(r *record) {
	app := ix.apps[r.text(textApp)]
	if app == nil {
		app = newPair()
		ix.apps[r.text(textApp)] = app
	}
	for o := range numOrders {
		it := entry(r, o, r.updated)
		put(ix.states[r.state][o], it)
		put(app[o], it)
	}
	put(ix.all, entry(r, byCreated, 0))
	ix.names.Set(ix.named(r))
	for k, v := range r.labels {
		p := ix.label(k, v)
		put(p[byCreated], entry(r, byCreated, 0))
		put(p[byUpdated], entry(r, byUpdated, r.updated))
	}
	ix.count++
}

// remove takes r out of every index, where it is under its indexed keys.
func (ix *index) remove(r *record) {
	app := ix.apps[r.text(textApp)]
	for o := range numOrders {
		it := entry(r, o, r.indexedUpdated)
		ix.states[r.indexedState][o].Delete(it)
		app[o].Delete(it)
	}
	if app[byCreated].Len() == 0 {
		delete(ix.apps, r.text(textApp))
	}
	ix.all.Delete(entry(r, byCreated, 0))
	ix.names.Delete(ix.named(r))
	none := func(string, string) bool { return false }
	ix.unlabel(r, byUpdated, r.indexedUpdated, none)
	ix.unlabel(r, byCreated, 0, none)
	ix.count--
}

// move re-sorts r after writes: its entries by update, and its state's by
// creation when the state changed. Its other entries stay: created_at, app
// and name never change.
func (ix *index) move(r *record) {
	if r.indexedState != r.state {
		it := entry(r, byCreated, 0)
		ix.states[r.indexedState][byCreated].Delete(it)
		put(ix.states[r.state][byCreated], it)
	}
	old, now := entry(r, byUpdated, r.indexedUpdated), entry(r, byUpdated, r.updated)
	app := ix.apps[r.text(textApp)][byUpdated]
	app.Delete(old)
	put(app, now)
	ix.states[r.indexedState][byUpdated].Delete(old)
	put(ix.states[r.state][byUpdated], now)
	// Labels: every entry by update moves; by creation, only labels gone
	// or added.
	kept := func(k, v string) bool { w, ok := r.labels[k]; return ok && w == v }
	ix.unlabel(r, byUpdated, r.indexedUpdated, func(string, string) bool { return false })
	ix.unlabel(r, byCreated, 0, kept)
	for k, v := range r.labels {
		p := ix.label(k, v)
		put(p[byUpdated], now)
		if w, ok := r.indexedLabels[k]; !ok || w != v {
			put(p[byCreated], entry(r, byCreated, 0))
		}
	}
}

package memstore

import (
	"cmp"
	"context"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/tasklife/tasklife"
)

// appIndex is the apps a Store keeps, guarded by Store.appMu.
type appIndex struct {
	guids map[string]*appRecord
	names map[string]*appRecord // by spaceKey
	order uint64
}

type appRecord struct {
	app   tasklife.App
	order uint64 // creation order, for ties
}

// spaceKey is a's name in its space as Cloud Controller compares them:
// without case.
func spaceKey(space, name string) string { return space + "\x00" + strings.ToLower(name) }

// copyApp returns a copy of a that shares no memory with it.
func copyApp(a *tasklife.App) *tasklife.App {
	out := *a
	out.Labels, out.Annotations = maps.Clone(a.Labels), maps.Clone(a.Annotations)
	return &out
}

// CreateApp implements tasklife.AppStore.
func (s *Store) CreateApp(ctx context.Context, a *tasklife.App) (*tasklife.App, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.appMu.Lock()
	defer s.appMu.Unlock()
	ix := &s.appsBy
	if ix.guids == nil {
		ix.guids, ix.names = make(map[string]*appRecord), make(map[string]*appRecord)
	}
	r := &appRecord{app: *copyApp(a)}
	if r.app.GUID == "" {
		r.app.GUID = uuid.NewString()
	}
	if _, ok := ix.guids[r.app.GUID]; ok {
		return nil, tasklife.ErrAppExists
	}
	key := spaceKey(r.app.SpaceGUID, r.app.Name)
	if _, ok := ix.names[key]; ok {
		return nil, tasklife.ErrAppNameTaken
	}
	now := time.UnixMicro(s.timestamp(0)).UTC()
	r.app.CreatedAt, r.app.UpdatedAt = now, now
	ix.order++
	r.order = ix.order
	ix.guids[r.app.GUID], ix.names[key] = r, r
	return copyApp(&r.app), nil
}

// GetApp implements tasklife.AppStore.
func (s *Store) GetApp(ctx context.Context, guid string) (*tasklife.App, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.appMu.RLock()
	defer s.appMu.RUnlock()
	r, ok := s.appsBy.guids[guid]
	if !ok {
		return nil, tasklife.ErrNotFound
	}
	return copyApp(&r.app), nil
}

// ListApps implements tasklife.AppStore.
func (s *Store) ListApps(ctx context.Context, q tasklife.AppQuery) (*tasklife.AppPage, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.appMu.RLock()
	defer s.appMu.RUnlock()
	var hits []*appRecord
	for _, r := range s.appsBy.guids {
		a := &r.app
		if (len(q.GUIDs) == 0 || slices.Contains(q.GUIDs, a.GUID)) &&
			(len(q.Names) == 0 || slices.Contains(q.Names, a.Name)) &&
			(len(q.SpaceGUIDs) == 0 || slices.Contains(q.SpaceGUIDs, a.SpaceGUID)) {
			hits = append(hits, r)
		}
	}
	slices.SortFunc(hits, func(a, b *appRecord) int {
		var c int
		switch q.OrderBy {
		case tasklife.OrderByUpdatedAt:
			c = a.app.UpdatedAt.Compare(b.app.UpdatedAt)
		case tasklife.OrderByName:
			c = strings.Compare(a.app.Name, b.app.Name)
		default:
			c = a.app.CreatedAt.Compare(b.app.CreatedAt)
		}
		if c == 0 {
			c = cmp.Compare(a.order, b.order)
		}
		if q.Descending {
			return -c
		}
		return c
	})
	page := &tasklife.AppPage{TotalResults: len(hits), Apps: []*tasklife.App{}}
	for _, r := range appsPage(hits, q.Page, q.PerPage) {
		page.Apps = append(page.Apps, copyApp(&r.app))
	}
	return page, nil
}

// appsPage returns page (from 1) of hits, perPage (at least 1) a page.
func appsPage(hits []*appRecord, page, perPage int) []*appRecord {
	skip := page - 1
	if skip > len(hits)/perPage { // no overflow for huge pages
		return nil
	}
	start := skip * perPage
	return hits[min(start, len(hits)):min(start+perPage, len(hits))]
}

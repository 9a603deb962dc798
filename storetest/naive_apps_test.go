package storetest_test

import (
	"context"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/storetest"
)

// naiveApps is a plain AppStore, as a host would write one, on top of the
// naive Store; its faults are the mistakes RunApps must catch.
type naiveApps struct {
	*naiveStore
	appMu sync.Mutex
	apps  []*tasklife.App // in creation order
	fault string
}

const (
	faultAppNameCase     = "app-name-case"      // names compare with case
	faultAppCheckThenAct = "app-check-then-act" // the name check and the insert are two steps
	faultAppAliasing     = "app-aliasing"       // hands out the stored maps
)

func newNaiveApps(fault string) *naiveApps {
	return &naiveApps{naiveStore: newNaiveStore(faultNone), fault: fault}
}

func (s *naiveApps) taken(a *tasklife.App) error {
	for _, b := range s.apps {
		switch {
		case b.GUID == a.GUID:
			return tasklife.ErrAppExists
		case b.SpaceGUID == a.SpaceGUID && (b.Name == a.Name || s.fault != faultAppNameCase && strings.EqualFold(b.Name, a.Name)):
			return tasklife.ErrAppNameTaken
		}
	}
	return nil
}

func (s *naiveApps) out(a *tasklife.App) *tasklife.App {
	if s.fault == faultAppAliasing {
		return a
	}
	c := *a
	c.Labels, c.Annotations = copyMap(a.Labels), copyMap(a.Annotations)
	return &c
}

func copyMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func (s *naiveApps) CreateApp(ctx context.Context, a *tasklife.App) (*tasklife.App, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.appMu.Lock()
	defer s.appMu.Unlock()
	in := s.out(a)
	if in == a {
		c := *a
		in = &c
	}
	if in.GUID == "" {
		in.GUID = uuid.NewString()
	}
	if err := s.taken(in); err != nil {
		return nil, err
	}
	if s.fault == faultAppCheckThenAct {
		s.appMu.Unlock()
		time.Sleep(time.Millisecond)
		s.appMu.Lock()
	}
	in.CreatedAt = time.UnixMicro(time.Now().UnixMicro()).UTC()
	in.UpdatedAt = in.CreatedAt
	s.apps = append(s.apps, in)
	return s.out(in), nil
}

func (s *naiveApps) GetApp(ctx context.Context, guid string) (*tasklife.App, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.appMu.Lock()
	defer s.appMu.Unlock()
	for _, a := range s.apps {
		if a.GUID == guid {
			return s.out(a), nil
		}
	}
	return nil, tasklife.ErrNotFound
}

func (s *naiveApps) ListApps(ctx context.Context, q tasklife.AppQuery) (*tasklife.AppPage, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.appMu.Lock()
	defer s.appMu.Unlock()
	in := func(list []string, v string) bool { return list == nil || slices.Contains(list, v) }
	var hits []*tasklife.App
	for _, a := range s.apps {
		if in(q.GUIDs, a.GUID) && in(q.Names, a.Name) && in(q.SpaceGUIDs, a.SpaceGUID) {
			hits = append(hits, a)
		}
	}
	slices.SortStableFunc(hits, func(a, b *tasklife.App) int {
		c := a.CreatedAt.Compare(b.CreatedAt)
		switch q.OrderBy {
		case tasklife.OrderByUpdatedAt:
			c = a.UpdatedAt.Compare(b.UpdatedAt)
		case tasklife.OrderByName:
			c = strings.Compare(a.Name, b.Name)
		}
		return c
	})
	if q.Descending {
		slices.Reverse(hits)
	}
	page := &tasklife.AppPage{TotalResults: len(hits), Apps: []*tasklife.App{}}
	for i, a := range hits {
		if i/q.PerPage == q.Page-1 {
			page.Apps = append(page.Apps, s.out(a))
		}
	}
	return page, nil
}

func TestNaiveAppStorePasses(t *testing.T) {
	t.Parallel()
	storetest.RunApps(t, func(*testing.T) tasklife.Store { return newNaiveApps(faultNone) })
}

// TestBrokenAppStore is TestBrokenStore for RunApps.
func TestBrokenAppStore(t *testing.T) {
	fault := os.Getenv(faultEnv)
	if fault == "" {
		t.Skip("run by TestAppSuiteCatchesBrokenStores in a child process")
	}
	storetest.RunApps(t, func(*testing.T) tasklife.Store { return newNaiveApps(fault) })
}

func TestAppSuiteCatchesBrokenStores(t *testing.T) {
	t.Parallel()
	for fault, sub := range map[string]string{
		faultAppNameCase:     "Uniqueness",
		faultAppCheckThenAct: "ConcurrentNames",
		faultAppAliasing:     "CreateGet",
	} {
		t.Run(fault, func(t *testing.T) {
			t.Parallel()
			requireCaught(t, "TestBrokenAppStore", fault, sub)
		})
	}
}

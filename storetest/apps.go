package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/tasklife/tasklife"
)

// RunApps is the conformance suite of tasklife.AppStore, for a Store that
// also keeps apps: newStore's stores must implement it. Its subtests run
// in parallel.
//
//	storetest.RunApps(t, func(t *testing.T) tasklife.Store { return mystore.New(t) })
func RunApps(t *testing.T, newStore NewStore) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, s tasklife.AppStore)
	}{
		{"CreateGet", testAppCreateGet},
		{"Uniqueness", testAppUniqueness},
		{"ConcurrentNames", testAppConcurrentNames},
		{"ListFilters", testAppListFilters},
		{"ListOrderAndPages", testAppListOrderAndPages},
		{"CanceledContext", testAppCanceledContext},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, ok := newStore(t).(tasklife.AppStore)
			require.True(t, ok, "the store does not implement tasklife.AppStore")
			tc.fn(t, s)
		})
	}
}

func createApp(t *testing.T, s tasklife.AppStore, a tasklife.App) *tasklife.App {
	t.Helper()
	out, err := s.CreateApp(t.Context(), &a)
	require.NoError(t, err)
	return out
}

func listApps(t *testing.T, s tasklife.AppStore, q tasklife.AppQuery) *tasklife.AppPage {
	t.Helper()
	q, err := q.Normalize()
	require.NoError(t, err)
	page, err := s.ListApps(t.Context(), q)
	require.NoError(t, err)
	return page
}

func appNames(apps []*tasklife.App) []string {
	names := make([]string, 0, len(apps))
	for _, a := range apps {
		names = append(names, a.Name)
	}
	return names
}

func testAppCreateGet(t *testing.T, s tasklife.AppStore) {
	labels := map[string]string{"team": "a"}
	in := &tasklife.App{Name: "web", SpaceGUID: "space-1", Labels: labels, Annotations: map[string]string{"note": "x"}}
	before := time.Now().Add(-time.Minute)
	a, err := s.CreateApp(t.Context(), in)
	require.NoError(t, err)
	require.Empty(t, in.GUID, "CreateApp does not write to its argument")
	u, err := uuid.Parse(a.GUID)
	require.NoError(t, err, "an assigned guid is a UUID")
	require.EqualValues(t, 4, u.Version())
	require.Equal(t, "web", a.Name)
	require.Equal(t, "space-1", a.SpaceGUID)
	require.Equal(t, a.CreatedAt, a.UpdatedAt)
	require.True(t, a.CreatedAt.After(before), "CreatedAt is the store's now")
	require.Equal(t, time.UTC, a.CreatedAt.Location())

	// No aliasing, in or out.
	labels["team"] = "b"
	a.Labels["team"] = "c"
	got, err := s.GetApp(t.Context(), a.GUID)
	require.NoError(t, err)
	require.Equal(t, map[string]string{"team": "a"}, got.Labels)
	require.Equal(t, map[string]string{"note": "x"}, got.Annotations)
	require.Equal(t, a.CreatedAt, got.CreatedAt)

	given := createApp(t, s, tasklife.App{GUID: "app-given", Name: "worker", SpaceGUID: "space-1"})
	require.Equal(t, "app-given", given.GUID)
	require.Nil(t, given.Labels, "no metadata reads back as nil maps")
	got, err = s.GetApp(t.Context(), "app-given")
	require.NoError(t, err)
	require.Equal(t, given, got)

	_, err = s.GetApp(t.Context(), "no-such-app")
	require.ErrorIs(t, err, tasklife.ErrNotFound)
}

func testAppUniqueness(t *testing.T, s tasklife.AppStore) {
	createApp(t, s, tasklife.App{GUID: "app-1", Name: "Web", SpaceGUID: "space-1"})
	_, err := s.CreateApp(t.Context(), &tasklife.App{GUID: "app-1", Name: "other", SpaceGUID: "space-1"})
	require.ErrorIs(t, err, tasklife.ErrAppExists)
	_, err = s.CreateApp(t.Context(), &tasklife.App{GUID: "app-2", Name: "web", SpaceGUID: "space-1"})
	require.ErrorIs(t, err, tasklife.ErrAppNameTaken, "names compare without case")
	require.Equal(t, 1, listApps(t, s, tasklife.AppQuery{}).TotalResults, "a refused create stores nothing")
	// The same name in another space is another app.
	createApp(t, s, tasklife.App{GUID: "app-2", Name: "web", SpaceGUID: "space-2"})
	require.Equal(t, 2, listApps(t, s, tasklife.AppQuery{}).TotalResults)
}

func testAppConcurrentNames(t *testing.T, s tasklife.AppStore) {
	const n = 8
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for i := range n {
		wg.Go(func() {
			// Half race for one guid, all for one name.
			guid := ""
			if i%2 == 0 {
				guid = "same-guid"
			}
			_, err := s.CreateApp(context.Background(), &tasklife.App{GUID: guid, Name: "race", SpaceGUID: "space-1"})
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
		})
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		if err == nil {
			won++
			continue
		}
		require.True(t, isAny(err, tasklife.ErrAppExists, tasklife.ErrAppNameTaken), "%v", err)
	}
	require.Equal(t, 1, won)
	require.Equal(t, 1, listApps(t, s, tasklife.AppQuery{}).TotalResults)
}

func isAny(err error, targets ...error) bool {
	for _, target := range targets {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}

func testAppListFilters(t *testing.T, s tasklife.AppStore) {
	a := createApp(t, s, tasklife.App{Name: "a", SpaceGUID: "space-1"})
	createApp(t, s, tasklife.App{Name: "b", SpaceGUID: "space-1"})
	c := createApp(t, s, tasklife.App{Name: "a", SpaceGUID: "space-2"})
	tests := []struct {
		q    tasklife.AppQuery
		want []*tasklife.App
	}{
		{tasklife.AppQuery{Names: []string{"a"}}, []*tasklife.App{a, c}},
		{tasklife.AppQuery{Names: []string{"A"}}, nil},
		{tasklife.AppQuery{Names: []string{"a"}, SpaceGUIDs: []string{"space-2"}}, []*tasklife.App{c}},
		{tasklife.AppQuery{GUIDs: []string{c.GUID, a.GUID, "nope"}}, []*tasklife.App{a, c}},
		{tasklife.AppQuery{SpaceGUIDs: []string{"space-3"}}, nil},
	}
	for _, tt := range tests {
		page := listApps(t, s, tt.q)
		if tt.want == nil {
			tt.want = []*tasklife.App{}
		}
		require.Equal(t, tt.want, page.Apps, "%+v", tt.q)
		require.Equal(t, len(tt.want), page.TotalResults, "%+v", tt.q)
	}
}

func testAppListOrderAndPages(t *testing.T, s tasklife.AppStore) {
	for _, name := range []string{"c", "a", "d", "b", "e"} {
		createApp(t, s, tasklife.App{Name: name, SpaceGUID: "space-1"})
	}
	require.Equal(t, []string{"c", "a", "d", "b", "e"}, appNames(listApps(t, s, tasklife.AppQuery{}).Apps))
	require.Equal(t, []string{"e", "b", "d", "a", "c"}, appNames(listApps(t, s, tasklife.AppQuery{Descending: true}).Apps))
	require.Equal(t, []string{"c", "a", "d", "b", "e"}, appNames(listApps(t, s, tasklife.AppQuery{OrderBy: tasklife.OrderByUpdatedAt}).Apps))
	require.Equal(t, []string{"a", "b", "c", "d", "e"}, appNames(listApps(t, s, tasklife.AppQuery{OrderBy: tasklife.OrderByName}).Apps))
	require.Equal(t, []string{"e", "d", "c", "b", "a"}, appNames(listApps(t, s, tasklife.AppQuery{OrderBy: tasklife.OrderByName, Descending: true}).Apps))
	for page, want := range map[int][]string{1: {"a", "b"}, 2: {"c", "d"}, 3: {"e"}, 4: {}, 1 << 40: {}} {
		got := listApps(t, s, tasklife.AppQuery{OrderBy: tasklife.OrderByName, Page: page, PerPage: 2})
		require.Equal(t, want, appNames(got.Apps), fmt.Sprint("page ", page))
		require.Equal(t, 5, got.TotalResults, "the total is of every page")
	}
}

func testAppCanceledContext(t *testing.T, s tasklife.AppStore) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := s.CreateApp(ctx, &tasklife.App{Name: "web", SpaceGUID: "space-1"})
	require.ErrorIs(t, err, context.Canceled)
	_, err = s.ListApps(ctx, tasklife.AppQuery{Page: 1, PerPage: 1})
	require.ErrorIs(t, err, context.Canceled)
	require.Equal(t, 0, listApps(t, s, tasklife.AppQuery{}).TotalResults)
}

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/httpadapter"
	"github.com/tasklife/tasklife/memstore"
)

// loadTasks is how many tasks the console's load is measured with.
const loadTasks = 100_000

// TestConsoleLoadsFastWithManyTasks opens the console on a taskd holding
// loadTasks tasks and reports how long the first page of the list took to
// show and how many bytes the browser fetched for it: the console pages,
// so neither grows with the tasks stored.
func TestConsoleLoadsFastWithManyTasks(t *testing.T) {
	// Not parallel: see "Browser tests run alone" in browser_test.go.
	if testing.Short() {
		t.Skip("-short: storing 100,000 tasks takes a while")
	}
	ctx := newBrowser(t)
	svc := tasklife.New(memstore.New())
	fill := time.Now()
	for i := range loadTasks {
		_, err := svc.Create(context.Background(), tasklife.NewTask{AppGUID: fmt.Sprintf("app-%d", i%100), Command: "true"})
		require.NoError(t, err)
	}
	t.Logf("stored %d tasks in %v", loadTasks, time.Since(fill).Round(time.Millisecond))
	logs := newTaskLogs(logsConfig{taskLines: 1, taskBytes: 1 << 10, total: 1 << 10})
	open := newStreams(8, time.Minute)
	srv := httptest.NewServer(newHandler(svc, storeOnly{svc}, "secret", "", slog.New(slog.DiscardHandler),
		func(h *httpadapter.Handler) { h.Handle("GET /v3/tasks/{guid}/logs", logsHandler(h, svc, logs, open)) },
		func(h *httpadapter.Handler) { mountConsole(h, newChangeFeed(), open) }))
	t.Cleanup(func() {
		srv.CloseClientConnections() // the changes stream
		srv.Close()
	})

	// The token in the tab's session, as after a sign-in; then a fresh load.
	do(t, ctx, chromedp.Navigate(srv.URL+"/console/"), chromedp.WaitVisible(chromedp.CSS("#token")))
	_, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`sessionStorage.setItem('taskd-token', 'secret') ?? true`))
	require.NoError(t, err)
	// The first load after the tasks were stored pays for the store's
	// index (memstore sorts lazily); the second is what users see after.
	for _, which := range []string{"first load", "second load"} {
		m := measureLoad(t, ctx, srv.URL+"/console/")
		t.Logf("console with %d tasks, %s: first page shown %.0f ms after navigation start (load event %.0f ms); fetched %.1f KiB in all (%.1f KiB of bodies); the list request took %.0f ms and %.1f KiB",
			loadTasks, which, m.Shown, m.Loaded, m.Bytes/1024, m.Body/1024, m.List[0].MS, m.List[0].Bytes/1024)
		require.Less(t, m.Bytes, 256.0*1024, "the console fetched more than a page's worth")
	}
}

// pageLoad is what measureLoad found.
type pageLoad struct {
	Shown, Loaded float64 // ms after navigation start
	Bytes, Body   float64 // transferred, and of that, bodies
	List          []struct{ MS, Bytes float64 }
}

// measureLoad opens url (signed in) and measures until the first page of
// the list shows.
func measureLoad(t *testing.T, ctx context.Context, url string) pageLoad {
	t.Helper()
	do(t, ctx, chromedp.Navigate(url))
	shown, err := chromedp.Run(ctx, chromedp.Poll[float64](
		`document.querySelectorAll('#tasks tbody tr').length === 50 && performance.now()`,
		chromedp.WithPollingMutation(), chromedp.WithPollingTimeout(waitTimeout)))
	require.NoError(t, err)
	waitJS(t, ctx, "the count", textIs("#list-status", "100000 tasks"))
	measured, err := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify({
		bytes: performance.getEntries().filter(e => 'transferSize' in e).reduce((n, e) => n + e.transferSize, 0),
		body: performance.getEntries().filter(e => 'encodedBodySize' in e).reduce((n, e) => n + e.encodedBodySize, 0),
		list: performance.getEntriesByType('resource').filter(e => e.name.includes('/v3/tasks?page=')).map(e => ({ms: e.duration, bytes: e.transferSize})),
		loaded: performance.getEntriesByType('navigation')[0].loadEventEnd,
	})`))
	require.NoError(t, err)
	m := pageLoad{Shown: shown}
	require.NoError(t, json.Unmarshal([]byte(measured), &m), measured)
	require.NotEmpty(t, m.List)
	return m
}

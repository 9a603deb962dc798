package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
)

func TestConsoleShowsAndCancelsARunningTask(t *testing.T) {
	// Not parallel: see "Browser tests run alone" in browser_test.go.
	ctx := newBrowser(t)
	d := startTaskd(t, nil)
	shots := screenshotDir(t)
	signIn(t, ctx, d.base, d.token)
	do(t, ctx, chromedp.WaitVisible(chromedp.CSS("#list")))
	// A mark the page loses if it reloads: everything below must happen
	// live.
	_, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.notReloaded = true`))
	require.NoError(t, err)

	// The task stays CANCELING until the test lets its SIGTERM trap end.
	release := filepath.Join(t.TempDir(), "release")
	created := d.create(fmt.Sprintf(`trap 'while [ ! -e %s ]; do sleep 0.05; done; exit 0' TERM; echo hello; sleep 600 & wait`, release))
	row := fmt.Sprintf(`tr[data-guid="%s"]`, created.GUID)
	waitJS(t, ctx, "the new task RUNNING in the list", textIs(row+" .state", "RUNNING"))
	screenshot(t, ctx, shots, "console-list.png")

	do(t, ctx, chromedp.Click(chromedp.CSS(row+" a")))
	waitJS(t, ctx, "the task's name", textIs("#d-name", created.Name))
	waitJS(t, ctx, "the task's output", textHas("#logs", "hello"))
	waitJS(t, ctx, "RUNNING", textIs("#d-state", "RUNNING"))
	screenshot(t, ctx, shots, "console-detail.png")

	do(t, ctx, chromedp.Click(chromedp.CSS("#cancel")))
	waitJS(t, ctx, "the cancel's answer", textIs("#cancel-result", "202 Accepted: the task is CANCELING"))
	waitJS(t, ctx, "CANCELING", textIs("#d-state", "CANCELING"))
	require.NoError(t, os.WriteFile(release, nil, 0o644))
	waitJS(t, ctx, "FAILED", textIs("#d-state", "FAILED"))
	waitJS(t, ctx, "the failure reason", textIs("#d-reason", "task was cancelled"))
	waitJS(t, ctx, "the end of the output", textIs("#logs-status", "ended"))

	// Once more: the task has ended, and the page says why it cannot.
	do(t, ctx, chromedp.Click(chromedp.CSS("#cancel")))
	waitJS(t, ctx, "the 422", textIs("#cancel-result", "422 CF-UnprocessableEntity: Task state is FAILED and therefore cannot be canceled"))

	do(t, ctx, chromedp.Click(chromedp.CSS("#back")))
	waitJS(t, ctx, "the task FAILED in the list", textIs(row+" .state", "FAILED"))
	notReloaded, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.notReloaded === true`))
	require.NoError(t, err)
	require.True(t, notReloaded, "the page reloaded")
}

func TestConsoleRefusesAWrongToken(t *testing.T) {
	// Not parallel: see "Browser tests run alone" in browser_test.go.
	ctx := newBrowser(t)
	d := startTaskd(t, nil)
	signIn(t, ctx, d.base, "not-the-token")
	waitJS(t, ctx, "the 401", textIs("#login-error", "401 CF-InvalidAuthToken: Invalid Auth Token"))
	stored, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`sessionStorage.getItem('taskd-token') === null`))
	require.NoError(t, err)
	require.True(t, stored, "a refused token must not be kept")

	// The right one opens the list, and a reload keeps the session.
	do(t, ctx, chromedp.SendKeys(chromedp.CSS("#token"), d.token), chromedp.Click(chromedp.CSS("#login-form button")),
		chromedp.WaitVisible(chromedp.CSS("#list")), chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("#list")))
}

func TestConsoleFiltersOnAPhone(t *testing.T) {
	// Not parallel: see "Browser tests run alone" in browser_test.go.
	ctx := newBrowser(t)
	d := startTaskd(t, nil)
	ok := d.create("exit 0")
	status, b := d.do("POST", "/v3/apps/other-app/tasks", `{"command":"exit 3","name":"the-failing-one"}`)
	require.Equal(t, http.StatusAccepted, status, "%s", b)
	failing := decodeTask(t, b)
	d.await(ok.GUID, "SUCCEEDED", waitTimeout)
	d.await(failing.GUID, "FAILED", waitTimeout)

	do(t, ctx, chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2)))
	signIn(t, ctx, d.base, d.token)
	rows := `document.querySelectorAll('#tasks tbody tr').length`
	waitJS(t, ctx, "both tasks", rows+` === 2`)
	noScroll, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth <= window.innerWidth`))
	require.NoError(t, err)
	require.True(t, noScroll, "the page is wider than a phone")
	screenshot(t, ctx, screenshotDir(t), "console-phone.png")

	setFilter(t, ctx, "f-state", "FAILED")
	waitJS(t, ctx, "only the failed task", rows+` === 1 && `+textIs(fmt.Sprintf(`tr[data-guid="%s"] a`, failing.GUID), "the-failing-one"))
	setFilter(t, ctx, "f-state", "")
	do(t, ctx, chromedp.SendKeys(chromedp.CSS("#f-app"), "app-1"))
	waitJS(t, ctx, "only app-1's task", rows+` === 1 && document.querySelector('tr[data-guid="`+ok.GUID+`"]') !== null`)
	setFilter(t, ctx, "f-app", "")
	do(t, ctx, chromedp.SendKeys(chromedp.CSS("#f-name"), "the-failing-one"))
	waitJS(t, ctx, "the task by name", rows+` === 1 && document.querySelector('tr[data-guid="`+failing.GUID+`"]') !== null`)
}

// setFilter sets a filter's field as a user would, and tells the page.
func setFilter(t *testing.T, ctx context.Context, id, value string) {
	t.Helper()
	_, err := chromedp.Run(ctx, chromedp.Evaluate[bool](fmt.Sprintf(
		`(() => { const f = document.getElementById(%q); f.value = %q; return f.dispatchEvent(new Event('input', {bubbles: true})); })()`, id, value)))
	require.NoError(t, err)
}

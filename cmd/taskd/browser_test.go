package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
)

// The console's tests drive a real headless Chromium with chromedp. They
// skip where there is none, except in CI (CI=true), whose .ci/run
// installs Debian's chromium.
//
// Browser tests run alone: none calls t.Parallel, so each runs while every
// parallel test is paused. Chromium (and the load test's 100,000 tasks)
// take a 2-core machine's CPUs for seconds, and the parallel e2e tests
// measure grace periods of 2 s (scripts/flaky caught one running late).

// browserTimeout bounds one browser test, slow start of Chromium on a
// loaded machine included.
const browserTimeout = 90 * time.Second

// waitTimeout bounds one wait for the page.
const waitTimeout = 20 * time.Second

// newBrowser returns a context for a tab of a fresh headless Chromium,
// closed when the test ends, or skips the test without Chromium.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true but chromium is not on PATH: .ci/run installs it (apt-get install -y chromium)")
		}
		t.Skip("chromium is not on PATH: install it (Debian: apt-get install -y chromium) to run the console's browser tests")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.WindowSize(1280, 800),
		chromedp.Flag("disable-dev-shm-usage", true))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, browserTimeout)
	t.Cleanup(func() {
		cancelTimeout()
		cancelTab()
		cancelAlloc() // waits for Chromium to exit
	})
	return ctx
}

// do runs steps in the browser, failing the test on an error.
func do(t *testing.T, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	require.NoError(t, chromedp.Do(ctx, steps...))
}

// waitJS waits until the JavaScript expression is truthy, re-evaluating it
// on every change of the DOM, and fails the test with what after
// waitTimeout.
func waitJS(t *testing.T, ctx context.Context, what, expr string) {
	t.Helper()
	_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](expr,
		chromedp.WithPollingMutation(), chromedp.WithPollingTimeout(waitTimeout)))
	if err != nil {
		text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
		t.Fatalf("the page did not show %s: %v\npage text:\n%s", what, err, text)
	}
}

// textIs is a JavaScript expression: the element's text is want.
func textIs(sel, want string) string {
	return fmt.Sprintf(`(document.querySelector(%s)?.textContent ?? '').trim() === %s`, strconv.Quote(sel), strconv.Quote(want))
}

// textHas is a JavaScript expression: the element's text contains want.
func textHas(sel, want string) string {
	return fmt.Sprintf(`(document.querySelector(%s)?.textContent ?? '').includes(%s)`, strconv.Quote(sel), strconv.Quote(want))
}

// screenshotDir is where the tests write screenshots: $TASKLIFE_SCREENSHOTS
// (CI prints it), or a temporary directory of the test.
func screenshotDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("TASKLIFE_SCREENSHOTS")
	if dir == "" {
		return t.TempDir()
	}
	require.NoError(t, os.MkdirAll(dir, 0o755))
	return dir
}

// screenshot writes the page as it is to name in dir.
func screenshot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	path := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(path, png, 0o644))
	t.Logf("screenshot: %s", path)
}

// signIn opens the console at base and enters token.
func signIn(t *testing.T, ctx context.Context, base, token string) {
	t.Helper()
	do(t, ctx,
		chromedp.Navigate(base+"/console/"),
		chromedp.WaitVisible(chromedp.CSS("#token")),
		chromedp.SendKeys(chromedp.CSS("#token"), token),
		chromedp.Click(chromedp.CSS("#login-form button")),
	)
}

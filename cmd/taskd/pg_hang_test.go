package main

import (
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tasklife/tasklife/pgstore/pgtest"
)

// TestPostgresHangIsAnswered503: while the database answers nothing (a
// proxy holds every byte), every request that needs it is answered 503
// CF-ServiceUnavailable within -database-timeout, requests that do not
// need it are answered as usual, and once the database answers again so
// does taskd.
func TestPostgresHangIsAnswered503(t *testing.T) {
	t.Parallel()
	schema := newPGSchema(t) // skips without a server
	u, err := url.Parse(os.Getenv(pgtest.EnvURL))
	require.NoError(t, err, "this test needs %s as a URL", pgtest.EnvURL)
	proxy := startProxy(t, hostPort(u))
	u.Host = proxy.addr()
	const dbTimeout = time.Second
	d := startTaskd(t, []string{"TASKD_TOKEN=test-token", "DATABASE_URL=" + u.String()},
		"-database-schema", schema, "-instance", "hang", "-state-dir", t.TempDir(), "-database-timeout", dbTimeout.String())
	tk := d.create("sleep 600")
	d.await(tk.GUID, "RUNNING", 10*time.Second)

	proxy.pause()
	requests := []struct{ method, path, body string }{
		{"GET", "/v3/tasks/" + tk.GUID, ""},
		{"GET", "/v3/tasks", ""},
		{"GET", "/v3/apps/app-1/tasks", ""},
		{"POST", "/v3/tasks/" + tk.GUID + "/actions/cancel", ""},
		{"POST", "/v3/apps/app-1/tasks", `{"command":"true"}`},
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var slowest time.Duration
	for _, r := range requests {
		wg.Go(func() {
			began := time.Now()
			status, body, err := d.try(r.method, r.path, r.body)
			took := time.Since(began)
			mu.Lock()
			defer mu.Unlock()
			slowest = max(slowest, took)
			if !assertUnavailable(t, status, body, err) {
				t.Errorf("%s %s during the hang", r.method, r.path)
			}
		})
	}
	// Meanwhile what needs no database is answered at once.
	status, _ := d.do("GET", "/", "")
	require.Equal(t, http.StatusOK, status)
	wg.Wait()
	t.Logf("while the database hung: 503 after at most %v (-database-timeout %v)", slowest, dbTimeout)
	require.Less(t, slowest, dbTimeout+time.Second)

	proxy.resume()
	require.Eventually(t, func() bool {
		status, _, err := d.try("GET", "/v3/tasks/"+tk.GUID, "")
		return err == nil && status == http.StatusOK
	}, 30*time.Second, 50*time.Millisecond, "taskd answers again once the database does")
}

func assertUnavailable(t *testing.T, status int, body []byte, err error) bool {
	if err != nil || status != http.StatusServiceUnavailable {
		t.Errorf("want 503, got %d %s (%v)", status, body, err)
		return false
	}
	var got cfError
	if json.Unmarshal(body, &got) != nil || len(got.Errors) != 1 || got.Errors[0].Title != "CF-ServiceUnavailable" || got.Errors[0].Code != 10015 {
		t.Errorf("want CF-ServiceUnavailable, got %s", body)
		return false
	}
	return true
}

// hostPort is u's host and port, PostgreSQL's 5432 when it names none.
func hostPort(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	return net.JoinHostPort(u.Hostname(), "5432")
}

package httpadapter_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/memstore"
	"github.com/tasklife/tasklife/pgstore/pgtest"
)

// dropping is an http.RoundTripper that sends every request but loses
// every other response: the server did the work, the client hears an
// error. It is what a client sees when a connection breaks after the
// request was served.
type dropping struct {
	next http.RoundTripper
	n    atomic.Int64
}

var errDropped = errors.New("response lost")

func (d *dropping) RoundTrip(r *http.Request) (*http.Response, error) {
	res, err := d.next.RoundTrip(r)
	if err != nil || d.n.Add(1)%2 == 1 {
		return res, err
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return nil, errDropped
}

// firstResponses records, per Idempotency-Key, the first response the
// server wrote: what every retry must get.
type firstResponses struct {
	mu    sync.Mutex
	first map[string]string
}

func (f *firstResponses) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		if k := r.Header.Get("Idempotency-Key"); k != "" && rec.Code != http.StatusConflict {
			f.mu.Lock()
			if _, seen := f.first[k]; !seen {
				f.first[k] = fmt.Sprintf("%d %s", rec.Code, rec.Body)
			}
			f.mu.Unlock()
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	})
}

// TestIdempotencyKeyDroppedResponses: creates and cancels whose responses
// are lost half the time, each retried with its key until an answer
// arrives: exactly one task per create key, one cancel per task, and
// every answer the first response, byte for byte, though the canceled
// tasks end between a lost answer and its retry.
func TestIdempotencyKeyDroppedResponses(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		store func(t *testing.T) tasklife.Store
	}{
		{"memstore", func(*testing.T) tasklife.Store { return memstore.New() }},
		{"pgstore", func(t *testing.T) tasklife.Store { return pgtest.Store(t) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			svc := tasklife.New(tc.store(t))
			recorded := &firstResponses{first: map[string]string{}}
			srv := httptest.NewServer(recorded.wrap(idemSetup(t, svc)))
			defer srv.Close()
			client := &http.Client{Transport: &dropping{next: srv.Client().Transport}}

			// send retries one request with its key until an answer
			// arrives; between attempts, between, when set, runs.
			send := func(method, path, key, body string, between func()) string {
				for range 20 {
					req, err := http.NewRequestWithContext(ctx, method, srv.URL+path, strings.NewReader(body))
					if !assert.NoError(t, err) {
						return ""
					}
					req.Header.Set("Authorization", "bearer alice")
					req.Header.Set("Idempotency-Key", key)
					res, err := client.Do(req)
					if errors.Is(err, errDropped) {
						if between != nil {
							between()
						}
						continue
					}
					if !assert.NoError(t, err) {
						return ""
					}
					b, err := io.ReadAll(res.Body)
					res.Body.Close()
					assert.NoError(t, err)
					return fmt.Sprintf("%d %s", res.StatusCode, b)
				}
				t.Errorf("%s %s: no answer in 20 attempts", method, path)
				return ""
			}

			const n = 24
			guids := make([]string, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					key := fmt.Sprintf(`"create-%d"`, i)
					got := send(http.MethodPost, "/v3/apps/app-alice/tasks", key, fmt.Sprintf(`{"command":"run %d"}`, i), nil)
					assert.True(t, strings.HasPrefix(got, "202 "), got)
					recorded.mu.Lock()
					assert.Equal(t, recorded.first[key], got, "the answer is the first response")
					recorded.mu.Unlock()
					guids[i] = guidOf(t, got)
				})
			}
			wg.Wait()
			page, err := svc.List(ctx, tasklife.ListQuery{AppGUIDs: []string{"app-alice"}, PerPage: 100})
			require.NoError(t, err)
			require.Equal(t, n, page.TotalResults, "one task per key")

			for i, guid := range guids {
				wg.Go(func() {
					key := fmt.Sprintf(`"cancel-%d"`, i)
					path := "/v3/tasks/" + guid + "/actions/cancel"
					if i%2 == 1 {
						path = "/v3/tasks/" + guid + "/cancel"
					}
					method := map[bool]string{true: http.MethodPut, false: http.MethodPost}[i%2 == 1]
					got := send(method, path, key, "", func() {
						// The cancel took effect and the task ends before
						// the retry: the answer must still be the 202.
						_, _ = svc.Canceled(ctx, guid)
					})
					assert.True(t, strings.HasPrefix(got, "202 "), got)
					assert.Contains(t, got, `"state":"CANCELING"`)
					recorded.mu.Lock()
					assert.Equal(t, recorded.first[key], got, "the answer is the first response")
					recorded.mu.Unlock()
				})
			}
			wg.Wait()
			events, err := svc.AuditEvents(ctx, tasklife.AuditQuery{Types: []string{tasklife.AuditTaskCancel}})
			require.NoError(t, err)
			require.Equal(t, n, events.TotalResults, "one cancel per task")
		})
	}
}

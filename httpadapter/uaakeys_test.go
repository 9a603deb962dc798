package httpadapter_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/stretchr/testify/require"

	"github.com/tasklife/tasklife/httpadapter"
)

// A UAA signs every identity zone's tokens with the same keys: only the
// issuer tells a zone admin's token from the default zone's. With KeysURL
// the Issuer is required, and checked.
func TestUAAKeysNeedTheIssuer(t *testing.T) {
	t.Parallel()
	_, k1, url := keyServer(t)
	_, err := httpadapter.UAA(httpadapter.UAAConfig{KeysURL: url})
	require.Error(t, err)
	b := setup(t, uaaAuth(t, httpadapter.UAAConfig{KeysURL: url, Issuer: uaaIssuer}))
	zone := uaaToken(httpadapter.ScopeAdmin)
	zone["iss"], zone["zid"] = "http://evil-zone.uaa.example.com/oauth/token", "evil-zone"
	require.Equal(t, 401, b.do(t, http.MethodGet, "/v3/tasks", signRS256(t, k1, "key-1", zone)).status)
	require.Equal(t, 200, b.do(t, http.MethodGet, "/v3/tasks", signRS256(t, k1, "key-1", uaaToken(httpadapter.ScopeAdmin))).status)
}

// A key that names its algorithm (UAA's say RS256) verifies no other.
func TestUAAKeyAlgorithmIsEnforced(t *testing.T) {
	t.Parallel()
	_, k1, url := keyServer(t)
	b := setup(t, uaaAuth(t, httpadapter.UAAConfig{KeysURL: url, Issuer: uaaIssuer}))
	tok := signRSA(t, jose.PS256, k1, "key-1", uaaToken(httpadapter.ScopeAdmin))
	require.Equal(t, 401, b.do(t, http.MethodGet, "/v3/tasks", tok).status)
}

// A UAA that never answers holds the one fetch under way; a request that
// gives up meanwhile is answered at once, 503, rather than waiting for it.
func TestUAAHungKeysServerLetsRequestsGo(t *testing.T) {
	t.Parallel()
	entered, release := make(chan struct{}), make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		close(entered)
		<-release
		http.Error(w, "gone", http.StatusBadGateway)
	}))
	t.Cleanup(srv.Close)
	// A client without a timeout: the authorizer bounds the fetch itself.
	auth := uaaAuth(t, httpadapter.UAAConfig{KeysURL: srv.URL + "/token_keys", Issuer: uaaIssuer,
		HTTPClient: &http.Client{}, RefreshInterval: -1})
	b := setup(t, auth)
	_, key, _ := keyServer(t)
	tok := signRS256(t, key, "key-1", uaaToken(httpadapter.ScopeAdmin))

	first := make(chan int, 1)
	go func() { first <- b.do(t, http.MethodGet, "/v3/tasks", tok).status }()
	<-entered // the first request's fetch is under way, and hangs

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req := httptest.NewRequestWithContext(ctx, http.MethodGet, "/v3/tasks", nil)
	req.Header.Set("Authorization", "bearer "+tok)
	done := make(chan int, 1)
	go func() {
		rec := httptest.NewRecorder()
		b.handler.ServeHTTP(rec, req)
		done <- rec.Code
	}()
	select {
	case code := <-done:
		require.Equal(t, http.StatusServiceUnavailable, code)
	case <-time.After(10 * time.Second):
		t.Fatal("a request that gave up waited for the hung fetch")
	}
	close(release)
	require.Equal(t, http.StatusServiceUnavailable, <-first)
}

package httpadapter_test

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/stretchr/testify/require"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/httpadapter"
)

var uaaSecret = []byte("a shared secret of thirty-two bytes")

// uaaToken is the claims of a UAA access token for a user, valid for an
// hour, with scopes; tests change what they test.
func uaaToken(scopes ...string) map[string]any {
	now := time.Now()
	return map[string]any{
		"jti": "4c4e7a6f1f3a4b0e9d0c", "sub": "u-1", "user_id": "u-1", "user_name": "alice",
		"email": "alice@example.com", "client_id": "cf", "cid": "cf", "grant_type": "password",
		"scope": scopes, "aud": []string{"cloud_controller", "openid"},
		"iss": "http://uaa.example.com/oauth/token",
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	}
}

func signHS256(t testing.TB, key []byte, claims map[string]any) string {
	t.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: key}, (&jose.SignerOptions{}).WithType("JWT"))
	require.NoError(t, err)
	tok, err := jwt.Signed(s).Claims(claims).Serialize()
	require.NoError(t, err)
	return tok
}

func signRS256(t testing.TB, key *rsa.PrivateKey, kid string, claims map[string]any) string {
	t.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: kid}},
		(&jose.SignerOptions{}).WithType("JWT"))
	require.NoError(t, err)
	tok, err := jwt.Signed(s).Claims(claims).Serialize()
	require.NoError(t, err)
	return tok
}

func uaaAuth(t testing.TB, cfg httpadapter.UAAConfig) httpadapter.Authorizer {
	t.Helper()
	a, err := httpadapter.UAA(cfg)
	require.NoError(t, err)
	return a
}

func TestUAAConfigNeedsOneKeySource(t *testing.T) {
	t.Parallel()
	_, err := httpadapter.UAA(httpadapter.UAAConfig{})
	require.Error(t, err)
	_, err = httpadapter.UAA(httpadapter.UAAConfig{Secret: uaaSecret, KeysURL: "http://uaa/token_keys"})
	require.Error(t, err)
}

// TestUAAScopes is Cloud Controller's scope rules, route by route: reads
// need a read scope, writes a write scope, and the command is for admins,
// read-only admins and whoever may write.
func TestUAAScopes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		scopes          []string
		get, cancel     int
		commandOnGet    bool
		listAuditEvents int
	}{
		{scopes: []string{httpadapter.ScopeAdmin}, get: 200, cancel: 202, commandOnGet: true, listAuditEvents: 200},
		{scopes: []string{httpadapter.ScopeRead, httpadapter.ScopeWrite}, get: 200, cancel: 202, commandOnGet: true, listAuditEvents: 200},
		{scopes: []string{httpadapter.ScopeRead}, get: 200, cancel: 403, listAuditEvents: 200},
		{scopes: []string{httpadapter.ScopeWrite}, get: 403, cancel: 404, listAuditEvents: 403},
		{scopes: []string{httpadapter.ScopeAdminReadOnly}, get: 200, cancel: 403, commandOnGet: true, listAuditEvents: 200},
		{scopes: []string{httpadapter.ScopeGlobalAuditor}, get: 200, cancel: 403, listAuditEvents: 200},
		{scopes: []string{httpadapter.ScopeGlobalAuditor, httpadapter.ScopeRead}, get: 200, cancel: 403, listAuditEvents: 200},
		{scopes: []string{"openid"}, get: 403, cancel: 403, listAuditEvents: 403},
	}
	for _, tt := range tests {
		t.Run(marshal(tt.scopes), func(t *testing.T) {
			t.Parallel()
			b := setup(t, uaaAuth(t, httpadapter.UAAConfig{Secret: uaaSecret}))
			task := b.create(t, "app-1", tasklife.StateRunning)
			tok := signHS256(t, uaaSecret, uaaToken(tt.scopes...))

			got := b.do(t, http.MethodGet, "/v3/tasks/"+task.GUID, tok)
			require.Equal(t, tt.get, got.status, got.body)
			if got.status == 200 {
				requireTask(t, got.body, task, "http://example.com", tt.commandOnGet)
			}
			got = b.do(t, http.MethodGet, "/v3/audit_events", tok)
			require.Equal(t, tt.listAuditEvents, got.status, got.body)

			got = b.do(t, http.MethodPost, "/v3/tasks/"+task.GUID+"/actions/cancel", tok)
			require.Equal(t, tt.cancel, got.status, got.body)
			if tt.cancel != 202 {
				return
			}
			events, err := b.svc.AuditEvents(t.Context(), tasklife.AuditQuery{Types: []string{tasklife.AuditTaskCancel}})
			require.NoError(t, err)
			require.Len(t, events.Events, 1)
			require.Equal(t, tasklife.Actor{GUID: "u-1", Type: "user", Name: "alice"}, events.Events[0].Actor)
		})
	}
}

// TestUAARefusesBadTokens: every token CC's decoder refuses is 401
// CF-InvalidAuthToken, and a request without one is CF-NotAuthenticated.
func TestUAARefusesBadTokens(t *testing.T) {
	t.Parallel()
	edit := func(f func(c map[string]any)) string {
		c := uaaToken(httpadapter.ScopeAdmin)
		f(c)
		return signHS256(t, uaaSecret, c)
	}
	tests := map[string]string{
		"expired":                 edit(func(c map[string]any) { c["exp"] = time.Now().Add(-time.Second).Unix() }),
		"not yet valid":           edit(func(c map[string]any) { c["nbf"] = time.Now().Add(time.Hour).Unix() }),
		"wrong audience":          edit(func(c map[string]any) { c["aud"] = []string{"openid", "routing"} }),
		"no expiry":               edit(func(c map[string]any) { delete(c, "exp") }),
		"refresh token":           edit(func(c map[string]any) { c["jti"] = "4c4e7a6f-r" }),
		"no user and no client":   edit(func(c map[string]any) { delete(c, "user_id"); delete(c, "client_id") }),
		"wrong issuer":            edit(func(c map[string]any) { c["iss"] = "http://evil.example.com/oauth/token" }),
		"signed with another key": signHS256(t, []byte("another secret of thirty-two bytes"), uaaToken(httpadapter.ScopeAdmin)),
		"not a JWT":               "not-a-jwt",
		"unsigned":                unsigned(t, uaaToken(httpadapter.ScopeAdmin)),
	}
	b := setup(t, uaaAuth(t, httpadapter.UAAConfig{Secret: uaaSecret, Issuer: "http://uaa.example.com/oauth/token"}))
	for name, tok := range tests {
		got := b.do(t, http.MethodGet, "/v3/tasks", tok)
		require.Equal(t, 401, got.status, name)
		require.Equal(t, bodyInvalidToken, got.body, name)
	}
	got := b.do(t, http.MethodGet, "/v3/tasks", "")
	require.Equal(t, bodyNotAuthenticated, got.body)
	got = b.do(t, http.MethodGet, "/v3/tasks", signHS256(t, uaaSecret, uaaToken(httpadapter.ScopeRead)))
	require.Equal(t, 200, got.status, got.body)
}

// unsigned is a token with "alg":"none", which must never pass.
func unsigned(t testing.TB, claims map[string]any) string {
	t.Helper()
	body, err := json.Marshal(claims)
	require.NoError(t, err)
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + enc(body) + "."
}

// uaaKeys is a fake UAA's /token_keys: it serves the public halves of
// keys, in UAA's shape (with its "value" PEM field), and counts fetches.
type uaaKeys struct {
	mu      sync.Mutex
	keys    map[string]*rsa.PrivateKey
	fetches atomic.Int64
	down    atomic.Bool
}

func (u *uaaKeys) add(t testing.TB, kid string) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.keys == nil {
		u.keys = map[string]*rsa.PrivateKey{}
	}
	u.keys[kid] = k
	return k
}

func (u *uaaKeys) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	u.fetches.Add(1)
	if u.down.Load() {
		http.Error(w, "down", http.StatusBadGateway)
		return
	}
	u.mu.Lock()
	var keys []json.RawMessage
	for kid, k := range u.keys {
		pub, _ := jose.JSONWebKey{Key: &k.PublicKey, KeyID: kid, Algorithm: "RS256", Use: "sig"}.MarshalJSON()
		var m map[string]any
		_ = json.Unmarshal(pub, &m)
		m["value"] = "-----BEGIN PUBLIC KEY-----\n...\n-----END PUBLIC KEY-----"
		raw, _ := json.Marshal(m)
		keys = append(keys, raw)
	}
	u.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"keys": keys})
}

// keyServer starts a fake UAA holding one key, "key-1", and returns its
// /token_keys URL.
func keyServer(t testing.TB) (*uaaKeys, *rsa.PrivateKey, string) {
	keys := &uaaKeys{}
	k1 := keys.add(t, "key-1")
	srv := httptest.NewServer(keys)
	t.Cleanup(srv.Close)
	return keys, k1, srv.URL + "/token_keys"
}

func TestUAAKeySet(t *testing.T) {
	t.Parallel()
	keys, k1, url := keyServer(t)
	b := setup(t, uaaAuth(t, httpadapter.UAAConfig{KeysURL: url, RefreshInterval: -1}))
	read := func(tok string) int { return b.do(t, http.MethodGet, "/v3/tasks", tok).status }

	require.Equal(t, 200, read(signRS256(t, k1, "key-1", uaaToken(httpadapter.ScopeRead))))
	require.Equal(t, 200, read(signRS256(t, k1, "key-1", uaaToken(httpadapter.ScopeRead))))
	require.EqualValues(t, 1, keys.fetches.Load(), "the key set is cached")

	// UAA rotates: a token with the new key's id refreshes the set once.
	k2 := keys.add(t, "key-2")
	require.Equal(t, 200, read(signRS256(t, k2, "key-2", uaaToken(httpadapter.ScopeRead))))
	require.EqualValues(t, 2, keys.fetches.Load())
	require.Equal(t, 200, read(signRS256(t, k2, "key-2", uaaToken(httpadapter.ScopeRead))))
	require.EqualValues(t, 2, keys.fetches.Load())
	// A token without a key id is tried with every key, as CC does.
	require.Equal(t, 200, read(signRS256(t, k2, "", uaaToken(httpadapter.ScopeRead))))
	require.EqualValues(t, 2, keys.fetches.Load())

	// A key the UAA does not have: one more fetch, then 401.
	stranger := &uaaKeys{}
	k3 := stranger.add(t, "key-3")
	require.Equal(t, 401, read(signRS256(t, k3, "key-3", uaaToken(httpadapter.ScopeRead))))
	require.EqualValues(t, 3, keys.fetches.Load())
	// A known key id on a token signed by another key: no fetch, 401.
	require.Equal(t, 401, read(signRS256(t, k3, "key-1", uaaToken(httpadapter.ScopeRead))))
	require.EqualValues(t, 3, keys.fetches.Load())
	// An HMAC token signed with the public key as secret must not pass.
	pub, err := jose.JSONWebKey{Key: &k1.PublicKey}.MarshalJSON()
	require.NoError(t, err)
	require.Equal(t, 401, read(signHS256(t, pub, uaaToken(httpadapter.ScopeRead))))
}

func TestUAAKeySetRefreshIsBounded(t *testing.T) {
	t.Parallel()
	keys, k1, url := keyServer(t)
	b := setup(t, uaaAuth(t, httpadapter.UAAConfig{KeysURL: url, RefreshInterval: time.Hour}))
	require.Equal(t, 200, b.do(t, http.MethodGet, "/v3/tasks", signRS256(t, k1, "key-1", uaaToken(httpadapter.ScopeRead))).status)
	for range 5 {
		got := b.do(t, http.MethodGet, "/v3/tasks", signRS256(t, k1, "made-up", uaaToken(httpadapter.ScopeRead)))
		require.Equal(t, bodyInvalidToken, got.body)
	}
	require.EqualValues(t, 1, keys.fetches.Load(), "unknown key ids within the interval fetch nothing")
}

func TestUAAKeySetUnavailable(t *testing.T) {
	t.Parallel()
	keys, k1, url := keyServer(t)
	keys.down.Store(true)
	b := setup(t, uaaAuth(t, httpadapter.UAAConfig{KeysURL: url, RefreshInterval: -1}))
	tok := signRS256(t, k1, "key-1", uaaToken(httpadapter.ScopeRead))
	got := b.do(t, http.MethodGet, "/v3/tasks", tok)
	require.Equal(t, 503, got.status)
	require.Equal(t, envelope("The UAA service is currently unavailable", "CF-UaaUnavailable", 20004), got.body)
	keys.down.Store(false)
	require.Equal(t, 200, b.do(t, http.MethodGet, "/v3/tasks", tok).status)
}

func TestUAAClientActor(t *testing.T) {
	t.Parallel()
	b := setup(t, uaaAuth(t, httpadapter.UAAConfig{Secret: uaaSecret}))
	task := b.create(t, "app-1", tasklife.StateRunning)
	c := uaaToken(httpadapter.ScopeAdmin)
	delete(c, "user_id")
	delete(c, "user_name")
	delete(c, "email")
	c["client_id"], c["grant_type"] = "taskd", "client_credentials"
	got := b.do(t, http.MethodPut, "/v3/tasks/"+task.GUID+"/cancel", signHS256(t, uaaSecret, c))
	require.Equal(t, 202, got.status, got.body)
	events, err := b.svc.AuditEvents(t.Context(), tasklife.AuditQuery{Types: []string{tasklife.AuditTaskCancel}})
	require.NoError(t, err)
	require.Len(t, events.Events, 1)
	require.Equal(t, tasklife.Actor{GUID: "taskd", Type: "user", Name: "taskd"}, events.Events[0].Actor)
}

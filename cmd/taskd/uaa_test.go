package main

import (
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/memstore"
)

// tokenResponse is UAA's token response, as the cf CLI and OAuth2 clients
// read it.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	RefreshToken string `json:"refresh_token"`
	ExpiresIn    int    `json:"expires_in"`
	Scope        string `json:"scope"`
	JTI          string `json:"jti"`
}

// requestToken posts form to /oauth/token, with HTTP Basic client
// credentials when basic is not nil, as an OAuth2 client does.
func requestToken(t *testing.T, h http.Handler, form url.Values, basic *[2]string) (int, string) {
	t.Helper()
	req := httptest.NewRequest("POST", "/oauth/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if basic != nil {
		req.SetBasicAuth(basic[0], basic[1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code, rec.Body.String()
}

func getToken(t *testing.T, h http.Handler, form url.Values, basic *[2]string) tokenResponse {
	t.Helper()
	status, body := requestToken(t, h, form, basic)
	require.Equal(t, 200, status, body)
	var tr tokenResponse
	require.NoError(t, json.Unmarshal([]byte(body), &tr))
	return tr
}

// jwtClaims decodes a JWT's claims without checking it, as the cf CLI
// does to show who is logged in and when the token expires.
func jwtClaims(t *testing.T, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	require.Len(t, parts, 3, "a compact JWS")
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	require.NoError(t, err)
	var c map[string]any
	require.NoError(t, json.Unmarshal(raw, &c))
	return c
}

func serveWith(h http.Handler, method, target, auth, body string) (int, string) {
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code, rec.Body.String()
}

var (
	clientCredentials = url.Values{"grant_type": {"client_credentials"}, "client_id": {"taskd"}, "client_secret": {"secret"}}
	passwordGrant     = url.Values{"grant_type": {"password"}, "username": {"admin"}, "password": {"secret"}}
	cfClient          = &[2]string{"cf", ""}
)

func TestTokenClientCredentials(t *testing.T) {
	t.Parallel()
	h := newTestHandler(t)
	for name, tr := range map[string]tokenResponse{
		"form":  getToken(t, h, clientCredentials, nil),
		"basic": getToken(t, h, url.Values{"grant_type": {"client_credentials"}}, &[2]string{"taskd", "secret"}),
	} {
		require.Equal(t, "bearer", tr.TokenType, name)
		require.Empty(t, tr.RefreshToken, "UAA gives clients no refresh token")
		require.Equal(t, 43199, tr.ExpiresIn)
		require.Equal(t, "cloud_controller.admin cloud_controller.read cloud_controller.write", tr.Scope)
		c := jwtClaims(t, tr.AccessToken)
		require.Equal(t, "taskd", c["client_id"])
		require.Equal(t, tr.JTI, c["jti"])
		require.NotContains(t, c, "user_id")
		require.InDelta(t, time.Now().Add(12*time.Hour).Unix(), c["exp"], 60)
		require.Equal(t, []any{"cloud_controller.admin", "cloud_controller.read", "cloud_controller.write"}, c["scope"])
		require.Contains(t, c["aud"], "cloud_controller")

		status, body := serveWith(h, "POST", "/v3/apps/app-1/tasks", "bearer "+tr.AccessToken, `{"command":"true"}`)
		require.Equal(t, 202, status, body)
	}
}

func TestTokenPasswordGrantAndRefresh(t *testing.T) {
	t.Parallel()
	svc := tasklife.New(memstore.New())
	h := newHandler(svc, storeOnly{svc}, "secret", "http://taskd.test", slog.New(slog.DiscardHandler))
	tr := getToken(t, h, passwordGrant, cfClient)
	c := jwtClaims(t, tr.AccessToken)
	require.Equal(t, "admin", c["user_name"])
	require.Equal(t, "cf", c["client_id"])
	require.NotEmpty(t, c["user_id"])
	require.NotEmpty(t, tr.RefreshToken)

	status, body := serveWith(h, "POST", "/v3/apps/app-1/tasks", "bearer "+tr.AccessToken, `{"command":"true"}`)
	require.Equal(t, 202, status, body)
	var created struct {
		GUID string `json:"guid"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &created))
	status, body = serveWith(h, "PUT", "/v3/tasks/"+created.GUID+"/cancel", "bearer "+tr.AccessToken, "")
	require.Equal(t, 202, status, body)
	events, err := svc.AuditEvents(t.Context(), tasklife.AuditQuery{Types: []string{tasklife.AuditTaskCancel}})
	require.NoError(t, err)
	require.Len(t, events.Events, 1)
	require.Equal(t, "admin", events.Events[0].Actor.Name, "audit events name who canceled")

	// A refresh token is for /oauth/token only.
	status, body = serveWith(h, "GET", "/v3/tasks", "bearer "+tr.RefreshToken, "")
	require.Equal(t, 401, status)
	require.Contains(t, body, "CF-InvalidAuthToken")
	refreshed := getToken(t, h, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tr.RefreshToken}}, cfClient)
	require.Equal(t, "admin", jwtClaims(t, refreshed.AccessToken)["user_name"])
	status, body = serveWith(h, "GET", "/v3/tasks", "bearer "+refreshed.AccessToken, "")
	require.Equal(t, 200, status, body)
	status, body = requestToken(t, h, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tr.AccessToken}}, cfClient)
	require.Equal(t, 401, status, "an access token is no refresh token")
	require.JSONEq(t, `{"error":"invalid_token","error_description":"Invalid refresh token"}`, body)
}

func TestTokenBadCredentials(t *testing.T) {
	t.Parallel()
	h := newTestHandler(t)
	with := func(v url.Values, k, val string) url.Values {
		out := url.Values{}
		for key, vs := range v {
			out[key] = vs
		}
		out.Set(k, val)
		return out
	}
	for name, tc := range map[string]struct {
		form  url.Values
		basic *[2]string
	}{
		"wrong client secret":         {with(clientCredentials, "client_secret", "nope"), nil},
		"unknown client":              {with(clientCredentials, "client_id", "other"), nil},
		"wrong basic secret":          {url.Values{"grant_type": {"client_credentials"}}, &[2]string{"taskd", "nope"}},
		"wrong password":              {with(passwordGrant, "password", "nope"), cfClient},
		"unknown user":                {with(passwordGrant, "username", "root"), cfClient},
		"password for another client": {passwordGrant, &[2]string{"taskd", "secret"}},
	} {
		status, body := requestToken(t, h, tc.form, tc.basic)
		require.Equal(t, 401, status, name)
		require.JSONEq(t, `{"error":"unauthorized","error_description":"Bad credentials"}`, body, name)
	}
	status, body := requestToken(t, h, url.Values{"grant_type": {"implicit"}}, nil)
	require.Equal(t, 400, status)
	require.JSONEq(t, `{"error":"unsupported_grant_type","error_description":"Unsupported grant type: implicit"}`, body)
}

// TestTokensAcrossInstances: instances that share the token verify each
// other's JWTs (the key is derived from the token), and a JWT signed for
// another token is refused.
func TestTokensAcrossInstances(t *testing.T) {
	t.Parallel()
	a, b := newTestHandler(t), newTestHandler(t)
	tr := getToken(t, a, clientCredentials, nil)
	status, body := serveWith(b, "GET", "/v3/tasks", "bearer "+tr.AccessToken, "")
	require.Equal(t, 200, status, body)

	svc := tasklife.New(memstore.New())
	other := newHandler(svc, storeOnly{svc}, "another-secret", "http://taskd.test", slog.New(slog.DiscardHandler))
	status, body = serveWith(other, "GET", "/v3/tasks", "bearer "+tr.AccessToken, "")
	require.Equal(t, 401, status)
	require.JSONEq(t, `{"errors":[{"detail":"Invalid Auth Token","title":"CF-InvalidAuthToken","code":1000}]}`, body)
	// The bare token keeps working, for curl.
	status, _ = serveWith(b, "GET", "/v3/tasks", "bearer secret", "")
	require.Equal(t, 200, status)
}

func TestLoginPrompts(t *testing.T) {
	t.Parallel()
	status, body := serveWith(newTestHandler(t), "GET", "/login", "", "")
	require.Equal(t, 200, status)
	var info struct {
		Prompts map[string][]string `json:"prompts"`
		Links   struct {
			Login string `json:"login"`
			UAA   string `json:"uaa"`
		} `json:"links"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &info))
	require.Equal(t, "text", info.Prompts["username"][0])
	require.Equal(t, "password", info.Prompts["password"][0])
	require.Equal(t, "http://taskd.test", info.Links.Login)
}

package main

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/memstore"
)

// goCFClient does what github.com/cloudfoundry/go-cfclient/v3 does to talk
// to a Cloud Foundry (it is not among this module's dependencies): it is
// configured with the API URL and client credentials alone, finds the
// token URL in the root document's login link, asks for a token as
// golang.org/x/oauth2's clientcredentials does (HTTP Basic, form-encoded
// id and secret), refuses a token that is not a JWT with an expiry, and
// on a 401 fetches a new token and retries once. No glue: nothing here
// knows taskd's bearer token is also a password.
type goCFClient struct {
	t                *testing.T
	api, tokenURL    string
	id, secret       string
	token            string
	fetches, retries int
}

func newGoCFClient(t *testing.T, api, id, secret string) *goCFClient {
	c := &goCFClient{t: t, api: api, id: id, secret: secret}
	resp, err := http.Get(api + "/")
	require.NoError(t, err)
	defer resp.Body.Close()
	var root struct {
		Links map[string]struct {
			Href string `json:"href"`
		} `json:"links"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&root))
	c.tokenURL = root.Links["login"].Href + "/oauth/token"
	return c
}

func (c *goCFClient) fetchToken() {
	c.t.Helper()
	c.fetches++
	req, err := http.NewRequest("POST", c.tokenURL, strings.NewReader("grant_type=client_credentials"))
	require.NoError(c.t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(c.id), url.QueryEscape(c.secret))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(c.t, err)
	defer resp.Body.Close()
	require.Equal(c.t, 200, resp.StatusCode)
	var tr tokenResponse
	require.NoError(c.t, json.NewDecoder(resp.Body).Decode(&tr))
	require.True(c.t, strings.EqualFold(tr.TokenType, "bearer"))
	require.Contains(c.t, jwtClaims(c.t, tr.AccessToken), "exp", "go-cfclient refuses a token that is not a JWT")
	c.token = tr.AccessToken
}

func (c *goCFClient) do(method, path, body string, out any) int {
	c.t.Helper()
	if c.token == "" {
		c.fetchToken()
	}
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequest(method, c.api+path, strings.NewReader(body))
		require.NoError(c.t, err)
		req.Header.Set("Authorization", "Bearer "+c.token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(c.t, err)
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(c.t, err)
		if resp.StatusCode == http.StatusUnauthorized && attempt == 0 {
			c.retries++
			c.fetchToken()
			continue
		}
		if out != nil && resp.StatusCode < 300 {
			require.NoError(c.t, json.Unmarshal(b, out), "%s", b)
		}
		return resp.StatusCode
	}
}

func TestGoCFClientStyle(t *testing.T) {
	t.Parallel()
	const token = "a+b/c=d" // what form-encoding changes
	svc := tasklife.New(memstore.New())
	srv := httptest.NewServer(newHandler(svc, storeOnly{svc}, token, "", slog.New(slog.DiscardHandler)))
	t.Cleanup(srv.Close)
	c := newGoCFClient(t, srv.URL, "taskd", token)

	var created cliTask
	require.Equal(t, 202, c.do("POST", "/v3/apps/app-1/tasks", `{"command":"echo hi"}`, &created))
	var apps guidList
	require.Equal(t, 200, c.do("GET", "/v3/apps?names=app-1", "", &apps))
	require.Len(t, apps.Resources, 1)
	var tasks taskList
	require.Equal(t, 200, c.do("GET", "/v3/apps/"+apps.Resources[0].GUID+"/tasks", "", &tasks))
	require.Equal(t, created.GUID, tasks.Resources[0].GUID)

	// The token went bad (expired, say): one new token, one retry.
	c.token = "not.a.token"
	var canceled cliTask
	require.Equal(t, 202, c.do("POST", "/v3/tasks/"+created.GUID+"/actions/cancel", "", &canceled))
	require.Equal(t, "CANCELING", canceled.State)
	require.Equal(t, 2, c.fetches)
	require.Equal(t, 1, c.retries)
}

package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// These tests replay what the cf CLI (v8, built from its source) sent to
// taskd for
//
//	cf api http://127.0.0.1:8080
//	cf auth taskd "$TASKD_TOKEN" --client-credentials
//	cf target -o taskd -s default
//	cf create-app demo
//	cf run-task demo --command "sleep 600" --name t1
//	cf tasks demo
//	cf terminate-task demo 1
//
// with the headers it sends, and decode each answer into what the CLI
// reads (the fields of its resources, with their types), so that a change
// that would break the CLI breaks them.

// cliUserAgent is what the CLI calls itself.
const cliUserAgent = "cf/8.9.0+b2ca1a3.2024-11-25 (go1.23.3; amd64 linux)"

// cli is the cf CLI's HTTP side: its config's API and login endpoints and
// its access token.
type cli struct {
	t     *testing.T
	api   string
	login string
	token string // "bearer <JWT>", as the CLI stores it
}

// call sends a request as the CLI's cloud controller client does and
// decodes a 2xx answer into out. It returns the status and the body.
func (c *cli) call(base, method, path string, body any, out any) (int, string) {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(c.t, err)
		rd = strings.NewReader(string(b))
	}
	req, err := http.NewRequest(method, base+path, rd)
	require.NoError(c.t, err)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", cliUserAgent)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", c.token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(c.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(c.t, err)
	if resp.StatusCode < 300 && out != nil {
		require.Equal(c.t, "application/json", strings.Split(resp.Header.Get("Content-Type"), ";")[0])
		require.NoError(c.t, json.Unmarshal(b, out), "%s", b)
	}
	return resp.StatusCode, string(b)
}

// cfAPI is cf api: the root document.
func (c *cli) cfAPI() {
	c.t.Helper()
	var root struct {
		Links struct {
			CloudControllerV3 struct {
				Href string `json:"href"`
				Meta struct {
					Version string `json:"version"`
				} `json:"meta"`
			} `json:"cloud_controller_v3"`
			Login struct {
				Href string `json:"href"`
			} `json:"login"`
			UAA struct {
				Href string `json:"href"`
			} `json:"uaa"`
		} `json:"links"`
	}
	status, body := c.call(c.api, "GET", "/", nil, &root)
	require.Equal(c.t, 200, status, body)
	require.Equal(c.t, c.api+"/v3", root.Links.CloudControllerV3.Href)
	require.Regexp(c.t, `^3\.\d+\.\d+$`, root.Links.CloudControllerV3.Meta.Version)
	require.Equal(c.t, c.api, root.Links.UAA.Href)
	c.login = root.Links.Login.Href
}

// cfAuth is cf auth CLIENT SECRET --client-credentials (form) or cf login
// (grant_type=password, the CLI's client "cf" as Basic).
func (c *cli) cfAuth(form url.Values) {
	c.t.Helper()
	req, err := http.NewRequest("POST", c.login+"/oauth/token", strings.NewReader(form.Encode()))
	require.NoError(c.t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", cliUserAgent)
	if form.Get("grant_type") == "password" {
		req.SetBasicAuth("cf", "")
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(c.t, err)
	defer resp.Body.Close()
	var tr tokenResponse
	require.Equal(c.t, 200, resp.StatusCode)
	require.NoError(c.t, json.NewDecoder(resp.Body).Decode(&tr))
	// The CLI decodes the token (a compact JWS) for its expiry and user.
	claims := jwtClaims(c.t, tr.AccessToken)
	require.Greater(c.t, claims["exp"], float64(time.Now().Unix()))
	c.token = tr.TokenType + " " + tr.AccessToken
}

// guidOf is what the CLI reads of a list of orgs, spaces or apps.
type guidList struct {
	Resources []struct {
		GUID          string `json:"guid"`
		Name          string `json:"name"`
		State         string `json:"state"`
		Relationships map[string]struct {
			Data struct {
				GUID string `json:"guid"`
			} `json:"data"`
		} `json:"relationships"`
	} `json:"resources"`
}

// cliTask is the CLI's resources.Task.
type cliTask struct {
	GUID       string `json:"guid"`
	SequenceID int64  `json:"sequence_id"`
	Name       string `json:"name"`
	Command    string `json:"command"`
	State      string `json:"state"`
	CreatedAt  string `json:"created_at"`
	MemoryInMB uint64 `json:"memory_in_mb"`
	DiskInMB   uint64 `json:"disk_in_mb"`
	Result     *struct {
		FailureReason string `json:"failure_reason"`
	} `json:"result"`
}

type taskList struct {
	Pagination struct {
		TotalResults int `json:"total_results"`
		Next         *struct {
			Href string `json:"href"`
		} `json:"next"`
	} `json:"pagination"`
	Resources []cliTask `json:"resources"`
}

// replay runs the CLI's session against api (and logs in at loginAt, the
// same taskd or another instance of it) and returns nothing: it fails t.
func replay(t *testing.T, api, loginAt string, form url.Values) {
	c := &cli{t: t, api: loginAt}
	c.cfAPI()
	c.cfAuth(form)
	c.api = api

	// cf target -o taskd -s default
	var orgs, spaces, apps guidList
	status, body := c.call(api, "GET", "/v3/organizations?names=taskd&page=1&per_page=1", nil, &orgs)
	require.Equal(t, 200, status, body)
	require.Len(t, orgs.Resources, 1)
	org := orgs.Resources[0].GUID
	status, body = c.call(api, "GET", "/v3/spaces?names=default&organization_guids="+org+"&page=1&per_page=1", nil, &spaces)
	require.Equal(t, 200, status, body)
	require.Len(t, spaces.Resources, 1)
	space := spaces.Resources[0].GUID
	require.Equal(t, org, spaces.Resources[0].Relationships["organization"].Data.GUID)

	// cf create-app demo, twice: the second is "already exists", OK.
	newApp := map[string]any{"name": "demo", "relationships": map[string]any{"space": map[string]any{"data": map[string]string{"guid": space}}}}
	var app struct {
		GUID  string `json:"guid"`
		Name  string `json:"name"`
		State string `json:"state"`
	}
	status, body = c.call(api, "POST", "/v3/apps", newApp, &app)
	require.Equal(t, 201, status, body)
	require.Equal(t, "STOPPED", app.State)
	status, body = c.call(api, "POST", "/v3/apps", newApp, nil)
	require.Equal(t, 422, status)
	require.Regexp(t, `App with the name '.*' already exists\.`, body, "the CLI's NameNotUniqueInSpaceError")

	// cf run-task demo --command "sleep 600" --name t1
	status, body = c.call(api, "GET", "/v3/apps?names=demo&space_guids="+space, nil, &apps)
	require.Equal(t, 200, status, body)
	require.Len(t, apps.Resources, 1)
	require.Equal(t, app.GUID, apps.Resources[0].GUID)
	var created cliTask
	status, body = c.call(api, "POST", "/v3/apps/"+app.GUID+"/tasks", map[string]string{"command": "sleep 600", "name": "t1"}, &created)
	require.Equal(t, 202, status, body)
	require.EqualValues(t, 1, created.SequenceID)
	require.Equal(t, "t1", created.Name)

	// cf tasks demo, until the task runs
	var tasks taskList
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		status, body := c.call(api, "GET", "/v3/apps/"+app.GUID+"/tasks?per_page=5000", nil, &tasks)
		require.Equal(ct, 200, status, body)
		require.Len(ct, tasks.Resources, 1)
		require.Equal(ct, "RUNNING", tasks.Resources[0].State)
	}, 10*time.Second, 20*time.Millisecond)
	require.Equal(t, "sleep 600", tasks.Resources[0].Command, "the per-app list shows commands to whoever may read them")
	require.Nil(t, tasks.Pagination.Next)

	// cf terminate-task demo 1
	status, body = c.call(api, "GET", "/v3/apps/"+app.GUID+"/tasks?page=1&per_page=1&sequence_ids=1", nil, &tasks)
	require.Equal(t, 200, status, body)
	require.Len(t, tasks.Resources, 1)
	var canceled cliTask
	status, body = c.call(loginAt, "PUT", "/v3/tasks/"+tasks.Resources[0].GUID+"/cancel", nil, &canceled)
	require.Equal(t, 202, status, body)
	require.Equal(t, "CANCELING", canceled.State)

	// cf tasks demo: FAILED; cf terminate-task demo 1 again: refused.
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		status, body := c.call(api, "GET", "/v3/apps/"+app.GUID+"/tasks?per_page=5000", nil, &tasks)
		require.Equal(ct, 200, status, body)
		require.Equal(ct, "FAILED", tasks.Resources[0].State)
	}, 10*time.Second, 20*time.Millisecond)
	require.Equal(t, "task was cancelled", tasks.Resources[0].Result.FailureReason)
	status, body = c.call(api, "PUT", "/v3/tasks/"+tasks.Resources[0].GUID+"/cancel", nil, nil)
	require.Equal(t, 422, status)
	require.JSONEq(t, `{"errors":[{"detail":"Task state is FAILED and therefore cannot be canceled","title":"CF-UnprocessableEntity","code":10008}]}`, body)
}

func clientCredentialsOf(d *taskd) url.Values {
	return url.Values{"grant_type": {"client_credentials"}, "client_id": {"taskd"}, "client_secret": {d.token}}
}

func TestCFCLISession(t *testing.T) {
	t.Parallel()
	d := startTaskd(t, nil)
	replay(t, d.base, d.base, clientCredentialsOf(d))
}

func TestCFCLILoginSession(t *testing.T) {
	t.Parallel()
	d := startTaskd(t, nil, "-org", "taskd", "-space", "default", "-strict-apps")
	// cf login reads the prompts first.
	status, body := d.do("GET", "/login", "")
	require.Equal(t, 200, status, body)
	replay(t, d.base, d.base, url.Values{"grant_type": {"password"}, "username": {"admin"}, "password": {d.token}})
}

// TestCFCLISessionAcrossInstances logs in at one instance and runs the
// rest at another that shares the database and the token.
func TestCFCLISessionAcrossInstances(t *testing.T) {
	t.Parallel()
	schema := newPGSchema(t)
	a := pgInstance{schema: schema, name: "a", stateDir: t.TempDir()}.start(t)
	b := pgInstance{schema: schema, name: "b", stateDir: t.TempDir()}.start(t)
	replay(t, b.base, a.base, clientCredentialsOf(a))
}

// TestAppsOfTasks: by default a task registers its unknown app; with
// -strict-apps it is 404 "App not found", as in Cloud Controller.
func TestAppsOfTasks(t *testing.T) {
	t.Parallel()
	d := startTaskd(t, nil)
	d.create("true") // for app-1
	status, body := d.do("GET", "/v3/apps/app-1", "")
	require.Equal(t, 200, status, body)
	var app struct {
		Name string `json:"name"`
	}
	require.NoError(t, json.Unmarshal(body, &app))
	require.Equal(t, "app-1", app.Name)

	strict := startTaskd(t, nil, "-strict-apps")
	status, body = strict.do("POST", "/v3/apps/app-1/tasks", `{"command":"true"}`)
	require.Equal(t, 404, status)
	require.JSONEq(t, `{"errors":[{"detail":"App not found","title":"CF-ResourceNotFound","code":10010}]}`, string(body))
	status, _ = strict.do("GET", "/v3/apps/app-1", "")
	require.Equal(t, 404, status, "a refused create registers nothing")
}

// TestBannerCFLine: the banner's cf line reads the token where the curl
// lines do.
func TestBannerCFLine(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		cfg  config
		want string
	}{
		{config{token: "gen", generated: true, cf: defaultFront()}, `cf auth taskd 'gen' --client-credentials && cf target -o 'taskd' -s 'default'`},
		{config{token: "env", cf: cfFront{org: "o", space: "s p"}}, `cf auth taskd "$TASKD_TOKEN" --client-credentials && cf target -o 'o' -s 's p'`},
		{config{token: "file", secretFiles: secretFiles{token: "/run/tok"}, cf: defaultFront()}, `cf auth taskd "$(cat '/run/tok')" --client-credentials`},
	} {
		var b strings.Builder
		printBanner(&b, "http://127.0.0.1:8080", &tc.cfg, "memory")
		lines := strings.Split(strings.TrimSpace(b.String()), "\n")
		require.Equal(t, "or with the cf CLI:", lines[len(lines)-2])
		require.Contains(t, lines[len(lines)-1], "  cf api http://127.0.0.1:8080 && "+tc.want)
		require.NotContains(t, lines[len(lines)-1], "'env'", "a given token is never printed")
	}
}

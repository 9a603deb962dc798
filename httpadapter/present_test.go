package httpadapter_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/httpadapter"
)

func TestTaskJSONExact(t *testing.T) {
	t.Parallel()
	b := setup(t, httpadapter.InsecureAllowAll(), httpadapter.WithBaseURL("https://api.example.org/"))
	disk := int64(1024)
	logRate := int64(4096)
	task, err := b.svc.Create(context.Background(), tasklife.NewTask{
		AppGUID: "app-1", Name: "migrate", Command: "rake db:migrate", User: "vcap",
		MemoryInMB: 256, DiskInMB: &disk, LogRateLimitInBytesPerSecond: &logRate, DropletGUID: "droplet-1",
		Labels: map[string]string{"z": "1", "a": "2"}, Annotations: map[string]string{"note": `say "hi"`},
	})
	require.NoError(t, err)
	_, err = b.svc.Fail(context.Background(), task.GUID, "Exited with status 1")
	require.NoError(t, err)

	res := b.do(t, http.MethodGet, "/v3/tasks/"+task.GUID, "")
	require.Equal(t, http.StatusOK, res.status)
	want := strings.ReplaceAll(`{"guid":"GUID","created_at":"2016-05-04T17:00:41Z","updated_at":"2016-05-04T17:00:41Z",`+
		`"sequence_id":1,"name":"migrate","command":"rake db:migrate","user":"vcap","state":"FAILED",`+
		`"memory_in_mb":256,"disk_in_mb":1024,"log_rate_limit_in_bytes_per_second":4096,`+
		`"result":{"failure_reason":"Exited with status 1"},"droplet_guid":"droplet-1",`+
		`"relationships":{"app":{"data":{"guid":"app-1"}}},`+
		`"metadata":{"labels":{"a":"2","z":"1"},"annotations":{"note":"say \"hi\""}},`+
		`"links":{"self":{"href":"https://api.example.org/v3/tasks/GUID"},`+
		`"app":{"href":"https://api.example.org/v3/apps/app-1"},`+
		`"cancel":{"href":"https://api.example.org/v3/tasks/GUID/actions/cancel","method":"POST"},`+
		`"droplet":{"href":"https://api.example.org/v3/droplets/droplet-1"}}}`, "GUID", task.GUID)
	require.Equal(t, want, res.body)
	require.Equal(t, "application/json", res.header.Get("Content-Type"))
	require.Equal(t, len(want), int(mustAtoi(t, res.header.Get("Content-Length"))))
}

func mustAtoi(t testing.TB, s string) int64 {
	t.Helper()
	var n int64
	require.NoError(t, json.Unmarshal([]byte(s), &n))
	return n
}

// TestTaskJSONFields covers what varies between tasks: nulls, empty maps,
// the failure reason per state, a task without droplet, odd characters.
func TestTaskJSONFields(t *testing.T) {
	t.Parallel()
	disk := int64(0)
	tests := []struct {
		name string
		nt   tasklife.NewTask
		fail string
	}{
		{name: "minimal", nt: tasklife.NewTask{AppGUID: "app", Command: "x"}},
		{name: "zero disk is a number, not null", nt: tasklife.NewTask{AppGUID: "app", Command: "x", DiskInMB: &disk}},
		{name: "failed", nt: tasklife.NewTask{AppGUID: "app", Command: "x"}, fail: "boom"},
		{name: "escaping", nt: tasklife.NewTask{AppGUID: "app", Command: "echo \"<&>\"\n\t\\ \u2028 \x01 ünï",
			Name: "n\u2029", Annotations: map[string]string{"k": "v\"\\"}}},
		{name: "app guid needing escapes in links", nt: tasklife.NewTask{AppGUID: "a b/c?d", Command: "x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, httpadapter.InsecureAllowAll())
			task, err := b.svc.Create(context.Background(), tt.nt)
			require.NoError(t, err)
			if tt.fail != "" {
				task, err = b.svc.Fail(context.Background(), task.GUID, tt.fail)
				require.NoError(t, err)
			}
			res := b.do(t, http.MethodGet, "/v3/tasks/"+task.GUID, "")
			require.Equal(t, http.StatusOK, res.status)
			var got wireTask
			require.NoError(t, json.Unmarshal([]byte(res.body), &got))
			want := wire(task, "http://example.com", true)
			require.Equal(t, want, got)
			require.Equal(t, taskKeys(true), topLevelKeys(t, res.body))
			require.Contains(t, res.body, `"metadata":{"labels":{`)
			require.NotContains(t, res.body, `"labels":null`)
			require.NotContains(t, res.body, `"annotations":null`)
			if task.DropletGUID == "" {
				require.NotContains(t, res.body, `"droplet":`)
			}
		})
	}
}

// jsonRoundTrip is what encoding/json makes of s: marshal, then unmarshal.
func jsonRoundTrip(t testing.TB, s string) string {
	b, err := json.Marshal(s)
	require.NoError(t, err)
	var out string
	require.NoError(t, json.Unmarshal(b, &out))
	return out
}

// renderTask returns the body h.WriteTask answers with.
func renderTask(t testing.TB, h *httpadapter.Handler, task *tasklife.Task, showCommand bool) []byte {
	t.Helper()
	w := httptest.NewRecorder()
	h.WriteTask(w, httptest.NewRequest(http.MethodGet, "http://h/v3/tasks/x", nil), http.StatusOK, task, showCommand)
	require.Equal(t, http.StatusOK, w.Code)
	return w.Body.Bytes()
}

func TestWriteTaskWithoutBaseURL(t *testing.T) {
	t.Parallel()
	h := setup(t, httpadapter.InsecureAllowAll()).handler
	task := &tasklife.Task{GUID: "g", AppGUID: "a", Name: "n", Command: "secret", State: tasklife.StatePending, CreatedAt: t0, UpdatedAt: t0}
	w := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodPost, "https://host.example/v3/apps/a/tasks", nil)
	h.WriteTask(w, r, http.StatusAccepted, task, false)
	require.Equal(t, http.StatusAccepted, w.Code)
	requireTask(t, w.Body.String(), task, "https://host.example", false)
}

func TestTimestampsAreUTCSeconds(t *testing.T) {
	t.Parallel()
	local := time.FixedZone("X", -7*3600)
	task := &tasklife.Task{GUID: "g", AppGUID: "a", State: tasklife.StatePending,
		CreatedAt: time.Date(2016, 5, 4, 10, 0, 41, 999999999, local), UpdatedAt: t0}
	out := string(renderTask(t, setup(t, httpadapter.InsecureAllowAll()).handler, task, false))
	require.Contains(t, out, `"created_at":"2016-05-04T17:00:41Z"`)
	var v struct {
		CreatedAt time.Time `json:"created_at"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &v)) // RFC 3339, as go-cfclient parses it
}

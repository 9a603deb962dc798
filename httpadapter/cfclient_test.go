package httpadapter_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/httpadapter"
)

// This file talks to a real server the way Cloud Foundry clients do. The
// public Go client (go-cfclient v3) is not reachable from here, so cfTask
// and cfClient hold what it relies on: RFC 3339 times, integer sizes and
// sequence ids, links as a map of {href, method}, errors classified by
// their numeric code alone, and one retry after a 401.

type cfLink struct {
	Href   string `json:"href"`
	Method string `json:"method"`
}

type cfTask struct {
	GUID                         string    `json:"guid"`
	CreatedAt                    time.Time `json:"created_at"`
	UpdatedAt                    time.Time `json:"updated_at"`
	Name                         string    `json:"name"`
	SequenceID                   int       `json:"sequence_id"`
	Command                      string    `json:"command"`
	State                        string    `json:"state"`
	MemoryInMB                   int       `json:"memory_in_mb"`
	DiskInMB                     int       `json:"disk_in_mb"`
	LogRateLimitInBytesPerSecond int       `json:"log_rate_limit_in_bytes_per_second"`
	Result                       struct {
		FailureReason *string `json:"failure_reason"`
	} `json:"result"`
	DropletGUID   string            `json:"droplet_guid"`
	Relationships wireRelationships `json:"relationships"`
	Links         map[string]cfLink `json:"links"`
	Metadata      struct {
		Labels      map[string]*string `json:"labels"`
		Annotations map[string]*string `json:"annotations"`
	} `json:"metadata"`
}

type cfTaskList struct {
	Pagination struct {
		TotalResults int    `json:"total_results"`
		TotalPages   int    `json:"total_pages"`
		First        cfLink `json:"first"`
		Last         cfLink `json:"last"`
		Next         cfLink `json:"next"`
		Previous     cfLink `json:"previous"`
	} `json:"pagination"`
	Resources []*cfTask `json:"resources"`
}

// cfError is a client-side CF error, classified by code as go-cfclient's
// IsUnprocessableEntityError (10008) and IsResourceNotFoundError (10010) do.
type cfError struct {
	Code   int    `json:"code"`
	Title  string `json:"title"`
	Detail string `json:"detail"`
}

func (e cfError) Error() string {
	return fmt.Sprintf("cfclient error (%s|%d): %s", e.Title, e.Code, e.Detail)
}

func isUnprocessableEntity(err error) bool {
	var e cfError
	return errors.As(err, &e) && e.Code == 10008
}
func isResourceNotFound(err error) bool { var e cfError; return errors.As(err, &e) && e.Code == 10010 }

type cfClient struct {
	api, token string
	http       *http.Client
	requests   int
}

// do sends one request; a 401 is retried once, as go-cfclient does after
// refreshing its token.
func (c *cfClient) do(method, pathOrURL string, out any) error {
	target := pathOrURL
	if strings.HasPrefix(target, "/") {
		target = c.api + target
	}
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequestWithContext(context.Background(), method, target, nil)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "bearer "+c.token)
		c.requests++
		res, err := c.http.Do(req)
		if err != nil {
			return err
		}
		body, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil {
			return err
		}
		if res.StatusCode == http.StatusUnauthorized && attempt == 0 {
			continue
		}
		if res.StatusCode >= 400 {
			var env struct {
				Errors []cfError `json:"errors"`
			}
			if err := json.Unmarshal(body, &env); err != nil || len(env.Errors) == 0 {
				return fmt.Errorf("status %d without the CF envelope: %s", res.StatusCode, body)
			}
			return env.Errors[0]
		}
		return json.Unmarshal(body, out)
	}
}

func (c *cfClient) get(guid string) (*cfTask, error) {
	var t cfTask
	return &t, c.do(http.MethodGet, "/v3/tasks/"+guid, &t)
}

func (c *cfClient) cancel(guid string) (*cfTask, error) {
	var t cfTask
	return &t, c.do(http.MethodPost, "/v3/tasks/"+guid+"/actions/cancel", &t)
}

// listAll follows pagination.next until it is null, as go-cfclient's
// ListAll does.
func (c *cfClient) listAll(path string) ([]*cfTask, error) {
	var all []*cfTask
	next := path
	for next != "" {
		var page cfTaskList
		if err := c.do(http.MethodGet, next, &page); err != nil {
			return nil, err
		}
		all = append(all, page.Resources...)
		next = page.Pagination.Next.Href
	}
	return all, nil
}

// newCFServer serves a fresh bundle over a real listener, with the base
// URL set to the server's own, so links lead back to it.
func newCFServer(t *testing.T, auth httpadapter.Authorizer) (*bundle, *cfClient) {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	api := "http://" + srv.Listener.Addr().String()
	b := setup(t, auth, httpadapter.WithBaseURL(api))
	srv.Config.Handler = b.validate
	srv.Start()
	t.Cleanup(srv.Close)
	return b, &cfClient{api: api, token: "good", http: srv.Client()}
}

func TestCFClientFlows(t *testing.T) {
	t.Parallel()
	b, c := newCFServer(t, all)
	running := b.create(t, "app-a", tasklife.StateRunning)
	failed := b.create(t, "app-a", tasklife.StateFailed)
	for range 4 {
		b.create(t, "app-b", tasklife.StatePending)
	}

	got, err := c.get(running.GUID)
	require.NoError(t, err)
	require.Equal(t, running.GUID, got.GUID)
	require.True(t, got.CreatedAt.Equal(t0.Truncate(time.Second)))
	require.Equal(t, "rake db:migrate", got.Command)
	require.Equal(t, 256, got.MemoryInMB)
	require.Equal(t, c.api+"/v3/tasks/"+running.GUID+"/actions/cancel", got.Links["cancel"].Href)
	require.Equal(t, "POST", got.Links["cancel"].Method)
	require.Nil(t, got.Result.FailureReason)

	got, err = c.cancel(running.GUID)
	require.NoError(t, err)
	require.Equal(t, "CANCELING", got.State)

	_, err = c.cancel(failed.GUID)
	require.True(t, isUnprocessableEntity(err), "%v", err)
	require.EqualError(t, err, "cfclient error (CF-UnprocessableEntity|10008): Task state is FAILED and therefore cannot be canceled")

	_, err = c.get("no-such-task")
	require.True(t, isResourceNotFound(err), "%v", err)

	all, err := c.listAll("/v3/tasks?per_page=2")
	require.NoError(t, err)
	require.Len(t, all, 6)
	for _, task := range all {
		require.Empty(t, task.Command, "GET /v3/tasks never shows a command")
	}
	forApp, err := c.listAll("/v3/apps/app-b/tasks?per_page=3")
	require.NoError(t, err)
	require.Len(t, forApp, 4)
	require.Equal(t, []int{1, 2, 3, 4}, []int{forApp[0].SequenceID, forApp[1].SequenceID, forApp[2].SequenceID, forApp[3].SequenceID})
}

// TestCFCLITerminateTask is the cf CLI's terminate-task: find the task by
// sequence id, then cancel it with the deprecated PUT route.
func TestCFCLITerminateTask(t *testing.T) {
	t.Parallel()
	b, c := newCFServer(t, all)
	b.create(t, "app", tasklife.StateRunning)
	second := b.create(t, "app", tasklife.StateRunning)

	var page cfTaskList
	require.NoError(t, c.do(http.MethodGet, "/v3/apps/app/tasks?"+url.Values{
		"sequence_ids": {"2"}, "per_page": {"1"}, "page": {"1"},
	}.Encode(), &page))
	require.Len(t, page.Resources, 1)
	require.Equal(t, second.GUID, page.Resources[0].GUID)

	var canceled cfTask
	require.NoError(t, c.do(http.MethodPut, "/v3/tasks/"+page.Resources[0].GUID+"/cancel", &canceled))
	require.Equal(t, "CANCELING", canceled.State)
	require.EqualValues(t, 1, b.changes.Load())
}

// TestCFClient401RetryChangesNothing: a client retries a 401 once; neither
// attempt may change anything.
func TestCFClient401RetryChangesNothing(t *testing.T) {
	t.Parallel()
	b, c := newCFServer(t, all)
	task := b.create(t, "app", tasklife.StateRunning)
	before := b.snapshot(t)
	c.token = "expired"
	_, err := c.cancel(task.GUID)
	require.EqualError(t, err, "cfclient error (CF-InvalidAuthToken|1000): Invalid Auth Token")
	require.Equal(t, 2, c.requests)
	require.Equal(t, before, b.snapshot(t))
	require.Zero(t, b.changes.Load())
}

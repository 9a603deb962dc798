package httpadapter_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tasklife/tasklife"
)

// chunkRecorder keeps what a handler writes, and the largest single write.
type chunkRecorder struct {
	*httptest.ResponseRecorder
	largest int
}

func (c *chunkRecorder) Write(p []byte) (int, error) {
	c.largest = max(c.largest, len(p))
	return c.ResponseRecorder.Write(p)
}

// TestListStreamsLargePages: a page of large tasks is written in chunks,
// never gathered whole, and is still one valid envelope.
func TestListStreamsLargePages(t *testing.T) {
	t.Parallel()
	b := setup(t, all)
	const n, commandBytes = 200, 16 << 10
	for range n {
		_, err := b.svc.Create(context.Background(), tasklife.NewTask{AppGUID: "app", Command: strings.Repeat("x", commandBytes)})
		require.NoError(t, err)
	}
	req := httptest.NewRequest(http.MethodGet, "/v3/apps/app/tasks?per_page=5000", nil)
	req.Header.Set("Authorization", "bearer good")
	rec := &chunkRecorder{ResponseRecorder: httptest.NewRecorder()}
	b.handler.ServeHTTP(rec, req)
	require.Equal(t, http.StatusOK, rec.Code)
	require.Empty(t, rec.Header().Get("Content-Length"))
	var body struct {
		Resources []struct{ Command string } `json:"resources"`
	}
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body))
	require.Len(t, body.Resources, n)
	require.Len(t, body.Resources[n-1].Command, commandBytes)
	require.Greater(t, rec.Body.Len(), n*commandBytes)
	// A chunk is 32 KiB and at most one task more.
	require.Less(t, rec.largest, 32<<10+commandBytes+2<<10, "the page was gathered whole")
}

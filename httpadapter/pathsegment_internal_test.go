package httpadapter

import (
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestPathSegmentHasNoDotSegments: links built from hostile guids never
// resolve to another resource.
func TestPathSegmentHasNoDotSegments(t *testing.T) {
	t.Parallel()
	base, err := url.Parse("https://api.example.com/v3/apps/x/tasks")
	require.NoError(t, err)
	for _, guid := range []string{".", "..", "a/b", "../..", "%2e%2e", "ok-guid"} {
		link, err := url.Parse("https://api.example.com/v3/apps/" + pathSegment(guid) + "/tasks")
		require.NoError(t, err, guid)
		resolved := base.ResolveReference(link)
		require.Equal(t, "/v3/apps/"+guid+"/tasks", resolved.Path, "guid %q", guid)
	}
}

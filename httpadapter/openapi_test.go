package httpadapter_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/httpadapter"
)

// TestOpenAPIListsTheLifecycleStates keeps openapi.yaml's two literal lists
// of the states, the task schema's enum and the states parameter's
// description, equal to the lifecycle's, in its order.
func TestOpenAPIListsTheLifecycleStates(t *testing.T) {
	t.Parallel()
	doc, err := spec()
	require.NoError(t, err)
	var want []string
	for _, s := range tasklife.States() {
		want = append(want, string(s))
	}

	task := doc.Components.Schemas["Task"]
	require.NotNil(t, task, "openapi.yaml has a Task schema")
	state := task.Value.Properties["state"]
	require.NotNil(t, state, "the Task schema has a state property")
	var enum []string
	for _, v := range state.Value.Enum {
		s, ok := v.(string)
		require.True(t, ok, "state enum value %v is a string", v)
		enum = append(enum, s)
	}
	require.Equal(t, want, enum, "openapi.yaml: Task.state's enum")

	param := doc.Components.Parameters["States"]
	require.NotNil(t, param, "openapi.yaml has a States parameter")
	const prefix, suffix = "Comma-separated states, each one of ", "."
	desc := param.Value.Description
	require.True(t, strings.HasPrefix(desc, prefix) && strings.HasSuffix(desc, suffix),
		"openapi.yaml: the States parameter's description lists the states as %q...%q: %q", prefix, suffix, desc)
	require.Equal(t, want, strings.Split(strings.TrimSuffix(strings.TrimPrefix(desc, prefix), suffix), ", "),
		"openapi.yaml: the States parameter's description")
}

// TestOpenAPIDescribesIdempotencyKey keeps openapi.yaml's Idempotency-Key
// on the routes that take it, with the draft's 409 and 422.
func TestOpenAPIDescribesIdempotencyKey(t *testing.T) {
	t.Parallel()
	doc, err := spec()
	require.NoError(t, err)
	param := doc.Components.Parameters["IdempotencyKey"]
	require.NotNil(t, param, "openapi.yaml has an IdempotencyKey parameter")
	require.Equal(t, httpadapter.IdempotencyKeyHeader, param.Value.Name)
	require.Equal(t, "header", param.Value.In)
	for _, route := range []struct{ path, method string }{
		{"/v3/tasks/{guid}/actions/cancel", "POST"},
		{"/v3/tasks/{guid}/cancel", "PUT"},
		{"/v3/apps/{guid}/tasks", "POST"},
	} {
		op := doc.Paths.Find(route.path).GetOperation(route.method)
		require.NotNil(t, op, "%s %s", route.method, route.path)
		var refs []string
		for _, p := range op.Parameters {
			refs = append(refs, p.Ref)
		}
		require.Contains(t, refs, "#/components/parameters/IdempotencyKey", "%s %s", route.method, route.path)
		for _, status := range []int{400, 409, 422} {
			require.NotNil(t, op.Responses.Status(status), "%s %s answers %d", route.method, route.path, status)
		}
	}
}

package httpadapter

import (
	"context"
	"net/http"

	"github.com/tasklife/tasklife"
)

// CreateFunc is the host's part of POST /v3/apps/{guid}/tasks: what only
// the host knows. The adapter has authenticated the caller, checked
// PermWrite and validated the body with Cloud Controller's rules; nt
// holds the body, the app guid from the path and the caller as Actor.
// In Cloud Controller's order the hook then answers
//   - an app that does not exist, or that p may not see:
//     ResourceNotFound("App");
//   - p may see the app but not create tasks in it: NotAuthorized();
//   - defaults the body left out (memory, disk, droplet, log rate limit),
//     set in nt;
//
// and creates the task, usually with Service.Create(ctx, nt), returning
// it or an error (an *Error is rendered as given). The route answers 202
// with the task, its command included. nt.IdempotencyKey is set when the
// request has an Idempotency-Key: it must reach Service.Create as it is,
// which answers a repeat with the task the first request created, as it
// was then, and creates nothing.
type CreateFunc func(ctx context.Context, p Principal, nt tasklife.NewTask) (*tasklife.Task, error)

// WithCreate serves POST /v3/apps/{guid}/tasks with create as the host's
// part. Without it the adapter does not create tasks (405).
func WithCreate(create CreateFunc) Option {
	return func(h *Handler) { h.createTask = create }
}

// create serves POST /v3/apps/{guid}/tasks in Cloud Controller's order
// (TasksController#create): authenticate (401), may write at all (403),
// the body (400, 413, 422: TaskCreateMessage), the app (404, with
// WithAppExists), then the host's hook.
func (h *Handler) create(w http.ResponseWriter, r *http.Request) {
	p, ok := h.AuthenticateToWrite(w, r)
	if !ok {
		return
	}
	rawKey, err := parseKey(r)
	if err != nil {
		h.WriteError(w, r, err)
		return
	}
	nt, err := readCreateBody(w, r)
	if err != nil {
		h.WriteError(w, r, err)
		return
	}
	nt.AppGUID = r.PathValue("guid")
	if !h.checkApp(w, r, p, nt.AppGUID) {
		return
	}
	// The fingerprint is of the request as the client sent it, before the
	// host's defaults.
	if nt.IdempotencyKey, err = h.idempotencyKey(rawKey, p, "create", nt); err != nil {
		h.WriteError(w, r, err)
		return
	}
	actor := h.actor(p)
	nt.Actor = &actor
	if nt.IdempotencyKey != nil {
		end, ok := h.inflight.begin(nt.IdempotencyKey)
		if !ok {
			h.WriteError(w, r, errKeyInFlight)
			return
		}
		defer end()
	}
	t, err := h.createTask(r.Context(), p, nt)
	if err != nil {
		h.WriteError(w, r, err)
		return
	}
	// The creator wrote the command, so it may read it back.
	h.WriteTask(w, r, http.StatusAccepted, t, true)
}

// readCreateBody decodes a create body as Cloud Controller's
// TaskCreateMessage judges it: not a JSON object is a parse error (400);
// unknown keys, wrong types, bad metadata and a missing command are 422s.
// CC's template (a process to copy the command from) is unknown here: the
// adapter knows no processes.
func readCreateBody(w http.ResponseWriter, r *http.Request) (tasklife.NewTask, error) {
	var nt tasklife.NewTask
	fields, err := readObject(w, r)
	if err != nil {
		return nt, err
	}
	var (
		unknown []string
		meta    tasklife.MetadataPatch
	)
	for _, f := range fields {
		switch f.key {
		case "command":
			err = decodeString(f.value, "Command", &nt.Command)
		case "name":
			err = decodeString(f.value, "Name", &nt.Name)
		case "user":
			err = decodeString(f.value, "User", &nt.User)
		case "droplet_guid":
			err = decodeString(f.value, "Droplet guid", &nt.DropletGUID)
		case "memory_in_mb":
			err = decodeInt(f.value, "Memory in mb", &nt.MemoryInMB)
		case "disk_in_mb":
			nt.DiskInMB, err = decodeOptionalInt(f.value, "Disk in mb")
		case "log_rate_limit_in_bytes_per_second":
			nt.LogRateLimitInBytesPerSecond, err = decodeOptionalInt(f.value, "Log rate limit in bytes per second")
		case "metadata":
			meta, err = decodeMetadata(f.value)
		default:
			unknown = append(unknown, f.key)
		}
		if err != nil {
			return nt, err
		}
	}
	if len(unknown) > 0 {
		return nt, unknownFields("", unknown)
	}
	if err := tasklife.CheckMetadata(meta); err != nil {
		return nt, err
	}
	nt.Labels, nt.Annotations = values(meta.Labels), values(meta.Annotations)
	if nt.Command == "" {
		return nt, UnprocessableEntity("No command or template provided")
	}
	return nt, nil
}

func decodeOptionalInt(v []byte, name string) (*int64, error) {
	if isNull(v) {
		return nil, nil
	}
	var n int64
	if err := decodeInt(v, name, &n); err != nil {
		return nil, err
	}
	return &n, nil
}

// values is a patch as a new task's map: a null value (a deletion, in a
// PATCH) leaves the key out.
func values(m map[string]*string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		if v != nil {
			out[k] = *v
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// checkApp asks WithAppExists's hook, if there is one, whether appGUID is
// an app p may see. It reports false once it has written the error: 404
// "App not found", or the hook's.
func (h *Handler) checkApp(w http.ResponseWriter, r *http.Request, p Principal, appGUID string) bool {
	if h.appExists == nil {
		return true
	}
	exists, err := h.appExists(r.Context(), p, appGUID)
	if err != nil {
		h.WriteError(w, r, err)
		return false
	}
	if !exists {
		h.WriteError(w, r, errAppNotFound)
	}
	return exists
}

package httpadapter

import (
	"net/http"

	"github.com/tasklife/tasklife"
)

// AuthenticateToRead runs the checks a route that only reads starts with:
// authenticate the caller (401), then ask the Authorizer for the global
// PermRead (403), before the route looks anything up, so that a refusal
// reveals nothing. On a refusal it writes the error and returns false; the
// route returns at once. Otherwise it returns the principal, for the
// route's own Authorizer questions.
func (h *Handler) AuthenticateToRead(w http.ResponseWriter, r *http.Request) (Principal, bool) {
	return h.authenticate(w, r, PermRead)
}

// AuthenticateToWrite is AuthenticateToRead for a route that changes
// something (creates or cancels a task): it asks for the global PermWrite.
func (h *Handler) AuthenticateToWrite(w http.ResponseWriter, r *http.Request) (Principal, bool) {
	return h.authenticate(w, r, PermWrite)
}

// authenticate authenticates r's caller and asks for the global perm,
// PermRead or PermWrite.
func (h *Handler) authenticate(w http.ResponseWriter, r *http.Request, perm Permission) (Principal, bool) {
	p, err := h.auth.Authenticate(r)
	if err != nil {
		h.WriteError(w, r, err)
		return nil, false
	}
	if !h.authorize(w, r, p, perm, nil) {
		return nil, false
	}
	return p, true
}

// authorize asks the Authorizer whether p holds perm on t (nil for the
// global permissions). On a refusal it writes the error and returns false:
// 404 "Task not found" for PermReadTask, which hides the task, and 403 for
// every other permission.
func (h *Handler) authorize(w http.ResponseWriter, r *http.Request, p Principal, perm Permission, t *tasklife.Task) bool {
	ok, err := h.auth.Authorize(r.Context(), p, perm, t)
	if err != nil {
		h.WriteError(w, r, err)
		return false
	}
	if !ok {
		refusal := errNotAuthorized
		if perm == PermReadTask {
			refusal = errTaskNotFound
		}
		h.WriteError(w, r, refusal)
	}
	return ok
}

// load reads the task the route names and checks perms on it, in order, as
// Cloud Controller does: 404 for a task that is missing or that p may not
// read, 403 for a later permission. It reports false once it has written
// the error.
func (h *Handler) load(w http.ResponseWriter, r *http.Request, p Principal, perms ...Permission) (*tasklife.Task, bool) {
	t, err := h.svc.Get(r.Context(), r.PathValue("guid"))
	if err != nil {
		h.WriteError(w, r, err)
		return nil, false
	}
	for _, perm := range perms {
		if !h.authorize(w, r, p, perm, t) {
			return nil, false
		}
	}
	return t, true
}

// LoadTask runs the checks a host route on one task continues with, after
// AuthenticateToRead or AuthenticateToWrite: it loads the task the route's
// {guid} names and asks for perms on it in order, as the adapter's own
// routes do. A missing task, or one p may not read (PermReadTask), is
// answered 404 "Task not found"; any later refusal 403. On a refusal it
// writes the error and returns false; the route returns at once.
func (h *Handler) LoadTask(w http.ResponseWriter, r *http.Request, p Principal, perms ...Permission) (*tasklife.Task, bool) {
	return h.load(w, r, p, perms...)
}

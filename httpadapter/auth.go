package httpadapter

import (
	"context"
	"crypto/subtle"
	"errors"
	"net/http"
	"strings"

	"github.com/tasklife/tasklife"
)

// Principal is whoever Authenticate says made a request: a user, a client,
// a token's claims. The adapter never looks inside; it hands the value back
// to Authorize.
type Principal any

// Errors Authenticate returns to refuse a request. Handler.WriteError
// renders them as Cloud Foundry's two distinct 401s.
var (
	// ErrNoCredentials: the request carries no credentials at all
	// (401 CF-NotAuthenticated 10002 "Authentication error").
	ErrNoCredentials = errors.New("httpadapter: no credentials")
	// ErrBadCredentials: the request carries credentials that are wrong,
	// expired or malformed (401 CF-InvalidAuthToken 1000 "Invalid Auth Token").
	ErrBadCredentials = errors.New("httpadapter: invalid credentials")
)

// Permission is what Authorize is asked about.
type Permission int

// The permissions the adapter checks, in the order Cloud Foundry checks them.
// The global ones (PermRead, PermWrite) are asked with a nil task, before any
// lookup, so that a refusal reveals nothing about which tasks exist.
const (
	// PermRead: may the principal read tasks at all (a read scope)?
	PermRead Permission = iota + 1
	// PermWrite: may the principal change anything at all (a write scope)?
	PermWrite
	// PermReadTask: may the principal see this task? A refusal is answered
	// 404 "Task not found", exactly as if the task did not exist.
	PermReadTask
	// PermCancelTask: may the principal, who can see this task, cancel it?
	// A refusal is answered 403.
	PermCancelTask
	// PermReadSecrets: may the principal see this task's command? A refusal
	// removes the "command" key from the task JSON.
	PermReadSecrets
	// PermUpdateTask: may the principal, who can see this task, change its
	// metadata (PATCH)? A refusal is answered 403.
	PermUpdateTask
	// PermReadAuditEvents: may the principal list audit events at all
	// (asked with a nil task, after PermRead)? A refusal is answered 403.
	PermReadAuditEvents
)

// String returns the permission's name, for logs.
func (p Permission) String() string {
	switch p {
	case PermRead:
		return "read"
	case PermWrite:
		return "write"
	case PermReadTask:
		return "read_task"
	case PermCancelTask:
		return "cancel_task"
	case PermReadSecrets:
		return "read_secrets"
	case PermUpdateTask:
		return "update_task"
	case PermReadAuditEvents:
		return "read_audit_events"
	}
	return "unknown"
}

// Authorizer is the host's authentication and authorization, the only
// source of truth the adapter has about who may do what. There is no
// default: a host passes BearerToken, InsecureAllowAll or its own.
//
// A hook may return any error instead of an answer (its identity provider
// is down, say); Handler.WriteError renders it, so an *Error passes through
// as given and anything else becomes a 500 that reveals nothing. A
// panicking hook is recovered into a 500 as well.
type Authorizer interface {
	// Authenticate identifies the caller of r. It returns ErrNoCredentials
	// when r carries none and ErrBadCredentials when they are wrong.
	Authenticate(r *http.Request) (Principal, error)
	// Authorize reports whether p holds perm. t is nil for the global
	// permissions PermRead and PermWrite and the task in question otherwise.
	Authorize(ctx context.Context, p Principal, perm Permission, t *tasklife.Task) (bool, error)
}

// ListScoper is an optional interface for an Authorizer: lists call
// ScopeList before they query the store, so a host that hides tasks from some
// principals can narrow the query (to the apps p may see, say) and keep
// total_results and the page links right. Whatever ScopeList lets through is
// still checked task by task with PermReadTask, and tasks refused there are
// dropped from the page.
type ListScoper interface {
	ScopeList(ctx context.Context, p Principal, q *tasklife.ListQuery) error
}

// ActorNamer is an optional interface for an Authorizer: it says who p is
// in the audit events of the creates and cancels p asks for (CC's actor:
// a user's guid, type "user", and email). Without it, events name the
// actor "unknown".
type ActorNamer interface {
	Actor(p Principal) tasklife.Actor
}

// unknownActor names a principal whose Authorizer is no ActorNamer.
var unknownActor = tasklife.Actor{GUID: "unknown", Type: "user", Name: "unknown"}

// actor is who p is, for an audit event.
func (h *Handler) actor(p Principal) tasklife.Actor {
	if n, ok := h.auth.(ActorNamer); ok {
		return n.Actor(p)
	}
	return unknownActor
}

// BearerToken returns an Authorizer for a service with one static secret: a
// request with "Authorization: bearer <token>" may do everything, a request
// without an Authorization header is ErrNoCredentials, and any other
// Authorization header, or more than one, is ErrBadCredentials. The token is compared in
// constant time. It panics if token is empty, which would admit everyone.
func BearerToken(token string) Authorizer {
	if token == "" {
		panic("httpadapter: BearerToken needs a non-empty token")
	}
	return bearerToken{token: []byte(token)}
}

type bearerToken struct{ token []byte }

// bearerPrincipal is the principal BearerToken hands out: the one holder of
// the token.
type bearerPrincipal struct{}

func (b bearerToken) Authenticate(r *http.Request) (Principal, error) {
	all := r.Header.Values("Authorization")
	if len(all) == 0 || (len(all) == 1 && all[0] == "") {
		return nil, ErrNoCredentials
	}
	if len(all) > 1 {
		// Which one counts would depend on who reads the request: a proxy
		// may check one and pass both.
		return nil, ErrBadCredentials
	}
	h := all[0]
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "bearer") {
		return nil, ErrBadCredentials
	}
	if subtle.ConstantTimeCompare([]byte(strings.TrimSpace(tok)), b.token) != 1 {
		return nil, ErrBadCredentials
	}
	return bearerPrincipal{}, nil
}

func (bearerToken) Authorize(context.Context, Principal, Permission, *tasklife.Task) (bool, error) {
	return true, nil
}

// Actor names the token's holder in audit events.
func (bearerToken) Actor(Principal) tasklife.Actor {
	return tasklife.Actor{GUID: "bearer-token", Type: "client", Name: "bearer token holder"}
}

// InsecureAllowAll returns an Authorizer that lets every request do
// everything, with or without credentials. It is for demos and tests only:
// anyone who can reach the server can read every command and cancel every
// task.
func InsecureAllowAll() Authorizer { return allowAll{} }

type allowAll struct{}

func (allowAll) Authenticate(*http.Request) (Principal, error) { return nil, nil }

func (allowAll) Authorize(context.Context, Principal, Permission, *tasklife.Task) (bool, error) {
	return true, nil
}

// Actor names everyone alike: nobody was asked who they are.
func (allowAll) Actor(Principal) tasklife.Actor {
	return tasklife.Actor{GUID: "anonymous", Type: "user", Name: "anonymous"}
}

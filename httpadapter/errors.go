package httpadapter

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/tasklife/tasklife"
)

// Error is one Cloud Foundry API error: an HTTP status and the envelope
// entry {"detail", "title", "code"}. A host route returns one (or wraps one)
// to answer with its own CF error; Handler.WriteError renders it as given.
type Error struct {
	Status int
	// Title is the CF error name, e.g. "CF-UnprocessableEntity".
	Title string
	// Code is the CF error code clients classify by, e.g. 10008.
	Code int
	// Detail is the human-readable message shown to the client.
	Detail string
}

// Error returns the title and detail.
func (e *Error) Error() string { return e.Title + ": " + e.Detail }

// BadQueryParameter returns the 400 CF-BadQueryParameter (10005) error for
// an invalid query; what says what is wrong.
func BadQueryParameter(what string) *Error {
	return &Error{Status: http.StatusBadRequest, Title: "CF-BadQueryParameter", Code: 10005,
		Detail: "The query parameter is invalid: " + what}
}

// MessageParseError returns the 400 CF-MessageParseError (1001) error for a
// request body that is not valid JSON; what says where parsing failed.
func MessageParseError(what string) *Error {
	return &Error{Status: http.StatusBadRequest, Title: "CF-MessageParseError", Code: 1001,
		Detail: "Request invalid due to parse error: " + what}
}

// UnprocessableEntity returns the 422 CF-UnprocessableEntity (10008) error
// with detail as the message, e.g. "No command or template provided".
func UnprocessableEntity(detail string) *Error {
	return &Error{Status: http.StatusUnprocessableEntity, Title: "CF-UnprocessableEntity", Code: 10008, Detail: detail}
}

// ResourceNotFound returns the 404 CF-ResourceNotFound (10010) error for a
// resource, e.g. ResourceNotFound("App") says "App not found".
func ResourceNotFound(resource string) *Error {
	return &Error{Status: http.StatusNotFound, Title: "CF-ResourceNotFound", Code: 10010, Detail: resource + " not found"}
}

// NotAuthorized returns the 403 CF-NotAuthorized (10003) error.
func NotAuthorized() *Error {
	return &Error{Status: http.StatusForbidden, Title: "CF-NotAuthorized", Code: 10003,
		Detail: "You are not authorized to perform the requested action"}
}

// The fixed errors the adapter answers with. They are never handed out, so
// nobody can change them.
var (
	errNotAuthenticated = &Error{Status: http.StatusUnauthorized, Title: "CF-NotAuthenticated", Code: 10002, Detail: "Authentication error"}
	errInvalidAuthToken = &Error{Status: http.StatusUnauthorized, Title: "CF-InvalidAuthToken", Code: 1000, Detail: "Invalid Auth Token"}
	errNotAuthorized    = NotAuthorized()
	errTaskNotFound     = ResourceNotFound("Task")
	errAppNotFound      = ResourceNotFound("App")
	errUnknownRequest   = &Error{Status: http.StatusNotFound, Title: "CF-NotFound", Code: 10000, Detail: "Unknown request"}
	// Cloud Controller has no 405 of its own; this keeps the envelope and
	// the "unknown request" code, so a CF client treats it as not found.
	errMethodNotAllowed = &Error{Status: http.StatusMethodNotAllowed, Title: "CF-MethodNotAllowed", Code: 10000, Detail: "Method not allowed"}
	errUnavailable      = &Error{Status: http.StatusServiceUnavailable, Title: "CF-ServiceUnavailable", Code: 10015, Detail: "The task store is unavailable: the request may or may not have taken effect, and repeating it is safe"}
	errUnknown          = &Error{Status: http.StatusInternalServerError, Title: "UnknownError", Code: 10001, Detail: "An unknown error occurred."}
)

// WriteError answers r with the Cloud Foundry error that err maps to. It is
// the one place where Go errors become HTTP statuses:
//
//   - an *Error anywhere in err's chain: as given;
//   - ErrNoCredentials: 401 CF-NotAuthenticated 10002;
//   - ErrBadCredentials: 401 CF-InvalidAuthToken 1000;
//   - tasklife.ErrNotFound: 404 CF-ResourceNotFound 10010 "Task not found";
//   - tasklife.ErrIdempotencyKeyReused: 422 CF-UnprocessableEntity 10008;
//   - tasklife.ErrInvalidTransition: 422 CF-UnprocessableEntity 10008 with
//     the transition error's message, e.g. "Task state is FAILED and
//     therefore cannot be canceled";
//   - tasklife.ErrInvalidInput: 422 CF-UnprocessableEntity 10008 naming the
//     field;
//   - tasklife.ErrUnavailable or a done context: 503 CF-ServiceUnavailable
//     10015;
//   - anything else: 500 UnknownError 10001 "An unknown error occurred.",
//     with nothing of err in the body; err is logged to the Handler's
//     logger (WithLogger).
func (h *Handler) WriteError(w http.ResponseWriter, r *http.Request, err error) {
	e := toError(err)
	if e == errUnknown {
		h.logger.ErrorContext(r.Context(), "httpadapter: unknown error",
			"method", r.Method, "path", r.URL.Path, "error", err)
	}
	writeErrorBody(w, e)
}

// toError maps err to the CF error it is rendered as.
func toError(err error) *Error {
	var e *Error
	var te *tasklife.TransitionError
	var ie *tasklife.InputError
	switch {
	case errors.As(err, &e):
		return e
	case errors.Is(err, ErrNoCredentials):
		return errNotAuthenticated
	case errors.Is(err, ErrBadCredentials):
		return errInvalidAuthToken
	case errors.Is(err, tasklife.ErrNotFound):
		return errTaskNotFound
	case errors.Is(err, tasklife.ErrIdempotencyKeyReused):
		return errKeyReused
	case errors.As(err, &te):
		return UnprocessableEntity(te.Error())
	case errors.Is(err, tasklife.ErrInvalidTransition):
		return UnprocessableEntity("The task cannot change to the requested state")
	case errors.As(err, &ie):
		// Several problems (Cloud Controller reports all of them): its
		// full messages joined with ", ".
		var msgs []string
		for _, p := range inputProblems(err) {
			msgs = append(msgs, inputMessage(p))
		}
		if len(msgs) == 0 {
			msgs = []string{inputMessage(ie)}
		}
		return UnprocessableEntity(strings.Join(msgs, ", "))
	case errors.Is(err, tasklife.ErrInvalidInput):
		return UnprocessableEntity("The request is invalid")
	case errors.Is(err, tasklife.ErrUnavailable),
		errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return errUnavailable
	}
	return errUnknown
}

// inputMessage words an input problem the way Cloud Controller does: the
// field humanized ("per_page" -> "Per page"), then the reason, e.g. "Per
// page must be between 1 and 5000". It is the one such mapping, for 422s
// and list query 400s alike.
func inputMessage(ie *tasklife.InputError) string {
	if ie.Field == "label_selector" {
		// CC reports label selector problems on the message as a whole,
		// and its messages name the parameter themselves.
		return ie.Reason
	}
	s := strings.ReplaceAll(ie.Field, "_", " ")
	if s != "" {
		if c := s[0]; 'a' <= c && c <= 'z' {
			s = string(c-'a'+'A') + s[1:]
		}
	}
	return s + " " + ie.Reason
}

func writeErrorBody(w http.ResponseWriter, e *Error) {
	buf := getBuf()
	b := append(*buf, `{"errors":[{"detail":`...)
	b = appendString(b, e.Detail)
	b = append(b, `,"title":`...)
	b = appendString(b, e.Title)
	b = append(b, `,"code":`...)
	b = strconv.AppendInt(b, int64(e.Code), 10)
	b = append(b, "}]}"...)
	status := e.Status
	if status < 400 || status > 599 {
		status = http.StatusInternalServerError
	}
	writeJSON(w, status, b)
	*buf = b
	putBuf(buf)
}

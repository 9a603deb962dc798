package httpadapter

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"sync"

	"github.com/tasklife/tasklife"
)

// The Idempotency-Key header (draft-ietf-httpapi-idempotency-key-header)
// on create and on both cancel routes. Without it, nothing here runs.

// IdempotencyKeyHeader is the request header that makes a create or a
// cancel idempotent.
const IdempotencyKeyHeader = "Idempotency-Key"

var (
	// The draft: a key that is not a Structured Field String (RFC 8941)
	// is a malformed request, 400.
	errKeyMalformed = &Error{Status: http.StatusBadRequest, Title: "CF-InvalidRequest", Code: 10004,
		Detail: "The Idempotency-Key header must be one quoted string (RFC 8941) of 1 to 255 printable ASCII characters, e.g. \"8e03978e-40d5-43e8-bc93-6894a57f9324\""}
	// A host whose Authorizer names no actors cannot tell callers apart,
	// and a key must never answer one caller with another's response.
	errKeyNoCaller = &Error{Status: http.StatusBadRequest, Title: "CF-InvalidRequest", Code: 10004,
		Detail: "This server does not accept Idempotency-Key: it cannot tell callers apart"}
	// The draft: the key was used for another request, 422.
	errKeyReused = UnprocessableEntity("Idempotency-Key was already used for a different request")
	// The draft: the first request with the key is still being processed,
	// 409. Cloud Controller has no such error; the code is ours.
	errKeyInFlight = &Error{Status: http.StatusConflict, Title: "CF-IdempotencyKeyInFlight", Code: 10017,
		Detail: "A request with this Idempotency-Key is still being processed; repeat it once that one is answered"}
)

// parseKey returns the Idempotency-Key of r, "" when it has none. The
// value is an sf-string: DQUOTE, printable ASCII with \" and \\ escaped,
// DQUOTE; parameters after it, which the draft defines none of, are
// ignored as RFC 8941 asks. An empty string is refused: it would be one
// key for every request of a caller.
func parseKey(r *http.Request) (string, error) {
	values := r.Header.Values(IdempotencyKeyHeader)
	switch len(values) {
	case 0:
		return "", nil
	case 1:
	default:
		return "", errKeyMalformed
	}
	v := strings.Trim(values[0], " \t")
	if len(v) < 2 || v[0] != '"' {
		return "", errKeyMalformed
	}
	var b strings.Builder
	for i := 1; i < len(v); i++ {
		c := v[i]
		switch {
		case c == '\\':
			i++
			if i == len(v) || (v[i] != '"' && v[i] != '\\') {
				return "", errKeyMalformed
			}
			b.WriteByte(v[i])
		case c == '"':
			rest := v[i+1:]
			if (rest != "" && rest[0] != ';') || b.Len() == 0 || b.Len() > tasklife.MaxIdempotencyKeyBytes {
				return "", errKeyMalformed
			}
			return b.String(), nil
		case c < 0x20 || c > 0x7e:
			return "", errKeyMalformed
		default:
			b.WriteByte(c)
		}
	}
	return "", errKeyMalformed // no closing quote
}

// idempotencyKey is r's key as the Service takes it, scoped by p's caller
// and fingerprinted by what the request asks: op and its arguments. nil
// when r has no key.
func (h *Handler) idempotencyKey(key string, p Principal, op string, args ...any) (*tasklife.IdempotencyKey, error) {
	if key == "" {
		return nil, nil
	}
	n, ok := h.auth.(ActorNamer)
	if !ok {
		return nil, errKeyNoCaller
	}
	a := n.Actor(p)
	caller := a.Type + "/" + a.GUID
	if a.GUID == "" {
		caller = a.Type + "//" + a.Name
	}
	// json.Marshal writes map keys sorted: the same request, the same
	// fingerprint.
	b, err := json.Marshal(append([]any{op}, args...))
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(b)
	return &tasklife.IdempotencyKey{Caller: caller, Key: key, Fingerprint: hex.EncodeToString(sum[:])}, nil
}

// inflight holds the keys whose first request this Handler is serving,
// for the draft's 409. Across instances (PostgreSQL), the store's unique
// key makes a repeat wait for the first's commit and answer with its
// response instead.
type inflight struct {
	mu   sync.Mutex
	keys map[string]struct{}
}

// begin marks k in flight and returns its end, or false if it already is.
func (f *inflight) begin(k *tasklife.IdempotencyKey) (end func(), ok bool) {
	id := k.Caller + "\x00" + k.Key
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, busy := f.keys[id]; busy {
		return nil, false
	}
	if f.keys == nil {
		f.keys = make(map[string]struct{})
	}
	f.keys[id] = struct{}{}
	return func() {
		f.mu.Lock()
		delete(f.keys, id)
		f.mu.Unlock()
	}, true
}

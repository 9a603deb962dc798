package httpadapter

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/tasklife/tasklife"
)

// UAAConfig says which UAA access tokens UAA accepts: where their signing
// keys come from and what they must say. Exactly one of Secret and KeysURL
// is set.
type UAAConfig struct {
	// Secret is the shared HMAC key of a UAA that signs with HS256 (CC's
	// uaa.symmetric_secret).
	Secret []byte
	// KeysURL is a UAA's /token_keys, e.g.
	// "https://uaa.example.com/token_keys": its JSON Web Key Set is fetched
	// on the first token, cached, and fetched again when a token names a
	// key it does not hold (UAA rotated its keys), at most once per
	// RefreshInterval.
	KeysURL string
	// HTTPClient fetches KeysURL; nil means one with a 10 s timeout.
	HTTPClient *http.Client
	// RefreshInterval bounds how often an unknown key id may make the
	// authorizer fetch KeysURL again, so that tokens with made-up key ids
	// cannot make it hammer the UAA. Zero means 30 s; negative, no bound.
	RefreshInterval time.Duration
	// Audience is the "aud" a token must contain: Cloud Controller's
	// uaa.resource_id. Empty means "cloud_controller".
	Audience string
	// Issuer, when set, is the "iss" a token must have, e.g.
	// "https://uaa.example.com/oauth/token".
	Issuer string
}

// UAAPrincipal is who a UAA access token says made a request: the
// Principal a UAA Authorizer hands out, for hosts that wrap it (to add
// org and space roles, say).
type UAAPrincipal struct {
	UserID   string // "user_id"; empty for a client's own token
	UserName string // "user_name"
	Email    string // "email"
	ClientID string // "client_id"
	Scopes   []string
}

// Client reports whether the token is a client's own (a client-credentials
// grant) rather than a user's, as Cloud Controller tells them apart.
func (p *UAAPrincipal) Client() bool { return p.UserID == "" }

// Has reports whether the token carries scope.
func (p *UAAPrincipal) Has(scope string) bool { return slices.Contains(p.Scopes, scope) }

// Cloud Controller's scopes, as UAA grants them.
const (
	ScopeAdmin         = "cloud_controller.admin"
	ScopeAdminReadOnly = "cloud_controller.admin_read_only"
	ScopeGlobalAuditor = "cloud_controller.global_auditor"
	ScopeRead          = "cloud_controller.read"
	ScopeWrite         = "cloud_controller.write"
)

// UAA returns an Authorizer that accepts the access tokens a Cloud Foundry
// UAA issues (signed JWTs) and grants what Cloud Controller grants for
// their scopes. A token that is expired, not yet valid, for another
// audience or issuer, a refresh token, or not signed by one of the keys is
// ErrBadCredentials (401 CF-InvalidAuthToken). Keys that cannot be fetched
// are a 503 CF-UaaUnavailable.
//
// The permissions, Cloud Controller's rules without org and space roles
// (which this Authorizer does not know; a host that has them wraps it):
// reading needs cloud_controller.read, .admin, .admin_read_only or
// .global_auditor; writing (creating, canceling, changing metadata) needs
// cloud_controller.write or .admin, and never .admin_read_only or
// .global_auditor alone; a task's command is shown to .admin and
// .admin_read_only, and to whoever may write (a space developer, in CC).
// Audit events are read as tasks are.
func UAA(cfg UAAConfig) (Authorizer, error) {
	if (len(cfg.Secret) == 0) == (cfg.KeysURL == "") {
		return nil, errors.New("httpadapter: UAA needs exactly one of Secret and KeysURL")
	}
	if cfg.Audience == "" {
		cfg.Audience = "cloud_controller"
	}
	a := &uaaAuth{cfg: cfg, now: time.Now}
	if cfg.KeysURL != "" {
		a.keys = newKeySet(cfg)
	}
	return a, nil
}

type uaaAuth struct {
	cfg  UAAConfig
	keys *keySet // nil with a Secret
	now  func() time.Time
}

// uaaClaims are the claims of a UAA access token beyond the registered
// ones.
type uaaClaims struct {
	UserID   string   `json:"user_id"`
	UserName string   `json:"user_name"`
	Email    string   `json:"email"`
	ClientID string   `json:"client_id"`
	Scope    []string `json:"scope"`
}

// signatureAlgorithms are the algorithms a token may be signed with: UAA
// signs with RS256 by default; HMAC only with a shared secret, so that a
// public key can never be used as an HMAC secret.
var (
	hmacAlgorithms   = []jose.SignatureAlgorithm{jose.HS256, jose.HS384, jose.HS512}
	publicAlgorithms = []jose.SignatureAlgorithm{jose.RS256, jose.RS384, jose.RS512,
		jose.PS256, jose.PS384, jose.PS512, jose.ES256, jose.ES384, jose.ES512, jose.EdDSA}
)

func (a *uaaAuth) Authenticate(r *http.Request) (Principal, error) {
	all := r.Header.Values("Authorization")
	if len(all) == 0 || (len(all) == 1 && all[0] == "") {
		return nil, ErrNoCredentials
	}
	if len(all) > 1 {
		return nil, ErrBadCredentials
	}
	scheme, raw, ok := strings.Cut(all[0], " ")
	if !ok || !strings.EqualFold(scheme, "bearer") {
		return nil, ErrBadCredentials
	}
	return a.verify(r.Context(), strings.TrimSpace(raw))
}

// verify checks raw as Cloud Controller's UaaTokenDecoder does, and nbf.
func (a *uaaAuth) verify(ctx context.Context, raw string) (*UAAPrincipal, error) {
	algs := hmacAlgorithms
	if a.keys != nil {
		algs = publicAlgorithms
	}
	tok, err := jwt.ParseSigned(raw, algs)
	if err != nil || len(tok.Headers) != 1 {
		return nil, ErrBadCredentials
	}
	var (
		std    jwt.Claims
		claims uaaClaims
	)
	if a.keys == nil {
		err = tok.Claims(a.cfg.Secret, &std, &claims)
	} else {
		keys, kerr := a.keys.candidates(ctx, tok.Headers[0].KeyID)
		if kerr != nil {
			return nil, kerr
		}
		err = ErrBadCredentials
		for _, key := range keys {
			if err = tok.Claims(key.Key, &std, &claims); err == nil {
				break
			}
		}
	}
	if err != nil {
		return nil, ErrBadCredentials
	}
	// UAA's tokens always expire; one that never does is not one of them.
	if std.Expiry == nil {
		return nil, ErrBadCredentials
	}
	// Cloud Controller does not judge iat; a UAA whose clock runs ahead
	// would otherwise have its fresh tokens refused.
	std.IssuedAt = nil
	want := jwt.Expected{Issuer: a.cfg.Issuer, AnyAudience: jwt.Audience{a.cfg.Audience}, Time: a.now()}
	if std.ValidateWithLeeway(want, 0) != nil {
		return nil, ErrBadCredentials
	}
	// A refresh token's jti ends in "-r"; CC takes only access tokens.
	if std.ID == "" || strings.HasSuffix(std.ID, "-r") {
		return nil, ErrBadCredentials
	}
	if claims.UserID == "" && claims.ClientID == "" {
		return nil, ErrBadCredentials
	}
	return &UAAPrincipal{UserID: claims.UserID, UserName: claims.UserName, Email: claims.Email,
		ClientID: claims.ClientID, Scopes: claims.Scope}, nil
}

func (a *uaaAuth) Authorize(_ context.Context, p Principal, perm Permission, _ *tasklife.Task) (bool, error) {
	u, ok := p.(*UAAPrincipal)
	if !ok {
		return false, nil
	}
	admin := u.Has(ScopeAdmin)
	readGlobally := admin || u.Has(ScopeAdminReadOnly) || u.Has(ScopeGlobalAuditor)
	read := readGlobally || u.Has(ScopeRead)
	write := admin || u.Has(ScopeWrite)
	switch perm {
	case PermRead, PermReadTask, PermReadAuditEvents:
		return read, nil
	case PermWrite, PermCancelTask, PermUpdateTask:
		return write, nil
	case PermReadSecrets:
		return admin || u.Has(ScopeAdminReadOnly) || (read && write), nil
	}
	return false, nil
}

// Actor names the token's user (user_id, user_name) or, for a client's own
// token, the client, as Cloud Controller's audit events do.
func (a *uaaAuth) Actor(p Principal) tasklife.Actor {
	u, ok := p.(*UAAPrincipal)
	if !ok {
		return unknownActor
	}
	if u.Client() {
		return tasklife.Actor{GUID: u.ClientID, Type: "user", Name: u.ClientID}
	}
	name := u.UserName
	if name == "" {
		name = u.Email
	}
	return tasklife.Actor{GUID: u.UserID, Type: "user", Name: name}
}

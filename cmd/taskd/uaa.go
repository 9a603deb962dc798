package main

import (
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/tasklife/tasklife/httpadapter"
)

// taskd's own UAA, for CF clients that log in before they call the API:
// POST /oauth/token issues signed JWTs as UAA does, for the client
// "taskd" (cf auth taskd "$TASKD_TOKEN" --client-credentials) and the
// user "admin" (cf login -u admin -p "$TASKD_TOKEN"), whose secret is the
// token. Every instance that shares the token derives the same signing
// key from it, so a JWT issued by one is good on all and survives
// restarts; changing the token revokes every JWT.
const (
	uaaClient     = "taskd" // the client of the client-credentials grant
	uaaUser       = "admin" // the user of the password grant
	uaaUserID     = "taskd-admin"
	cliClient     = "cf" // the client the cf CLI logs users in with, secret ""
	accessTTL     = 12 * time.Hour
	refreshTTL    = 30 * 24 * time.Hour
	uaaAudience   = "cloud_controller"
	signingKeyLen = 32
)

// uaaScopes are what taskd's tokens grant: everything, as the token does.
var uaaScopes = []string{httpadapter.ScopeAdmin, httpadapter.ScopeRead, httpadapter.ScopeWrite}

// signingKey derives the HS256 key of taskd's JWTs from the bearer token.
func signingKey(token string) []byte {
	key, err := hkdf.Key(sha256.New, []byte(token), nil, "taskd uaa jwt hs256", signingKeyLen)
	if err != nil {
		panic(err) // only for a length beyond what SHA-256's HKDF can give
	}
	return key
}

// tokenIssuer serves taskd's UAA routes.
type tokenIssuer struct {
	token  []byte // the bearer token: the client's secret, the user's password
	key    []byte
	signer jose.Signer
	base   func(r *http.Request) string
	now    func() time.Time
}

func newTokenIssuer(token string, base func(*http.Request) string) *tokenIssuer {
	key := signingKey(token)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: key}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		panic(err) // HS256 with a 32-byte key is always a signer
	}
	return &tokenIssuer{token: []byte(token), key: key, signer: signer, base: base, now: time.Now}
}

// uaaError is UAA's OAuth error body.
type uaaError struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

var errBadCredentials = uaaError{"unauthorized", "Bad credentials"}

func writeUAA(w http.ResponseWriter, status int, v any) {
	body, _ := json.Marshal(v) // only strings and numbers: never fails
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// maxTokenForm bounds a token request's body: a few short fields.
const maxTokenForm = 16 << 10

// serveToken is POST /oauth/token.
func (ti *tokenIssuer) serveToken(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxTokenForm)
	if err := r.ParseForm(); err != nil {
		writeUAA(w, http.StatusBadRequest, uaaError{"invalid_request", "Malformed token request"})
		return
	}
	basicUser, basicSecret, basic := r.BasicAuth()
	switch grant := r.PostForm.Get("grant_type"); grant {
	case "client_credentials":
		id, secret := r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
		if basic {
			id, secret = basicUser, basicSecret
		}
		if !ti.isClient(id, secret) {
			writeUAA(w, http.StatusUnauthorized, errBadCredentials)
			return
		}
		ti.issue(w, r, grant, uaaClient, "", false)
	case "password":
		// The cf CLI sends its client, "cf" with an empty secret, as Basic.
		client := cliClient
		if basic {
			client = basicUser
		}
		if client != cliClient || basicSecret != "" || r.PostForm.Get("username") != uaaUser || !ti.isToken(r.PostForm.Get("password")) {
			writeUAA(w, http.StatusUnauthorized, errBadCredentials)
			return
		}
		ti.issue(w, r, grant, client, uaaUser, true)
	case "refresh_token":
		client, user, ok := ti.refresh(r.PostForm.Get("refresh_token"))
		if !ok {
			writeUAA(w, http.StatusUnauthorized, uaaError{"invalid_token", "Invalid refresh token"})
			return
		}
		ti.issue(w, r, grant, client, user, true)
	default:
		writeUAA(w, http.StatusBadRequest, uaaError{"unsupported_grant_type", "Unsupported grant type: " + grant})
	}
}

// isClient reports whether id and secret are taskd's client's, as sent
// in the form or in HTTP Basic, where RFC 6749 (2.3.1) has them
// form-encoded first (Go's golang.org/x/oauth2 does; the cf CLI's client
// "cf" has nothing to encode).
func (ti *tokenIssuer) isClient(id, secret string) bool {
	if id == uaaClient && ti.isToken(secret) {
		return true
	}
	id, err1 := url.QueryUnescape(id)
	secret, err2 := url.QueryUnescape(secret)
	return err1 == nil && err2 == nil && id == uaaClient && ti.isToken(secret)
}

func (ti *tokenIssuer) isToken(s string) bool {
	return subtle.ConstantTimeCompare([]byte(s), ti.token) == 1
}

// claims are a UAA token's, as httpadapter.UAA reads them.
type claims struct {
	jwt.Claims
	Scope     []string `json:"scope"`
	ClientID  string   `json:"client_id"`
	CID       string   `json:"cid"`
	GrantType string   `json:"grant_type"`
	UserID    string   `json:"user_id,omitempty"`
	UserName  string   `json:"user_name,omitempty"`
	Origin    string   `json:"origin,omitempty"`
	ZoneID    string   `json:"zid"`
}

// issue answers with a new access token (and a refresh token for a user)
// as UAA does.
func (ti *tokenIssuer) issue(w http.ResponseWriter, r *http.Request, grant, client, user string, withRefresh bool) {
	now := ti.now()
	jti := newJTI()
	c := claims{
		Claims: jwt.Claims{ID: jti, Subject: client, Issuer: ti.base(r) + "/oauth/token",
			Audience: jwt.Audience{uaaAudience, client}, IssuedAt: jwt.NewNumericDate(now),
			Expiry: jwt.NewNumericDate(now.Add(accessTTL))},
		Scope: uaaScopes, ClientID: client, CID: client, GrantType: grant, ZoneID: "uaa",
	}
	if user != "" {
		c.Subject, c.UserID, c.UserName, c.Origin = uaaUserID, uaaUserID, user, "uaa"
	}
	access, err := jwt.Signed(ti.signer).Claims(c).Serialize()
	if err != nil {
		writeUAA(w, http.StatusInternalServerError, uaaError{"server_error", "cannot sign the token"})
		return
	}
	resp := map[string]any{"access_token": access, "token_type": "bearer",
		"expires_in": int(accessTTL/time.Second) - 1, "scope": strings.Join(uaaScopes, " "), "jti": jti}
	if withRefresh {
		c.ID = jti + "-r" // UAA's mark of a refresh token, which httpadapter.UAA refuses
		c.Expiry = jwt.NewNumericDate(now.Add(refreshTTL))
		refresh, err := jwt.Signed(ti.signer).Claims(c).Serialize()
		if err != nil {
			writeUAA(w, http.StatusInternalServerError, uaaError{"server_error", "cannot sign the token"})
			return
		}
		resp["refresh_token"] = refresh
	}
	writeUAA(w, http.StatusOK, resp)
}

// refresh checks a refresh token taskd issued and returns its client and
// user.
func (ti *tokenIssuer) refresh(raw string) (client, user string, ok bool) {
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.HS256})
	if err != nil {
		return "", "", false
	}
	var c claims
	if tok.Claims(ti.key, &c) != nil || c.Expiry == nil || !strings.HasSuffix(c.ID, "-r") ||
		c.ValidateWithLeeway(jwt.Expected{AnyAudience: jwt.Audience{uaaAudience}, Time: ti.now()}, 0) != nil {
		return "", "", false
	}
	return c.ClientID, c.UserName, true
}

func newJTI() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails.
	return hex.EncodeToString(b[:])
}

// serveLogin is GET /login, UAA's login information: the cf CLI reads the
// prompts before cf login asks for credentials.
func (ti *tokenIssuer) serveLogin(w http.ResponseWriter, r *http.Request) {
	base := ti.base(r)
	writeUAA(w, http.StatusOK, map[string]any{
		"app":   map[string]string{"version": "taskd"},
		"links": map[string]string{"uaa": base, "login": base},
		"prompts": map[string][]string{
			"username": {"text", "Username (" + uaaUser + ")"},
			"password": {"password", "Password (taskd's token)"},
		},
		"zone_name": "uaa",
	})
}

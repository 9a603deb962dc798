package main

import (
	"context"
	"errors"
	"net/http"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/httpadapter"
)

// eitherAuth accepts taskd's bearer token as it is (for curl) or a JWT
// its token endpoint issued (for CF clients), each with its own rules.
type eitherAuth struct {
	bearer, jwt httpadapter.Authorizer
}

// newAuth is taskd's Authorizer for token: the token itself, or a JWT
// signed with the key derived from it.
func newAuth(token string) httpadapter.Authorizer {
	jwtAuth, err := httpadapter.UAA(httpadapter.UAAConfig{Secret: signingKey(token)})
	if err != nil {
		panic(err) // a Secret and no KeysURL is always a valid config
	}
	return eitherAuth{bearer: httpadapter.BearerToken(token), jwt: jwtAuth}
}

// principal remembers which Authorizer vouched for p.
type principal struct {
	by httpadapter.Authorizer
	p  httpadapter.Principal
}

func (a eitherAuth) Authenticate(r *http.Request) (httpadapter.Principal, error) {
	p, err := a.bearer.Authenticate(r)
	if err == nil {
		return principal{a.bearer, p}, nil
	}
	if !errors.Is(err, httpadapter.ErrBadCredentials) {
		return nil, err
	}
	if p, err = a.jwt.Authenticate(r); err != nil {
		return nil, err
	}
	return principal{a.jwt, p}, nil
}

func (a eitherAuth) Authorize(ctx context.Context, p httpadapter.Principal, perm httpadapter.Permission, t *tasklife.Task) (bool, error) {
	pp, ok := p.(principal)
	if !ok {
		return false, nil
	}
	return pp.by.Authorize(ctx, pp.p, perm, t)
}

// Actor names the JWT's user or client, or the token's holder.
func (a eitherAuth) Actor(p httpadapter.Principal) tasklife.Actor {
	if pp, ok := p.(principal); ok {
		if n, ok := pp.by.(httpadapter.ActorNamer); ok {
			return n.Actor(pp.p)
		}
	}
	return tasklife.Actor{GUID: "unknown", Type: "user", Name: "unknown"}
}

package httpadapter

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// errUAAUnavailable answers a token whose keys could not be fetched: Cloud
// Controller's UaaUnavailable.
var errUAAUnavailable = &Error{Status: http.StatusServiceUnavailable, Title: "CF-UaaUnavailable", Code: 20004,
	Detail: "The UAA service is currently unavailable"}

// maxKeySetBytes bounds a /token_keys answer; UAA's holds a few keys of
// about a kilobyte each.
const maxKeySetBytes = 1 << 20

// keySet is a UAA's signing keys, fetched from its /token_keys when first
// needed and again when a token names a key it does not hold.
type keySet struct {
	url      string
	client   *http.Client
	interval time.Duration // the least time between two fetches; <= 0: none

	fetching sync.Mutex // one fetch at a time; waiters then read its result

	mu        sync.Mutex
	keys      []jose.JSONWebKey
	fetched   bool      // keys come from a successful fetch
	lastFetch time.Time // the last attempt, successful or not
	now       func() time.Time
}

func newKeySet(cfg UAAConfig) *keySet {
	client := cfg.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	interval := cfg.RefreshInterval
	if interval == 0 {
		interval = 30 * time.Second
	}
	return &keySet{url: cfg.KeysURL, client: client, interval: interval, now: time.Now}
}

// candidates returns the signing key named kid, or every key when kid is
// empty (Cloud Controller then tries each). An unknown kid refreshes the
// set once, unless the last fetch is more recent than the interval.
func (k *keySet) candidates(ctx context.Context, kid string) ([]jose.JSONWebKey, error) {
	if keys, ok := k.lookup(kid); ok {
		return keys, nil
	}
	k.fetching.Lock()
	defer k.fetching.Unlock()
	// Whoever held the lock may have fetched the key meanwhile.
	if keys, ok := k.lookup(kid); ok {
		return keys, nil
	}
	k.mu.Lock()
	recent := k.interval > 0 && !k.lastFetch.IsZero() && k.now().Sub(k.lastFetch) < k.interval
	fetched := k.fetched
	k.mu.Unlock()
	if recent {
		if !fetched {
			return nil, errUAAUnavailable
		}
		return nil, ErrBadCredentials
	}
	// One request giving up must not fail the fetch that waiters share.
	keys, err := k.fetch(context.WithoutCancel(ctx))
	k.mu.Lock()
	k.lastFetch = k.now()
	if err == nil {
		k.keys, k.fetched = keys, true
	}
	k.mu.Unlock()
	if err != nil {
		return nil, errUAAUnavailable
	}
	if keys, ok := k.lookup(kid); ok {
		return keys, nil
	}
	return nil, ErrBadCredentials
}

// lookup is candidates from the cache. The slice it returns is never
// written again: a fetch replaces the whole set.
func (k *keySet) lookup(kid string) ([]jose.JSONWebKey, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if kid == "" {
		return k.keys, len(k.keys) > 0
	}
	for i := range k.keys {
		if k.keys[i].KeyID == kid {
			return k.keys[i : i+1], true
		}
	}
	return nil, false
}

// fetch reads the key set at k.url: public signing keys only.
func (k *keySet) fetch(ctx context.Context) ([]jose.JSONWebKey, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := k.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("httpadapter: GET %s: %s", k.url, resp.Status)
	}
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxKeySetBytes)).Decode(&set); err != nil {
		return nil, fmt.Errorf("httpadapter: GET %s: %w", k.url, err)
	}
	var keys []jose.JSONWebKey
	for _, key := range set.Keys {
		if key.Use != "enc" && key.IsPublic() && key.Valid() {
			keys = append(keys, key)
		}
	}
	return keys, nil
}

package httpadapter

import (
	"net/http"
	"net/url"
	"strings"
)

// BaseURL returns the absolute URL that links in the answer to r start
// with, for a host route that writes links of its own (a root document,
// say): the WithBaseURL option when set; otherwise the scheme and host of r
// (or, with WithTrustForwardedHeaders, of its X-Forwarded-Proto and
// X-Forwarded-Host) followed by the prefix a http.StripPrefix removed from
// r's path. It has no trailing slash.
func (h *Handler) BaseURL(r *http.Request) string {
	if h.baseURL != "" {
		return strings.TrimSuffix(h.baseURL, "/")
	}
	scheme, host := "http", r.Host
	if r.TLS != nil {
		scheme = "https"
	}
	if h.trustForwardedHeaders {
		if v := firstValue(r.Header.Get("X-Forwarded-Proto")); v == "http" || v == "https" {
			scheme = v
		}
		if v := firstValue(r.Header.Get("X-Forwarded-Host")); v != "" {
			host = v
		}
	}
	return scheme + "://" + host + mountPrefix(r)
}

// firstValue is the first entry of a comma-separated header: the one the
// proxy nearest the client wrote.
func firstValue(v string) string {
	v, _, _ = strings.Cut(v, ",")
	return strings.TrimSpace(v)
}

// mountPrefix recovers the prefix a http.StripPrefix removed: the request
// line still has it, r.URL no longer does.
func mountPrefix(r *http.Request) string {
	uri, _, _ := strings.Cut(r.RequestURI, "?")
	if uri == "" || uri[0] != '/' {
		return ""
	}
	p := r.URL.EscapedPath()
	if len(uri) > len(p) && strings.HasSuffix(uri, p) {
		return uri[:len(uri)-len(p)]
	}
	return ""
}

// appendLink appends the JSON string base+path+escaped(id)+suffix.
func appendLink(b []byte, base, path, id, suffix string) []byte {
	b = append(b, '"')
	b = appendEscaped(b, base)
	b = append(b, path...)
	b = appendEscaped(b, pathSegment(id))
	b = append(b, suffix...)
	return append(b, '"')
}

// pathSegment escapes s as one path segment. url.PathEscape leaves "." and
// ".." as they are, and a client would resolve them as dot segments, so a
// guid of ".." would link to the parent resource.
func pathSegment(s string) string {
	switch s {
	case ".":
		return "%2E"
	case "..":
		return "%2E%2E"
	}
	return url.PathEscape(s)
}

package httpadapter

import (
	"net/http"
	"net/url"
	"strconv"
)

func (h *Handler) list(w http.ResponseWriter, r *http.Request) {
	h.serveList(w, r, "")
}

func (h *Handler) listForApp(w http.ResponseWriter, r *http.Request) {
	h.serveList(w, r, r.PathValue("guid"))
}

// serveList answers both list routes; appGUID is empty for GET /v3/tasks.
func (h *Handler) serveList(w http.ResponseWriter, r *http.Request, appGUID string) {
	p, ok := h.AuthenticateToRead(w, r)
	if !ok {
		return
	}
	perApp := appGUID != ""
	lr, qerr := parseListQuery(r.URL.RawQuery, appGUID)
	if qerr != nil {
		h.WriteError(w, r, qerr)
		return
	}
	ctx := r.Context()
	if perApp && !h.checkApp(w, r, p, appGUID) {
		return
	}
	if s, ok := h.auth.(ListScoper); ok {
		if err := s.ScopeList(ctx, p, &lr.q); err != nil {
			h.WriteError(w, r, err)
			return
		}
	}
	page, err := h.svc.List(ctx, lr.q)
	if err != nil {
		// What the Service refuses after a ListScoper changed the query is
		// a query problem too, not a 422.
		allowed := listParams
		if perApp {
			allowed = appListParams
		}
		if qerr := badQuery(allowed, nil, err); qerr != nil {
			err = qerr
		}
		h.WriteError(w, r, err)
		return
	}

	// The links page through the query the store ran, which has every
	// default filled in, and repeat the filters the client gave.
	ran := page.Query
	base := h.BaseURL(r)
	listPath := "/v3/tasks"
	if perApp {
		listPath = "/v3/apps/" + pathSegment(appGUID) + "/tasks"
	}
	buf := getBuf()
	b := appendPagination(*buf, base+listPath, lr.filters, page.TotalResults, ran.Page, ran.PerPage)
	b = append(b, `},"resources":[`...)

	// Decide about every task before the status is sent: an error after it
	// could no longer be an error response.
	shown := make([]int8, len(page.Tasks)) // -1 hidden, 0 without, 1 with the command
	for i, t := range page.Tasks {
		readable, err := h.auth.Authorize(ctx, p, PermReadTask, t)
		secrets := false
		// GET /v3/tasks never shows commands; the per-app list does to
		// those who may read secrets.
		if err == nil && readable && perApp {
			secrets, err = h.auth.Authorize(ctx, p, PermReadSecrets, t)
		}
		if err != nil {
			putBuf(buf)
			h.WriteError(w, r, err)
			return
		}
		shown[i] = -1
		if readable {
			shown[i] = boolInt8(secrets)
		}
	}

	// The body is streamed: written whenever flushAt bytes are ready, and
	// each task let go once rendered, so that a client that reads slowly
	// (or never) holds at most a chunk of JSON and the unsent part of the
	// page, not a second, larger copy of the page in JSON.
	hdr := w.Header()
	hdr["Content-Type"] = contentTypeJSON
	w.WriteHeader(http.StatusOK)
	n := 0
	for i, t := range page.Tasks {
		page.Tasks[i] = nil
		if shown[i] < 0 {
			continue
		}
		if n > 0 {
			b = append(b, ',')
		}
		b = appendTask(b, base, t, shown[i] > 0)
		n++
		if len(b) >= flushAt {
			if _, err := w.Write(b); err != nil {
				break // the client went away
			}
			b = b[:0]
		}
	}
	b = append(b, "]}"...)
	_, _ = w.Write(b)
	*buf = b
	putBuf(buf)
}

// appendPagination appends `{"pagination":{...}` (the object left open)
// for a list at url whose filters, as the client wrote them, the page
// links repeat.
func appendPagination(b []byte, url string, filters url.Values, total, page, perPage int) []byte {
	b = append(b, `{"pagination":{"total_results":`...)
	b = strconv.AppendInt(b, int64(total), 10)
	totalPages := max(1, (total+perPage-1)/perPage)
	b = append(b, `,"total_pages":`...)
	b = strconv.AppendInt(b, int64(totalPages), 10)
	link := func(b []byte, n int) []byte {
		b = append(b, `{"href":"`...)
		b = appendEscaped(b, url+"?"+pageQuery(filters, n, perPage))
		return append(b, `"}`...)
	}
	b = append(b, `,"first":`...)
	b = link(b, 1)
	b = append(b, `,"last":`...)
	b = link(b, totalPages)
	b = append(b, `,"next":`...)
	if page < totalPages {
		b = link(b, page+1)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"previous":`...)
	if page > 1 {
		b = link(b, page-1)
	} else {
		b = append(b, "null"...)
	}
	return b
}

// flushAt is how much of a list's JSON is gathered before it is written.
const flushAt = 32 << 10

func boolInt8(b bool) int8 {
	if b {
		return 1
	}
	return 0
}

// pageQuery is the query of a page link: the filters plus page and
// per_page, keys sorted (url.Values.Encode sorts).
func pageQuery(filters url.Values, page, perPage int) string {
	v := make(url.Values, len(filters)+2)
	for k, vs := range filters {
		v[k] = vs
	}
	v.Set("page", strconv.Itoa(page))
	v.Set("per_page", strconv.Itoa(perPage))
	return v.Encode()
}

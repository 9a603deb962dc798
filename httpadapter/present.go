package httpadapter

import (
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/tasklife/tasklife"
)

// WriteTask answers r with status and t in Cloud Controller's JSON, keys in
// CC's order, links under h.BaseURL(r). showCommand decides whether the
// "command" key appears at all: pass whether the caller may read secrets
// (PermReadSecrets), or true to the caller who just wrote the command.
func (h *Handler) WriteTask(w http.ResponseWriter, r *http.Request, status int, t *tasklife.Task, showCommand bool) {
	buf := getBuf()
	b := appendTask(*buf, h.BaseURL(r), t, showCommand)
	writeJSON(w, status, b)
	*buf = b
	putBuf(buf)
}

// appendTask appends t's JSON to dst, with links under base (as returned by
// BaseURL), and returns the extended slice.
func appendTask(dst []byte, base string, t *tasklife.Task, showCommand bool) []byte {
	b := append(dst, `{"guid":`...)
	b = appendString(b, t.GUID)
	b = append(b, `,"created_at":"`...)
	b = appendTime(b, t.CreatedAt)
	b = append(b, `","updated_at":"`...)
	b = appendTime(b, t.UpdatedAt)
	b = append(b, `","sequence_id":`...)
	b = strconv.AppendInt(b, t.SequenceID, 10)
	b = append(b, `,"name":`...)
	b = appendString(b, t.Name)
	if showCommand {
		b = append(b, `,"command":`...)
		b = appendString(b, t.Command)
	}
	b = append(b, `,"user":`...)
	b = appendNullableString(b, t.User, t.User != "")
	b = append(b, `,"state":`...)
	b = appendString(b, string(t.State))
	b = append(b, `,"memory_in_mb":`...)
	b = strconv.AppendInt(b, t.MemoryInMB, 10)
	b = append(b, `,"disk_in_mb":`...)
	if t.DiskInMB == nil {
		b = append(b, "null"...)
	} else {
		b = strconv.AppendInt(b, *t.DiskInMB, 10)
	}
	b = append(b, `,"log_rate_limit_in_bytes_per_second":`...)
	b = strconv.AppendInt(b, t.LogRateLimitInBytesPerSecond, 10)
	b = append(b, `,"result":{"failure_reason":`...)
	b = appendNullableString(b, t.FailureReason, t.State == tasklife.StateFailed)
	b = append(b, `},"droplet_guid":`...)
	b = appendString(b, t.DropletGUID)
	b = append(b, `,"relationships":{"app":{"data":{"guid":`...)
	b = appendString(b, t.AppGUID)
	b = append(b, `}}},"metadata":{"labels":`...)
	b = appendMap(b, t.Labels)
	b = append(b, `,"annotations":`...)
	b = appendMap(b, t.Annotations)
	b = append(b, `},"links":{"self":{"href":`...)
	b = appendLink(b, base, "/v3/tasks/", t.GUID, "")
	b = append(b, `},"app":{"href":`...)
	b = appendLink(b, base, "/v3/apps/", t.AppGUID, "")
	b = append(b, `},"cancel":{"href":`...)
	b = appendLink(b, base, "/v3/tasks/", t.GUID, "/actions/cancel")
	b = append(b, `,"method":"POST"}`...)
	// A task without a droplet has nothing to link to; Cloud Controller
	// never has such a task.
	if t.DropletGUID != "" {
		b = append(b, `,"droplet":{"href":`...)
		b = appendLink(b, base, "/v3/droplets/", t.DropletGUID, "")
		b = append(b, '}')
	}
	return append(b, "}}"...)
}

// appendTime appends Cloud Controller's timestamp, 2016-05-04T17:00:41Z:
// UTC, whole seconds (truncated), "Z". It is time.Format's
// "2006-01-02T15:04:05Z" without the layout parsing, which cost a sixth of
// the cancel route.
func appendTime(b []byte, t time.Time) []byte {
	t = t.UTC()
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return t.AppendFormat(b, "2006-01-02T15:04:05Z")
	}
	hour, minute, sec := t.Clock()
	b = append(b, byte('0'+year/1000), byte('0'+year/100%10), byte('0'+year/10%10), byte('0'+year%10), '-')
	b = append2(b, int(month), '-')
	b = append2(b, day, 'T')
	b = append2(b, hour, ':')
	b = append2(b, minute, ':')
	return append2(b, sec, 'Z')
}

// append2 appends n as two digits, then sep.
func append2(b []byte, n int, sep byte) []byte {
	return append(b, byte('0'+n/10), byte('0'+n%10), sep)
}

func appendNullableString(b []byte, s string, present bool) []byte {
	if !present {
		return append(b, "null"...)
	}
	return appendString(b, s)
}

// appendMap appends m as a JSON object with sorted keys; nil is {}.
func appendMap(b []byte, m map[string]string) []byte {
	if len(m) == 0 {
		return append(b, "{}"...)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, k)
		b = append(b, ':')
		b = appendString(b, m[k])
	}
	return append(b, '}')
}

func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	b = appendEscaped(b, s)
	return append(b, '"')
}

const hexDigits = "0123456789abcdef"

// appendEscaped appends s as the inside of a JSON string. Like
// encoding/json, it replaces invalid UTF-8 with U+FFFD and escapes U+2028
// and U+2029, which some JavaScript parsers take for line ends.
func appendEscaped(b []byte, s string) []byte {
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	return append(b, s[start:]...)
}

// contentTypeJSON is shared by every response; net/http only reads it.
var contentTypeJSON = []string{"application/json"}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h["Content-Type"] = contentTypeJSON
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.WriteHeader(status)
	_, _ = w.Write(body) // the client went away; nothing left to tell it
}

// bufPool recycles response buffers; a task is about 1 KiB of JSON.
var bufPool = sync.Pool{New: func() any {
	b := make([]byte, 0, 2048)
	return &b
}}

// maxPooledBuf keeps one huge list from pinning its buffer forever.
const maxPooledBuf = 64 << 10

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(b *[]byte) {
	if cap(*b) > maxPooledBuf {
		return
	}
	*b = (*b)[:0]
	bufPool.Put(b)
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/httpadapter"
)

// maxBodyBytes is the largest create body taskd reads.
const maxBodyBytes = 1 << 20

// errTooLarge answers a body over maxBodyBytes. Cloud Controller leaves this
// to its web server, which answers 413 without a CF envelope; taskd keeps the
// envelope so clients can parse every error the same way.
var errTooLarge = &httpadapter.Error{
	Status: http.StatusRequestEntityTooLarge, Title: "CF-RequestTooLarge", Code: 1003,
	Detail: fmt.Sprintf("Request body is larger than %d bytes", maxBodyBytes),
}

// errInvalidBody is Cloud Controller's answer to a body that is not a JSON
// object.
var errInvalidBody = httpadapter.MessageParseError("invalid request body")

// errNotUTF8 refuses a body that is not UTF-8 (JSON must be, RFC 8259) or
// that escapes half a surrogate pair.
var errNotUTF8 = httpadapter.MessageParseError("invalid request body: not UTF-8")

// createRequest is a decoded create body. Cloud Controller also accepts
// template, droplet_guid and user; taskd has no droplets or templates and
// treats them as unknown.
type createRequest struct {
	Command     string
	Name        string
	MemoryInMB  int64
	DiskInMB    *int64
	LogRate     *int64 // nil: taskd's -log-rate-limit
	Labels      map[string]string
	Annotations map[string]string
}

// creator stores a new task and schedules it; the executor is one.
type creator interface {
	Create(ctx context.Context, nt tasklife.NewTask) (*tasklife.Task, error)
}

// readCreateRequest reads and validates the body of a create request.
func readCreateRequest(w http.ResponseWriter, r *http.Request) (*createRequest, error) {
	if r.ContentLength > maxBodyBytes {
		return nil, errTooLarge
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, errTooLarge
		}
		return nil, errInvalidBody
	}
	return parseCreateRequest(body)
}

// parseCreateRequest decodes a create body the way Cloud Controller judges
// it: not a JSON object is a parse error; unknown keys, wrong types and a
// missing command are 422s.
func parseCreateRequest(body []byte) (*createRequest, error) {
	var req createRequest
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, httpadapter.UnprocessableEntity("No command or template provided")
	}
	if !utf8.Valid(body) || hasLoneSurrogate(body) {
		// encoding/json would turn such bytes into U+FFFD, and what ran
		// would not be what was sent.
		return nil, errNotUTF8
	}
	fields, err := objectFields(body)
	if err != nil {
		return nil, errInvalidBody
	}
	if err := refuseDuplicates("", fields); err != nil {
		return nil, err
	}
	var unknown []string
	for _, f := range fields {
		var err error
		switch f.key {
		case "command":
			err = decodeString(f.value, "Command", &req.Command)
		case "name":
			err = decodeString(f.value, "Name", &req.Name)
		case "memory_in_mb":
			err = decodeInt(f.value, "Memory in mb", &req.MemoryInMB)
		case "disk_in_mb":
			var d int64
			if !isNull(f.value) {
				err = decodeInt(f.value, "Disk in mb", &d)
				req.DiskInMB = &d
			}
		case "log_rate_limit_in_bytes_per_second":
			var n int64
			if !isNull(f.value) {
				err = decodeInt(f.value, "Log rate limit in bytes per second", &n)
				req.LogRate = &n
			}
		case "metadata":
			err = decodeMetadata(f.value, &req)
		default:
			unknown = append(unknown, f.key)
		}
		if err != nil {
			return nil, err
		}
	}
	if len(unknown) > 0 {
		return nil, unknownFields("", unknown)
	}
	if req.Command == "" {
		return nil, httpadapter.UnprocessableEntity("No command or template provided")
	}
	return &req, nil
}

// refuseDuplicates refuses an object that names a key twice: encoding/json
// would keep the last, so {"command":"a","command":"b"} would run b while
// a reader of the body (or a proxy that checked it) saw a.
func refuseDuplicates(where string, fields []field) error {
	seen := make(map[string]bool, len(fields))
	var dup []string
	for _, f := range fields {
		if seen[f.key] && !slices.Contains(dup, f.key) {
			dup = append(dup, f.key)
		}
		seen[f.key] = true
	}
	if len(dup) > 0 {
		return httpadapter.UnprocessableEntity(fmt.Sprintf("Duplicate field(s)%s: '%s'", where, strings.Join(dup, "', '")))
	}
	return nil
}

func unknownFields(where string, keys []string) error {
	return httpadapter.UnprocessableEntity(fmt.Sprintf("Unknown field(s)%s: '%s'", where, strings.Join(keys, "', '")))
}

func decodeMetadata(v json.RawMessage, req *createRequest) error {
	if isNull(v) {
		return nil
	}
	fields, err := objectFields(v)
	if err != nil {
		return httpadapter.UnprocessableEntity("Metadata must be an object")
	}
	if err := refuseDuplicates(" in metadata", fields); err != nil {
		return err
	}
	var unknown []string
	for _, f := range fields {
		switch f.key {
		case "labels":
			err = decodeStringMap(f.value, "Labels", &req.Labels)
		case "annotations":
			err = decodeStringMap(f.value, "Annotations", &req.Annotations)
		default:
			unknown = append(unknown, f.key)
		}
		if err != nil {
			return err
		}
	}
	if len(unknown) > 0 {
		return unknownFields(" in metadata", unknown)
	}
	for k := range req.Annotations {
		if strings.HasPrefix(k, reservedPrefix) {
			// taskd's own annotations say which instance runs the task;
			// a client that could set them could hand it to another.
			return httpadapter.UnprocessableEntity(fmt.Sprintf("Metadata annotations key error: prefix '%s' is reserved", strings.TrimSuffix(reservedPrefix, "/")))
		}
	}
	return nil
}

// field is one key of a JSON object with its raw value.
type field struct {
	key   string
	value json.RawMessage
}

// objectFields splits a JSON object into its fields, in the order they
// appear, so that unknown keys are named as the client wrote them. A null
// document counts as the empty object.
func objectFields(data []byte) ([]field, error) {
	if isNull(data) {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if tok != json.Delim('{') {
		return nil, errors.New("not an object")
	}
	var fields []field
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		var f field
		f.key, _ = tok.(string) // Inside an object, Token yields only string keys.
		if err := dec.Decode(&f.value); err != nil {
			return nil, err
		}
		fields = append(fields, f)
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the object")
	}
	return fields, nil
}

// hasLoneSurrogate reports whether a JSON text escapes half of a UTF-16
// surrogate pair without the other (\ud800 alone), which encoding/json
// decodes as U+FFFD. A backslash only appears inside strings in valid JSON,
// so the whole text can be scanned; invalid JSON is left to the decoder.
func hasLoneSurrogate(b []byte) bool {
	for i := 0; i < len(b); i++ {
		if b[i] != '\\' || i+1 >= len(b) {
			continue
		}
		if b[i+1] != 'u' {
			i++ // an escaped character, possibly a backslash
			continue
		}
		r, ok := hex4(b[i+2:])
		i += 5
		switch {
		case !ok || !utf16.IsSurrogate(r):
		case r >= 0xdc00: // a low half first
			return true
		default: // a high half: the low one must follow
			if i+6 >= len(b) || b[i+1] != '\\' || b[i+2] != 'u' {
				return true
			}
			lo, ok := hex4(b[i+3:])
			if !ok || lo < 0xdc00 || lo > 0xdfff {
				return true
			}
			i += 6
		}
	}
	return false
}

// hex4 decodes the four hex digits b starts with.
func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	n, err := strconv.ParseUint(string(b[:4]), 16, 32)
	return rune(n), err == nil
}

func isNull(v json.RawMessage) bool { return string(bytes.TrimSpace(v)) == "null" }

func decodeString(v json.RawMessage, name string, dst *string) error {
	if isNull(v) {
		return nil
	}
	if err := json.Unmarshal(v, dst); err != nil {
		return httpadapter.UnprocessableEntity(name + " must be a string")
	}
	return nil
}

func decodeInt(v json.RawMessage, name string, dst *int64) error {
	if isNull(v) {
		return nil
	}
	n, err := strconv.ParseInt(string(bytes.TrimSpace(v)), 10, 64)
	if err != nil {
		return httpadapter.UnprocessableEntity(name + " must be an integer")
	}
	*dst = n
	return nil
}

func decodeStringMap(v json.RawMessage, name string, dst *map[string]string) error {
	if isNull(v) {
		return nil
	}
	notStrings := httpadapter.UnprocessableEntity(name + " must be an object of strings")
	fields, err := objectFields(v)
	if err != nil {
		return notStrings
	}
	if err := refuseDuplicates(" in "+strings.ToLower(name), fields); err != nil {
		return err
	}
	m := make(map[string]string, len(fields))
	for _, f := range fields {
		var s string
		if json.Unmarshal(f.value, &s) != nil {
			return notStrings
		}
		m[f.key] = s
	}
	*dst = m
	return nil
}

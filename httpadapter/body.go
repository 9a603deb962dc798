package httpadapter

import (
	"bytes"
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
)

// MaxBodyBytes is the largest request body the adapter reads.
const MaxBodyBytes = 1 << 20

// errTooLarge answers a body over MaxBodyBytes. Cloud Controller leaves
// this to its web server, which answers 413 without a CF envelope; the
// adapter keeps the envelope so clients can parse every error the same way.
var errTooLarge = &Error{
	Status: http.StatusRequestEntityTooLarge, Title: "CF-RequestTooLarge", Code: 1003,
	Detail: fmt.Sprintf("Request body is larger than %d bytes", MaxBodyBytes),
}

// errInvalidBody is Cloud Controller's answer to a body that is not a JSON
// object.
var errInvalidBody = MessageParseError("invalid request body")

// errNotUTF8 refuses a body that is not UTF-8 (JSON must be, RFC 8259) or
// that escapes half a surrogate pair.
var errNotUTF8 = MessageParseError("invalid request body: not UTF-8")

// readObject reads r's body and splits it into its fields. An empty body
// is the empty object. Duplicate keys are refused: encoding/json would keep
// the last, so {"command":"a","command":"b"} would run b while a reader of
// the body (or a proxy that checked it) saw a.
func readObject(w http.ResponseWriter, r *http.Request) ([]field, error) {
	if r.ContentLength > MaxBodyBytes {
		return nil, errTooLarge
	}
	if r.Body == nil { // a server's request always has one; a test's may not
		return nil, nil
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, errTooLarge
		}
		return nil, errInvalidBody
	}
	return parseObject(body)
}

// parseObject is readObject on a body already read.
func parseObject(body []byte) ([]field, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, nil
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
	return fields, nil
}

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
		return UnprocessableEntity(fmt.Sprintf("Duplicate field(s)%s: '%s'", where, strings.Join(dup, "', '")))
	}
	return nil
}

// unknownFields is CC's NoAdditionalKeysValidator.
func unknownFields(where string, keys []string) error {
	return UnprocessableEntity(fmt.Sprintf("Unknown field(s)%s: '%s'", where, strings.Join(keys, "', '")))
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
		return UnprocessableEntity(name + " must be a string")
	}
	return nil
}

func decodeInt(v json.RawMessage, name string, dst *int64) error {
	if isNull(v) {
		return nil
	}
	n, err := strconv.ParseInt(string(bytes.TrimSpace(v)), 10, 64)
	if err != nil {
		return UnprocessableEntity(name + " must be an integer")
	}
	*dst = n
	return nil
}

package tasklife

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// LabelOp is the operator of a label selector requirement.
type LabelOp string

// The operators of Cloud Foundry's label_selector.
const (
	LabelIn        LabelOp = "in"      // key in (a,b): the label is one of the values
	LabelNotIn     LabelOp = "notin"   // key notin (a,b): absent, or none of the values
	LabelEqual     LabelOp = "="       // key=v or key==v
	LabelNotEqual  LabelOp = "!="      // key!=v: absent, or another value
	LabelExists    LabelOp = "exists"  // key
	LabelNotExists LabelOp = "!exists" // !key
)

// LabelRequirement is one requirement of a label selector; a selector is a
// list of them, all of which must hold.
type LabelRequirement struct {
	Key    string
	Op     LabelOp
	Values []string // one for = and !=, one or more for in and notin
}

// Matches reports whether labels satisfy r.
func (r LabelRequirement) Matches(labels map[string]string) bool {
	v, ok := labels[r.Key]
	switch r.Op {
	case LabelExists:
		return ok
	case LabelNotExists:
		return !ok
	case LabelEqual, LabelIn:
		return ok && slices.Contains(r.Values, v)
	case LabelNotEqual, LabelNotIn:
		return !ok || !slices.Contains(r.Values, v)
	}
	return false
}

// Bounds of a selector. CC bounds the requirements (MAX_REQUIREMENTS in
// LabelSelectorRequirementValidator); the length bound is this project's,
// so that a query string cannot make the parser or the SQL large.
const (
	MaxLabelRequirements  = 50
	MaxLabelSelectorBytes = 4096
)

// selectorToken is Cloud Controller's LabelSelectorLexer, one token type a
// group, tried in its order.
var selectorToken = regexp.MustCompile(`(,)|(\()|(\))|(\s+)|(==?)|(!=)|(!)|([-_.\w]+(?:/[-_.\w]+)?)|(.)`)

const (
	tokComma = iota + 1
	tokOpen
	tokClose
	tokSpace
	tokEqual
	tokNotEqual
	tokNot
	tokWord
	tokError
	tokEOF
)

type token struct {
	kind int
	text string
	at   int
}

// ParseLabelSelector parses Cloud Foundry's label_selector grammar, with
// Cloud Controller's parser (lib/cloud_controller/label_selector) and its
// error messages: "key=value", "key==value", "key!=value", "key in
// (a,b)", "key notin (a,b)", "key", "!key", separated by commas. The
// requirements it returns still need ListQuery.Normalize's checks of keys
// and values. Its errors are *InputError for the field "label_selector".
func ParseLabelSelector(s string) ([]LabelRequirement, error) {
	fail := func(msg string) ([]LabelRequirement, error) {
		return nil, &InputError{Field: "label_selector", Reason: msg}
	}
	if s == "" {
		return fail("empty label selector not allowed")
	}
	if len(s) > MaxLabelSelectorBytes {
		return fail(fmt.Sprintf("label_selector is too long (maximum is %d characters)", MaxLabelSelectorBytes))
	}
	var toks []token
	at := 0
	for _, m := range selectorToken.FindAllStringSubmatchIndex(s, -1) {
		for g := 1; g <= tokError; g++ {
			if m[2*g] >= 0 {
				t := token{kind: g, text: s[m[2*g]:m[2*g+1]], at: at}
				at += len(t.text)
				if t.kind == tokError {
					return fail("disallowed character(s), got " + show(s, t))
				}
				if t.kind != tokSpace {
					toks = append(toks, t)
				}
				break
			}
		}
	}
	toks = append(toks, token{kind: tokEOF, at: len(s)})

	var (
		out []LabelRequirement
		cur LabelRequirement
	)
	state := "at_start"
	expect := func(what string, t token) ([]LabelRequirement, error) {
		return fail("expecting " + what + ", got " + show(s, t))
	}
	for _, t := range toks {
		switch state {
		case "at_start":
			switch t.kind {
			case tokWord:
				cur, state = LabelRequirement{Key: t.text}, "has_key"
			case tokNot:
				state = "has_not_op"
			case tokNotEqual:
				return expect("a key or '!' not followed by '='", t)
			default:
				return expect("a key or '!'", t)
			}
		case "has_not_op":
			if t.kind != tokWord {
				return expect("a key", t)
			}
			out = append(out, LabelRequirement{Key: t.text, Op: LabelNotExists})
			state = "expecting_comma_or_eof"
		case "has_key":
			switch {
			case t.kind == tokEqual:
				cur.Op, state = LabelEqual, "expect_value"
			case t.kind == tokNotEqual:
				cur.Op, state = LabelNotEqual, "expect_value"
			case t.kind == tokWord && (t.text == "in" || t.text == "notin"):
				cur.Op, state = LabelOp(t.text), "expecting_open_paren"
			case t.kind == tokWord:
				return fail("expecting a ',', operator, or end, got " + show(s, t))
			case t.kind == tokComma || t.kind == tokEOF:
				cur.Op = LabelExists
				out = append(out, cur)
				state = "at_start"
				if t.kind == tokEOF {
					return out, nil
				}
			default:
				return expect("a ',', operator, or end", t)
			}
		case "expect_value":
			if t.kind != tokWord {
				return expect("a value", t)
			}
			cur.Values = []string{t.text}
			out = append(out, cur)
			state = "expecting_comma_or_eof"
		case "expecting_open_paren":
			if t.kind != tokOpen {
				return expect("a '('", t)
			}
			state = "expecting_set_value"
		case "expecting_set_value":
			if t.kind != tokWord {
				return expect("a value", t)
			}
			cur.Values = append(cur.Values, t.text)
			state = "expecting_comma_or_close_paren"
		case "expecting_comma_or_close_paren":
			switch t.kind {
			case tokComma:
				state = "expecting_set_value"
			case tokClose:
				out = append(out, cur)
				state = "expecting_comma_or_eof"
			default:
				return expect("a ',' or ')'", t)
			}
		case "expecting_comma_or_eof":
			switch t.kind {
			case tokComma:
				state = "at_start"
			case tokEOF:
				return out, nil
			default:
				return expect("a ',' or end", t)
			}
		}
	}
	return fail("Expecting completion of the selector, hit the end")
}

// show is LabelSelectorParseError#show_token_state: the input around the
// token, the token marked <<so>>, each side cut to 30 characters.
func show(input string, t token) string {
	var b strings.Builder
	b.WriteByte('"')
	if t.at > 0 {
		start := input[:t.at]
		if r := []rune(start); len(r) > 30 {
			start = "..." + string(r[len(r)-27:])
		}
		b.WriteString(start)
	}
	b.WriteString("<<" + t.text + ">>")
	if end := t.at + len(t.text); end < len(input) {
		rest := input[end:]
		if r := []rune(rest); len(r) > 30 {
			rest = string(r[:28]) + "..."
		}
		b.WriteString(rest)
	}
	b.WriteByte('"')
	return b.String()
}

// checkSelector is CC's LabelSelectorRequirementValidator: a bound on the
// requirements, then each key and value by the metadata rules.
func checkSelector(reqs []LabelRequirement) error {
	fail := func(msg string) error { return &InputError{Field: "label_selector", Reason: msg} }
	if len(reqs) > MaxLabelRequirements {
		return fail(fmt.Sprintf("Too many label_selector requirements (maximum is %d)", MaxLabelRequirements))
	}
	for _, r := range reqs {
		if msg := metadataKeyError(r.Key); msg != "" {
			return fail(msg)
		}
		for _, v := range r.Values {
			if msg := labelValueError(v); msg != "" {
				return fail(msg)
			}
		}
		switch r.Op {
		case LabelExists, LabelNotExists:
		case LabelEqual, LabelNotEqual, LabelIn, LabelNotIn:
			if len(r.Values) == 0 || (len(r.Values) > 1 && (r.Op == LabelEqual || r.Op == LabelNotEqual)) {
				return fail("Invalid label_selector value")
			}
		default:
			return fail("Invalid label_selector value")
		}
	}
	return nil
}

package tasklife

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"
)

// Cloud Controller's rules for labels and annotations, from
// app/messages/metadata_validator_helper.rb and
// app/messages/validators/metadata_validator.rb, with its messages.
const (
	maxMetadataKeyRunes    = 63   // MAX_METADATA_KEY_SIZE, also a label value's limit
	maxMetadataPrefixRunes = 253  // MAX_METADATA_PREFIX_SIZE
	maxAnnotationRunes     = 5000 // MAX_ANNOTATION_VALUE_SIZE
	reservedPrefix         = "cloudfoundry.org"
)

var (
	// INVALID_CHAR_REGEX: Ruby's \w is ASCII, like RE2's.
	invalidMetadataChar = regexp.MustCompile(`[^\w\-.]`)
	// ALPHANUMERIC_START_END_REGEX.
	alnumStartEnd = regexp.MustCompile(`^[a-zA-Z\d](?:.*[a-zA-Z\d])?$`)
	// CloudController::DomainDecorator::DOMAIN_REGEX.
	dnsPrefix = regexp.MustCompile(`(?i)^(([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])\.)*([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])$`)
)

// firstRunes is Ruby's s[0...n].
func firstRunes(s string, n int) string {
	for i := range s {
		if n == 0 {
			return s[:i]
		}
		n--
	}
	return s
}

func blank(s string) bool { return strings.TrimSpace(s) == "" } // Ruby's blank?

// metadataKeyError is MetadataValidatorHelper#key_error: "" when key is
// valid, otherwise CC's message for the first rule it breaks.
func metadataKeyError(key string) string {
	if blank(key) {
		return "key cannot be empty string"
	}
	if strings.Count(key, "/") > 1 {
		return "key has more than one '/'"
	}
	prefix, name, hasPrefix := strings.Cut(key, "/")
	if !hasPrefix {
		prefix, name = "", key
	}
	switch {
	case hasPrefix && !dnsPrefix.MatchString(prefix):
		return fmt.Sprintf("prefix '%s' must be in valid dns format", prefix)
	case hasPrefix && utf8.RuneCountInString(prefix) > maxMetadataPrefixRunes:
		return fmt.Sprintf("prefix '%s...' is greater than %d characters", firstRunes(prefix, 8), maxMetadataPrefixRunes)
	case hasPrefix && strings.EqualFold(prefix, reservedPrefix):
		return "prefix 'cloudfoundry.org' is reserved"
	case blank(name):
		return "key cannot be empty string"
	}
	return labelTextError(name)
}

// labelTextError is the rules a key's name and a label's value share.
func labelTextError(s string) string {
	switch {
	case invalidMetadataChar.MatchString(s):
		return fmt.Sprintf("'%s' contains invalid characters", s)
	case !alnumStartEnd.MatchString(s):
		return fmt.Sprintf("'%s' starts or ends with invalid characters", s)
	case utf8.RuneCountInString(s) > maxMetadataKeyRunes:
		return fmt.Sprintf("'%s...' is greater than %d characters", firstRunes(s, 8), maxMetadataKeyRunes)
	}
	return ""
}

// labelValueError is MetadataValidatorHelper#value_error.
func labelValueError(v string) string {
	if v == "" {
		return ""
	}
	return labelTextError(v)
}

// checkMetadata applies Cloud Controller's MetadataValidator to labels and
// annotations (a nil value deletes a key in a patch). Every problem is an
// *InputError for the field "metadata" with CC's reason ("label key error:
// 'a b' contains invalid characters"), joined in key order (CC reports them
// in the body's order, which a Go map does not keep).
func checkMetadata(labels, annotations map[string]*string) error {
	var problems []error
	add := func(reason string) {
		problems = append(problems, &InputError{Field: "metadata", Reason: reason})
	}
	for _, k := range sortedKeys(labels) {
		if msg := metadataKeyError(k); msg != "" {
			add("label key error: " + msg)
		}
		if v := labels[k]; v != nil {
			if msg := labelValueError(*v); msg != "" {
				add("label value error: " + msg)
			}
		}
	}
	for _, k := range sortedKeys(annotations) {
		v := annotations[k]
		// CC checks an annotation's key only when it has a value: a delete
		// of any key is allowed.
		if v != nil && !blank(*v) {
			if msg := metadataKeyError(k); msg != "" {
				add("annotation key error: " + msg)
			}
		}
		if v != nil && utf8.RuneCountInString(*v) > maxAnnotationRunes {
			add(fmt.Sprintf("annotation value error: '%s...' is greater than %d characters", firstRunes(*v, 8), maxAnnotationRunes))
		}
	}
	for _, m := range []map[string]*string{labels, annotations} {
		for k, v := range m {
			if err := checkText("metadata", k); err != nil {
				return err
			}
			if v != nil {
				if err := checkText("metadata", *v); err != nil {
					return err
				}
			}
		}
	}
	return errors.Join(problems...)
}

// pointers views a plain map as a patch that sets every key.
func pointers(m map[string]string) map[string]*string {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]*string, len(m))
	for k, v := range m {
		out[k] = &v
	}
	return out
}

// sortedKeys returns m's keys in order, in one allocation (none when m is
// empty): slices.Sorted(maps.Keys(m)) allocates the iterator and grows the
// slice, and each create checks its metadata twice (the adapter, then the
// Service).
func sortedKeys(m map[string]*string) []string {
	if len(m) == 0 {
		return nil
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// CheckMetadata reports what Cloud Foundry would refuse in p, as
// Service.UpdateMetadata does, without a task: for an adapter that must
// answer a bad body before it looks the task up (Cloud Controller's order).
func CheckMetadata(p MetadataPatch) error { return checkMetadata(p.Labels, p.Annotations) }

package httpadapter

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/tasklife/tasklife"
)

// decodeMetadata reads a "metadata" value as Cloud Controller's
// MetadataValidator shapes it: an object with "labels" and "annotations",
// each an object of strings or nulls (null deletes, in a PATCH). The key
// and value rules are the Service's (tasklife's metadata rules, CC's
// messages).
func decodeMetadata(v json.RawMessage) (tasklife.MetadataPatch, error) {
	var patch tasklife.MetadataPatch
	if isNull(v) {
		return patch, nil
	}
	fields, err := objectFields(v)
	if err != nil {
		return patch, UnprocessableEntity("Metadata must be an object")
	}
	if err := refuseDuplicates(" in metadata", fields); err != nil {
		return patch, err
	}
	var unknown []string
	for _, f := range fields {
		switch f.key {
		case "labels":
			patch.Labels, err = decodeMetadataMap(f.value, "labels")
		case "annotations":
			patch.Annotations, err = decodeMetadataMap(f.value, "annotations")
		default:
			unknown = append(unknown, "'"+f.key+"'")
		}
		if err != nil {
			return patch, err
		}
	}
	if len(unknown) > 0 {
		return patch, UnprocessableEntity("Metadata has unexpected field(s): " + strings.Join(unknown, " "))
	}
	return patch, nil
}

func decodeMetadataMap(v json.RawMessage, name string) (map[string]*string, error) {
	if isNull(v) {
		return nil, nil
	}
	notObject := UnprocessableEntity("Metadata '" + name + "' is not an object")
	fields, err := objectFields(v)
	if err != nil {
		return nil, notObject
	}
	if err := refuseDuplicates(" in "+name, fields); err != nil {
		return nil, err
	}
	m := make(map[string]*string, len(fields))
	for _, f := range fields {
		if isNull(f.value) {
			m[f.key] = nil
			continue
		}
		var s string
		if json.Unmarshal(f.value, &s) != nil {
			// CC would store the value's to_s; a client that sends a number
			// most likely meant a string, and should say so.
			return nil, UnprocessableEntity("Metadata " + strings.TrimSuffix(name, "s") + " value error: '" + f.key + "' must be a string or null")
		}
		m[f.key] = &s
	}
	return m, nil
}

// update serves PATCH /v3/tasks/{guid} in Cloud Controller's order
// (TasksController#update): authenticate (401), may write at all (403),
// the body (400, 422), the task (404, also when the caller may not see
// it), may update it (403), then the write.
func (h *Handler) update(w http.ResponseWriter, r *http.Request) {
	p, ok := h.AuthenticateToWrite(w, r)
	if !ok {
		return
	}
	fields, err := readObject(w, r)
	if err != nil {
		h.WriteError(w, r, err)
		return
	}
	var patch tasklife.MetadataPatch
	var unknown []string
	for _, f := range fields {
		if f.key != "metadata" {
			unknown = append(unknown, f.key)
			continue
		}
		if patch, err = decodeMetadata(f.value); err != nil {
			h.WriteError(w, r, err)
			return
		}
	}
	if len(unknown) > 0 {
		h.WriteError(w, r, unknownFields("", unknown))
		return
	}
	if err := tasklife.CheckMetadata(patch); err != nil {
		h.WriteError(w, r, err)
		return
	}
	if _, ok := h.load(w, r, p, PermReadTask, PermUpdateTask); !ok {
		return
	}
	t, err := h.svc.UpdateMetadata(r.Context(), r.PathValue("guid"), patch)
	if err != nil {
		h.WriteError(w, r, err)
		return
	}
	h.writeReadable(w, r, p, http.StatusOK, t)
}

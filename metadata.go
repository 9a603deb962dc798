package tasklife

import (
	"context"
	"fmt"
	"maps"
)

// MetadataPatch changes a task's labels and annotations, as Cloud
// Foundry's PATCH does: a key with a value is set, a key with nil is
// deleted, and keys the patch does not name keep their values.
type MetadataPatch struct {
	Labels      map[string]*string
	Annotations map[string]*string
}

// Apply returns labels and annotations with the patch applied, as new maps
// (nil when empty), and whether anything changed. The inputs are not
// modified. Stores use it to apply a patch under their guard.
func (p MetadataPatch) Apply(labels, annotations map[string]string) (map[string]string, map[string]string, bool) {
	l, lc := patchMap(labels, p.Labels)
	a, ac := patchMap(annotations, p.Annotations)
	return l, a, lc || ac
}

func patchMap(m map[string]string, patch map[string]*string) (map[string]string, bool) {
	out := maps.Clone(m)
	changed := false
	for k, v := range patch {
		old, had := out[k]
		switch {
		case v == nil && had:
			delete(out, k)
			changed = true
		case v != nil && (!had || old != *v):
			if out == nil {
				out = make(map[string]string, len(patch))
			}
			out[k] = *v
			changed = true
		}
	}
	if len(out) == 0 {
		out = nil
	}
	return out, changed
}

// UpdateMetadata applies patch to the task's labels and annotations as one
// guarded write (see Store.UpdateMetadata) and returns the task. Keys and
// values must follow Cloud Foundry's rules; every broken rule is an
// *InputError with CC's wording, joined with errors.Join, and nothing is
// written. A patch that changes nothing writes nothing.
//
// A metadata change is not a lifecycle transition: observers do not hear
// of it, and pgstore publishes no notification for it (a Wait in this
// Service is woken; one in another process sees the new version at its
// next recheck). Runners and
// executors react to state; labels are for people and selectors.
func (s *Service) UpdateMetadata(ctx context.Context, guid string, patch MetadataPatch) (*Task, error) {
	if guid == "" {
		return nil, fmt.Errorf("%w: empty guid", ErrNotFound)
	}
	if err := checkMetadata(patch.Labels, patch.Annotations); err != nil {
		return nil, err
	}
	t, err := s.store.UpdateMetadata(ctx, guid, MetadataPatch{
		Labels: maps.Clone(patch.Labels), Annotations: maps.Clone(patch.Annotations),
	})
	if err == nil {
		s.waits.wake(guid) // a new version, for a Wait after a version
	}
	return t, err
}

package memstore

import (
	"maps"
	"time"

	"github.com/tasklife/tasklife"
	"github.com/tasklife/tasklife/internal/lifecycle"
)

// record is how the store keeps one task: compact, and mostly free of
// pointers, because every pointer in a million records is work for the
// garbage collector on every cycle. The fields that never change after
// create share one string (blob); the Task handed out slices it, which
// costs no allocation and cannot alias anything mutable.
type record struct {
	fields
	heapIndex int // its place in the pending queue, -1 when out; guarded by Store.pendMu
}

// fields are what a record's shard lock guards: a list copies them.
type fields struct {
	blob        string
	ends        [numText]uint32 // end offset of each text field in blob
	failure     string
	labels      map[string]string
	annotations map[string]string
	seq         int64
	memory      int64
	disk        int64
	logRate     int64
	version     int64
	created     int64 // unix microseconds, UTC
	updated     int64
	order       uint64 // creation order, for ties in list ordering
	owner       string // who claimed it; see lease.go
	lease       int64  // unix microseconds the lease runs out; 0: none
	canceling   int64  // unix microseconds it entered CANCELING
	endedAt     int64  // unix microseconds it ended; see retention.go
	state       uint8  // index into states
	hasDisk     bool
	// The list indexes' view of the record (index.go); guarded by its
	// shard's lock and the index's.
	dirty          bool  // written since the indexes caught up with it
	indexed        bool  // in the indexes, under the two keys below
	gone           bool  // deleted: the indexes let go of it when they catch up
	indexedState   uint8 // its state when the indexes last caught up
	indexedUpdated int64 // its updated_at then
	// indexedLabels are its labels then (a map no write changes: a patch
	// replaces it).
	indexedLabels map[string]string
}

// The text fields in blob, in order.
const (
	textGUID = iota
	textApp
	textName
	textCommand
	textUser
	textDroplet
	numText
)

var states = tasklife.States()

func stateIndex(s tasklife.State) uint8 {
	i := lifecycle.StateIndex(string(s))
	if i < 0 {
		panic("memstore: unknown state " + string(s))
	}
	return uint8(i)
}

// cloneMap copies labels and annotations in and out; an empty map is nil.
func cloneMap(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return maps.Clone(m)
}

// newRecord builds a PENDING record from t with the store-assigned fields.
func newRecord(t *tasklife.Task, guid string, seq int64, now int64) *record {
	texts := [numText]string{guid, t.AppGUID, t.Name, t.Command, t.User, t.DropletGUID}
	n := 0
	for _, s := range texts {
		n += len(s)
	}
	buf := make([]byte, 0, n)
	r := &record{heapIndex: -1, fields: fields{
		labels:      cloneMap(t.Labels),
		annotations: cloneMap(t.Annotations),
		seq:         seq,
		memory:      t.MemoryInMB,
		logRate:     t.LogRateLimitInBytesPerSecond,
		version:     1,
		created:     now,
		updated:     now,
		state:       stateIndex(tasklife.StatePending),
	}}
	for i, s := range texts {
		buf = append(buf, s...)
		r.ends[i] = uint32(len(buf))
	}
	r.blob = string(buf)
	if t.DiskInMB != nil {
		r.disk, r.hasDisk = *t.DiskInMB, true
	}
	return r
}

func (r *fields) text(i int) string {
	start := uint32(0)
	if i > 0 {
		start = r.ends[i-1]
	}
	return r.blob[start:r.ends[i]]
}

func (r *fields) guid() string                 { return r.text(textGUID) }
func (r *fields) currentState() tasklife.State { return states[r.state] }

// task returns a caller-owned copy of the record as a Task.
func (r *fields) task() *tasklife.Task {
	t := &tasklife.Task{
		GUID:                         r.text(textGUID),
		AppGUID:                      r.text(textApp),
		SequenceID:                   r.seq,
		Name:                         r.text(textName),
		Command:                      r.text(textCommand),
		User:                         r.text(textUser),
		State:                        states[r.state],
		MemoryInMB:                   r.memory,
		LogRateLimitInBytesPerSecond: r.logRate,
		DropletGUID:                  r.text(textDroplet),
		FailureReason:                r.failure,
		Labels:                       cloneMap(r.labels),
		Annotations:                  cloneMap(r.annotations),
		CreatedAt:                    time.UnixMicro(r.created).UTC(),
		UpdatedAt:                    time.UnixMicro(r.updated).UTC(),
		Version:                      r.version,
		Owner:                        r.owner,
	}
	if r.lease != 0 {
		t.LeaseExpiresAt = time.UnixMicro(r.lease).UTC()
	}
	if r.hasDisk {
		d := r.disk
		t.DiskInMB = &d
	}
	return t
}

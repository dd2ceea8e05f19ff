package record

import (
	"errors"
	"fmt"
	"sort"
)

// Field is one named value of a Record.
type Field struct {
	Name  string
	Value Value
}

// Record is an ordered list of named fields. Field names are unique within a
// record. Records are passed by pointer between chained operators and may be
// reused by their producer after the call returns: an operator that keeps a
// record must Clone it.
type Record struct {
	Fields []Field
	// Time is the record's event time in milliseconds since the Unix epoch,
	// valid when Timed is set (a source with a watermark strategy sets it).
	Time  int64
	Timed bool
}

// Get returns the value of the named field.
func (r *Record) Get(name string) (Value, bool) {
	for i := range r.Fields {
		if r.Fields[i].Name == name {
			return r.Fields[i].Value, true
		}
	}
	return Value{}, false
}

// Set sets the named field, appending it if absent.
func (r *Record) Set(name string, v Value) {
	for i := range r.Fields {
		if r.Fields[i].Name == name {
			r.Fields[i].Value = v
			return
		}
	}
	r.Fields = append(r.Fields, Field{Name: name, Value: v})
}

// Reset empties r, keeping its capacity.
func (r *Record) Reset() {
	r.Fields = r.Fields[:0]
	r.Time, r.Timed = 0, false
}

// Clone returns a copy of r that shares no field slice with it.
func (r *Record) Clone() *Record {
	c := &Record{Fields: make([]Field, len(r.Fields)), Time: r.Time, Timed: r.Timed}
	copy(c.Fields, r.Fields)
	return c
}

// Map returns the record as a map of plain Go values.
func (r *Record) Map() map[string]any {
	m := make(map[string]any, len(r.Fields))
	for _, f := range r.Fields {
		m[f.Name] = f.Value.Any()
	}
	return m
}

// FromMap builds a record from a map; fields are ordered by name so the result
// is deterministic.
func FromMap(m map[string]any) (*Record, error) {
	r := &Record{Fields: make([]Field, 0, len(m))}
	for _, k := range sortedKeys(m) {
		v, err := FromAny(m[k])
		if err != nil {
			return nil, fmt.Errorf("field %q: %w", k, err)
		}
		r.Fields = append(r.Fields, Field{Name: k, Value: v})
	}
	return r, nil
}

// AppendJSON appends r as a JSON object to dst, fields in record order.
func (r *Record) AppendJSON(dst []byte) []byte {
	dst = append(dst, '{')
	for i, f := range r.Fields {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = Str(f.Name).AppendJSON(dst)
		dst = append(dst, ':')
		dst = f.Value.AppendJSON(dst)
	}
	return append(dst, '}')
}

// MarshalJSON implements json.Marshaler.
func (r *Record) MarshalJSON() ([]byte, error) { return r.AppendJSON(nil), nil }

// String renders r as JSON.
func (r *Record) String() string { return string(r.AppendJSON(nil)) }

// Key is a comparable form of a non-list Value, usable as a map key for keyed
// state and for hash partitioning.
type Key struct {
	kind Kind
	s    string
	n    uint64
}

// ErrListKey is returned when a list is used as a key.
var ErrListKey = errors.New("a list cannot be a key")

// KeyOf returns the key form of v.
func KeyOf(v Value) (Key, error) {
	if v.kind == List {
		return Key{}, ErrListKey
	}
	return Key{kind: v.kind, s: v.s, n: v.n}, nil
}

// Value returns the key as a Value.
func (k Key) Value() Value { return Value{kind: k.kind, s: k.s, n: k.n} }

// String renders the key for people.
func (k Key) String() string { return k.Value().String() }

// Hash returns a hash of the key that is stable across processes and
// versions (FNV-1a, then a murmur3 finaliser), so every executor sends a key
// to the same key group.
func (k Key) Hash() uint64 {
	const (
		offset = 14695981039346656037
		prime  = 1099511628211
	)
	h := uint64(offset)
	h ^= uint64(k.kind)
	h *= prime
	switch k.kind {
	case String:
		for i := 0; i < len(k.s); i++ {
			h ^= uint64(k.s[i])
			h *= prime
		}
	default:
		n := k.n
		for i := 0; i < 8; i++ {
			h ^= n & 0xff
			h *= prime
			n >>= 8
		}
	}
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// KeyGroup maps a key hash to one of maxParallelism key groups. Keyed state is
// kept per key group so that it can be redistributed when the parallelism
// changes (as in Flink).
func KeyGroup(hash uint64, maxParallelism int) int {
	return int(hash % uint64(maxParallelism))
}

// SubtaskForKeyGroup returns the subtask (of parallelism p) that owns key group
// kg: key groups are split into p contiguous ranges.
func SubtaskForKeyGroup(kg, maxParallelism, p int) int {
	return kg * p / maxParallelism
}

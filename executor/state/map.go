package state

import (
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/sluicehq/sluice/executor/record"
)

// Map is a map state: per key, a map from field names to values. Get it
// from Backend.Map.
//
// Values are held by pointer so that updating a field never assigns to the
// map, which would replace the owned field name with the caller's (Go
// updates the stored string of an equal key).
type Map struct {
	m map[record.Key]fields
}

// fields is one key's map.
type fields map[string]*record.Value

func newMap() *Map { return &Map{m: map[record.Key]fields{}} }

// Get returns the value of k's field f and whether it is set.
func (s *Map) Get(k record.Key, f string) (record.Value, bool) {
	if p := s.m[k][f]; p != nil {
		return *p, true
	}
	return record.Value{}, false
}

// Put sets k's field f.
func (s *Map) Put(k record.Key, f string, v record.Value) {
	fm := s.m[k]
	if fm == nil {
		fm = make(fields, 1)
		s.m[ownKey(k)] = fm
	}
	if p := fm[f]; p != nil {
		*p = v
		return
	}
	p := new(record.Value)
	*p = v
	fm[strings.Clone(f)] = p
}

// Delete removes k's field f; the key goes when its last field does.
func (s *Map) Delete(k record.Key, f string) {
	fm := s.m[k]
	if fm == nil {
		return
	}
	delete(fm, f)
	if len(fm) == 0 {
		delete(s.m, k)
	}
}

// Clear removes every field of k.
func (s *Map) Clear(k record.Key) { delete(s.m, k) }

// Fields returns the number of fields k has.
func (s *Map) Fields(k record.Key) int { return len(s.m[k]) }

// Entries calls fn for every field of k and its value, in no particular
// order, until fn returns false. fn may Put or Delete the field it is
// given.
func (s *Map) Entries(k record.Key, fn func(f string, v record.Value) bool) {
	for f, p := range s.m[k] {
		if !fn(f, *p) {
			return
		}
	}
}

// Keys calls fn for every key that has a field, in no particular order,
// until fn returns false. fn may change or clear the key it is given.
func (s *Map) Keys(fn func(k record.Key) bool) { s.keys(fn) }

// Len returns the number of keys that have a field.
func (s *Map) Len() int { return len(s.m) }

func (s *Map) keys(fn func(record.Key) bool) {
	for k := range s.m {
		if !fn(k) {
			return
		}
	}
}

func (s *Map) encode(keyGroup func(record.Key) int, bufs [][]byte, counts []int) {
	for k, fm := range s.m {
		g := keyGroup(k)
		b := record.AppendValue(bufs[g], k.Value())
		b = binary.AppendUvarint(b, uint64(len(fm)))
		for f, p := range fm {
			b = binary.AppendUvarint(b, uint64(len(f)))
			b = append(b, f...)
			b = record.AppendValue(b, *p)
		}
		bufs[g] = b
		counts[g]++
	}
}

func (s *Map) reserve(n int) {
	if len(s.m) == 0 {
		s.m = make(map[record.Key]fields, n)
	}
}

func (s *Map) decodeEntry(k record.Key, src []byte) (int, error) {
	n, pos, err := decodeCount(src, 2) // a field takes at least 2 bytes
	if err != nil {
		return 0, fmt.Errorf("field count: %w", err)
	}
	if n == 0 {
		return 0, fmt.Errorf("%w: map entry without fields", ErrCorrupt)
	}
	fm := make(fields, n)
	vals := make([]record.Value, n)
	for range n {
		l, k2 := binary.Uvarint(src[pos:])
		if k2 <= 0 || l > uint64(len(src)-pos-k2) {
			return 0, fmt.Errorf("%w: field name length", ErrCorrupt)
		}
		pos += k2
		f := string(src[pos : pos+int(l)])
		pos += int(l)
		v, k3, err := record.DecodeValue(src[pos:])
		if err != nil {
			return 0, fmt.Errorf("field %q: %w", f, err)
		}
		pos += k3
		i := len(fm) // a duplicate field leaves it: caught below
		vals[i] = v
		fm[f] = &vals[i]
	}
	if len(fm) != n {
		return 0, fmt.Errorf("%w: a field appears twice", ErrCorrupt)
	}
	s.m[k] = fm
	return pos, nil
}

func (s *Map) merge(from keyedState) {
	f := from.(*Map)
	if len(s.m) == 0 {
		s.m = f.m
		return
	}
	for k, src := range f.m {
		fm := s.m[k]
		if fm == nil {
			s.m[k] = src
			continue
		}
		for f, v := range src {
			fm[f] = v
		}
	}
}

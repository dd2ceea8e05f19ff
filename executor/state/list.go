package state

import (
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/sluicehq/sluice/executor/record"
)

// List is a list state: per key, a list of values. Get it from
// Backend.List.
//
// Lists are held by pointer so that updating one never assigns to the map,
// which would replace the owned key with the caller's (Go updates the
// stored string of an equal key).
type List struct {
	m map[record.Key]*[]record.Value
}

func newList() *List { return &List{m: map[record.Key]*[]record.Value{}} }

// Append adds v to the end of k's list.
func (s *List) Append(k record.Key, v record.Value) {
	if p := s.m[k]; p != nil {
		*p = append(*p, v)
		return
	}
	s.m[ownKey(k)] = &[]record.Value{v}
}

// Get returns k's list (nil if it has none). The slice belongs to the
// state: do not modify it, and do not use it after the next change of k.
func (s *List) Get(k record.Key) []record.Value {
	if p := s.m[k]; p != nil {
		return *p
	}
	return nil
}

// Set replaces k's list with a copy of vs; an empty vs clears it.
func (s *List) Set(k record.Key, vs []record.Value) {
	if len(vs) == 0 {
		delete(s.m, k)
		return
	}
	if p := s.m[k]; p != nil {
		*p = slices.Clone(vs)
		return
	}
	l := slices.Clone(vs)
	s.m[ownKey(k)] = &l
}

// Clear removes k's list.
func (s *List) Clear(k record.Key) { delete(s.m, k) }

// Keys calls fn for every key that has a list, in no particular order,
// until fn returns false. fn may change or clear the key it is given.
func (s *List) Keys(fn func(k record.Key) bool) { s.keys(fn) }

// Len returns the number of keys that have a list.
func (s *List) Len() int { return len(s.m) }

func (s *List) keys(fn func(record.Key) bool) {
	for k := range s.m {
		if !fn(k) {
			return
		}
	}
}

func (s *List) encode(keyGroup func(record.Key) int, bufs [][]byte, counts []int) {
	for k, p := range s.m {
		g := keyGroup(k)
		b := record.AppendValue(bufs[g], k.Value())
		b = binary.AppendUvarint(b, uint64(len(*p)))
		for _, v := range *p {
			b = record.AppendValue(b, v)
		}
		bufs[g] = b
		counts[g]++
	}
}

func (s *List) reserve(n int) {
	if len(s.m) == 0 {
		s.m = make(map[record.Key]*[]record.Value, n)
	}
}

func (s *List) decodeEntry(k record.Key, src []byte) (int, error) {
	n, pos, err := decodeCount(src, 1) // a value takes at least 1 byte
	if err != nil {
		return 0, fmt.Errorf("list length: %w", err)
	}
	if n == 0 {
		return 0, fmt.Errorf("%w: empty list entry", ErrCorrupt)
	}
	l := make([]record.Value, n)
	for i := range l {
		v, k2, err := record.DecodeValue(src[pos:])
		if err != nil {
			return 0, fmt.Errorf("element %d: %w", i, err)
		}
		pos += k2
		l[i] = v
	}
	s.m[k] = &l
	return pos, nil
}

func (s *List) merge(from keyedState) {
	f := from.(*List)
	if len(s.m) == 0 {
		s.m = f.m
		return
	}
	for k, l := range f.m {
		s.m[k] = l
	}
}

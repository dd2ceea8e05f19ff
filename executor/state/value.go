package state

import (
	"strings"

	"github.com/sluicehq/sluice/executor/record"
)

// Value is a value state: at most one record.Value per key. Get it from
// Backend.Value.
//
// String keys, the common case, live in a map keyed by the bare string,
// whose hashing and comparison cost half as much as record.Key's; other
// keys live in a map keyed by record.Key. Entries are allocated in slabs.
type Value struct {
	strs  map[string]*record.Value
	other map[record.Key]*record.Value
	slab  []record.Value  // backing store of new entries
	free  []*record.Value // slots of deleted entries
}

// valueSlab is how many entries a Value allocates at once.
const valueSlab = 512

func newValue() *Value {
	return &Value{strs: map[string]*record.Value{}, other: map[record.Key]*record.Value{}}
}

// lookup returns k's entry or nil.
func (s *Value) lookup(k record.Key) *record.Value {
	if v := k.Value(); v.Kind() == record.String {
		return s.strs[v.Str()]
	}
	return s.other[k]
}

// Get returns k's value and whether k has one.
func (s *Value) Get(k record.Key) (record.Value, bool) {
	if p := s.lookup(k); p != nil {
		return *p, true
	}
	return record.Value{}, false
}

// Set sets k's value.
func (s *Value) Set(k record.Key, v record.Value) {
	if p := s.lookup(k); p != nil {
		*p = v
		return
	}
	*s.insert(k, true) = v
}

// Ref returns a pointer to k's value, creating a null one if k has none:
// the cheapest way to update a value in place. The pointer stays valid
// until k is deleted; do not keep it longer than the update.
func (s *Value) Ref(k record.Key) *record.Value {
	if p := s.lookup(k); p != nil {
		return p
	}
	return s.insert(k, true)
}

// insert adds a null entry for k (absent), copying a key string unless it
// is owned already.
func (s *Value) insert(k record.Key, copyKey bool) *record.Value {
	var p *record.Value
	if n := len(s.free); n > 0 {
		p = s.free[n-1]
		s.free = s.free[:n-1]
	} else {
		if len(s.slab) == cap(s.slab) {
			s.slab = make([]record.Value, 0, valueSlab)
		}
		s.slab = s.slab[:len(s.slab)+1]
		p = &s.slab[len(s.slab)-1]
	}
	if v := k.Value(); v.Kind() == record.String {
		str := v.Str()
		if copyKey {
			str = strings.Clone(str)
		}
		s.strs[str] = p
	} else {
		s.other[k] = p
	}
	return p
}

// Delete removes k's value.
func (s *Value) Delete(k record.Key) {
	var p *record.Value
	if v := k.Value(); v.Kind() == record.String {
		p = s.strs[v.Str()]
		delete(s.strs, v.Str())
	} else {
		p = s.other[k]
		delete(s.other, k)
	}
	if p == nil {
		return
	}
	*p = record.Value{}
	s.free = append(s.free, p)
}

// Len returns the number of keys that have a value.
func (s *Value) Len() int { return len(s.strs) + len(s.other) }

// Clear removes every entry, keeping the memory for reuse (a combiner
// that flushes and starts over, say).
func (s *Value) Clear() {
	clear(s.strs)
	clear(s.other)
	clear(s.slab) // drop references held by values
	s.slab = s.slab[:0]
	s.free = s.free[:0]
}

// Range calls fn for every key and its value, in no particular order,
// until fn returns false. fn may Set or Delete the key it is given.
func (s *Value) Range(fn func(k record.Key, v record.Value) bool) {
	for str, p := range s.strs {
		if !fn(strKey(str), *p) {
			return
		}
	}
	for k, p := range s.other {
		if !fn(k, *p) {
			return
		}
	}
}

// strKey returns the key of a string.
func strKey(s string) record.Key {
	k, _ := record.KeyOf(record.Str(s)) // a string is a valid key
	return k
}

func (s *Value) keys(fn func(record.Key) bool) {
	s.Range(func(k record.Key, _ record.Value) bool { return fn(k) })
}

func (s *Value) encode(keyGroup func(record.Key) int, bufs [][]byte, counts []int) {
	s.Range(func(k record.Key, v record.Value) bool {
		g := keyGroup(k)
		bufs[g] = record.AppendValue(bufs[g], k.Value())
		bufs[g] = record.AppendValue(bufs[g], v)
		counts[g]++
		return true
	})
}

func (s *Value) reserve(n int) {
	if s.Len() == 0 {
		s.strs = make(map[string]*record.Value, n)
		s.slab = make([]record.Value, 0, n)
	}
}

func (s *Value) decodeEntry(k record.Key, src []byte) (int, error) {
	v, n, err := record.DecodeValue(src)
	if err != nil {
		return 0, err
	}
	if p := s.lookup(k); p != nil {
		*p = v // a duplicate: the caller notices that Len did not grow
	} else {
		*s.insert(k, false) = v
	}
	return n, nil
}

func (s *Value) merge(from keyedState) {
	f := from.(*Value)
	if s.Len() == 0 {
		*s = Value{strs: f.strs, other: f.other, slab: f.slab}
		return
	}
	for str, q := range f.strs {
		s.strs[str] = q
	}
	for k, q := range f.other {
		s.other[k] = q
	}
}

package state

import (
	"cmp"
	"slices"
	"strconv"
	"strings"

	"github.com/sluicehq/sluice/executor/record"
)

// stateKind is the type of a named state.
type stateKind uint8

// The kinds of states.
const (
	kindValue stateKind = iota + 1 // one value per key
	kindMap                        // field -> value per key
	kindList                       // a list of values per key
)

func (k stateKind) String() string {
	switch k {
	case kindValue:
		return "value"
	case kindMap:
		return "map"
	case kindList:
		return "list"
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Backend holds one subtask's keyed state. It is not safe for concurrent
// use (see the package doc).
type Backend struct {
	maxPar int
	states map[stateID]keyedState
}

// stateID names a state: a name is unique within its kind, so Value("x")
// and Map("x") are two states.
type stateID struct {
	kind stateKind
	name string
}

// keyedState is what the backend needs of each kind of state to snapshot
// and restore it.
type keyedState interface {
	// Len is the number of keys that have an entry.
	Len() int
	// keys calls fn for every key.
	keys(fn func(record.Key) bool)
	// encode appends every entry (key, payload) to the buffer of its key
	// group and counts it there.
	encode(keyGroup func(record.Key) int, bufs [][]byte, counts []int)
	// reserve prepares an empty state for n keys.
	reserve(n int)
	// decodeEntry decodes the payload of key k (owned: decoded from a
	// snapshot) from the start of src and stores it, replacing what k had.
	decodeEntry(k record.Key, src []byte) (n int, err error)
	// merge moves every entry of from, a state of the same kind, into
	// this one, replacing entries of the same keys (and fields). Pointers
	// from Value.Ref are invalid afterwards.
	merge(from keyedState)
}

// NewBackend returns an empty backend for a job of maxParallelism key
// groups (at least 1).
func NewBackend(maxParallelism int) *Backend {
	return &Backend{maxPar: max(maxParallelism, 1), states: map[stateID]keyedState{}}
}

// MaxParallelism is the number of key groups.
func (b *Backend) MaxParallelism() int { return b.maxPar }

// KeyGroup returns the key group of k.
func (b *Backend) KeyGroup(k record.Key) int { return record.KeyGroup(k.Hash(), b.maxPar) }

// Value returns the value state called name, creating it if needed; the
// same name returns the same state, holding any restored entries.
func (b *Backend) Value(name string) *Value {
	if s, ok := b.states[stateID{kindValue, name}]; ok {
		return s.(*Value)
	}
	v := newValue()
	b.states[stateID{kindValue, strings.Clone(name)}] = v
	return v
}

// Map returns the map state called name, creating it if needed.
func (b *Backend) Map(name string) *Map {
	if s, ok := b.states[stateID{kindMap, name}]; ok {
		return s.(*Map)
	}
	m := newMap()
	b.states[stateID{kindMap, strings.Clone(name)}] = m
	return m
}

// List returns the list state called name, creating it if needed.
func (b *Backend) List(name string) *List {
	if s, ok := b.states[stateID{kindList, name}]; ok {
		return s.(*List)
	}
	l := newList()
	b.states[stateID{kindList, strings.Clone(name)}] = l
	return l
}

// state returns the named state of kind k, creating it.
func (b *Backend) state(k stateKind, name string) keyedState {
	switch k {
	case kindValue:
		return b.Value(name)
	case kindMap:
		return b.Map(name)
	case kindList:
		return b.List(name)
	}
	return nil
}

// Empty reports whether no state has an entry.
func (b *Backend) Empty() bool {
	for _, s := range b.states {
		if s.Len() > 0 {
			return false
		}
	}
	return true
}

// sortedStates returns the states in snapshot order: by kind, then name.
func (b *Backend) sortedStates() ([]stateID, []keyedState) {
	ids := make([]stateID, 0, len(b.states))
	for id := range b.states {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(x, y stateID) int {
		if c := cmp.Compare(x.kind, y.kind); c != 0 {
			return c
		}
		return strings.Compare(x.name, y.name)
	})
	sts := make([]keyedState, len(ids))
	for i, id := range ids {
		sts[i] = b.states[id]
	}
	return ids, sts
}

// ownKey returns k with its own copy of a string, so that a key sliced from
// a large input does not keep it alive.
func ownKey(k record.Key) record.Key {
	v := k.Value()
	if v.Kind() != record.String {
		return k
	}
	k, _ = record.KeyOf(record.Str(strings.Clone(v.Str()))) // a string is a valid key
	return k
}

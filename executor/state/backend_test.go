package state

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"unsafe"

	"github.com/sluicehq/sluice/executor/record"
)

func key(v any) record.Key {
	rv, err := record.FromAny(v)
	if err != nil {
		panic(err)
	}
	k, err := record.KeyOf(rv)
	if err != nil {
		panic(err)
	}
	return k
}

func js(v record.Value) string { return string(v.AppendJSON(nil)) }

// jsKey renders a key as JSON, with its kind when JSON does not tell.
func jsKey(k record.Key) string {
	if k.Value().Kind() == record.Float {
		return "float:" + js(k.Value())
	}
	return js(k.Value())
}

// dump renders every entry of b, one line per key (and field), sorted.
func dump(b *Backend) []string {
	var out []string
	for id, s := range b.states {
		prefix := fmt.Sprintf("%s %s ", id.kind, id.name)
		switch s := s.(type) {
		case *Value:
			s.Range(func(k record.Key, v record.Value) bool {
				out = append(out, prefix+jsKey(k)+" = "+js(v))
				return true
			})
		case *Map:
			s.Keys(func(k record.Key) bool {
				s.Entries(k, func(f string, v record.Value) bool {
					out = append(out, prefix+jsKey(k)+" ."+f+" = "+js(v))
					return true
				})
				return true
			})
		case *List:
			s.Keys(func(k record.Key) bool {
				out = append(out, prefix+jsKey(k)+" = "+js(record.ListV(s.Get(k)...)))
				return true
			})
		}
	}
	sort.Strings(out)
	return out
}

func TestValue(t *testing.T) {
	b := NewBackend(16)
	if !b.Empty() {
		t.Fatal("a new backend is not empty")
	}
	v := b.Value("count")
	if b.Value("count") != v {
		t.Fatal("the same name gives another state")
	}
	if _, ok := v.Get(key("a")); ok {
		t.Fatal("entry in a new state")
	}
	v.Set(key("a"), record.IntV(1))
	p := v.Ref(key("b"))
	if !p.IsNull() {
		t.Fatalf("new Ref is %v, not null", *p)
	}
	*p = record.IntV(p.Int() + 5)
	*v.Ref(key("b")) = record.IntV(v.Ref(key("b")).Int() + 1)
	v.Set(key(int64(1)), record.Str("one"))
	if got, ok := v.Get(key("b")); !ok || got.Int() != 6 {
		t.Fatalf("b = %v, %v", got, ok)
	}
	if v.Len() != 3 || b.Empty() {
		t.Fatalf("len %d, empty %v", v.Len(), b.Empty())
	}
	v.Delete(key("a"))
	v.Delete(key("nope"))
	v.Set(key("c"), record.IntV(7)) // reuses a's slot
	if got, _ := v.Get(key("b")); got.Int() != 6 {
		t.Fatalf("b changed to %v", got)
	}
	want := []string{`value count "b" = 6`, `value count "c" = 7`, `value count 1 = "one"`}
	if got := dump(b); !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	// Range stops; the callback may delete
	n := 0
	v.Range(func(k record.Key, _ record.Value) bool { n++; v.Delete(k); return n < 2 })
	if n != 2 || v.Len() != 1 {
		t.Fatalf("range visited %d, %d left", n, v.Len())
	}
}

func TestMapAndList(t *testing.T) {
	b := NewBackend(16)
	m := b.Map("windows")
	m.Put(key("a"), "0:10", record.IntV(1))
	m.Put(key("a"), "10:20", record.IntV(2))
	m.Put(key("a"), "0:10", record.IntV(3))
	m.Put(key("b"), "0:10", record.FloatV(0.5))
	if got, ok := m.Get(key("a"), "0:10"); !ok || got.Int() != 3 {
		t.Fatalf("get %v %v", got, ok)
	}
	if _, ok := m.Get(key("z"), "0:10"); ok {
		t.Fatal("missing key found")
	}
	if m.Len() != 2 || m.Fields(key("a")) != 2 {
		t.Fatalf("len %d, fields %d", m.Len(), m.Fields(key("a")))
	}
	m.Delete(key("b"), "0:10")
	if m.Len() != 1 {
		t.Fatal("a key without fields is kept")
	}
	l := b.List("buf")
	l.Append(key(true), record.IntV(1))
	l.Append(key(true), record.Str("x"))
	l.Set(key(nil), []record.Value{record.IntV(9)})
	if got := l.Get(key(true)); len(got) != 2 || got[1].Str() != "x" {
		t.Fatalf("list %v", got)
	}
	// a Map and a List may share a name with a Value: kinds are namespaces
	b.Value("windows").Set(key("a"), record.IntV(42))
	want := []string{
		`list buf null = [9]`,
		`list buf true = [1,"x"]`,
		`map windows "a" .0:10 = 3`,
		`map windows "a" .10:20 = 2`,
		`value windows "a" = 42`,
	}
	if got := dump(b); !slices.Equal(got, want) {
		t.Fatalf("got %q\nwant %q", got, want)
	}
	m.Clear(key("a"))
	l.Clear(key(true))
	l.Set(key(nil), nil)
	b.Value("windows").Delete(key("a"))
	if !b.Empty() {
		t.Fatalf("not empty: %q", dump(b))
	}
}

// TestKeysAreCopied checks that no state keeps a key string (or map field)
// that shares memory with the caller's, so big input lines are not pinned.
func TestKeysAreCopied(t *testing.T) {
	line := "word xx word xx " + strings.Repeat("x", 1<<10)
	k, k2 := key(line[:4]), key(line[8:12]) // equal keys, both in the line
	b := NewBackend(8)
	// first inserts, then updates through another copy of the same key
	// (Go replaces the stored string of an equal key on map assignment)
	for _, k := range []record.Key{k, k2} {
		b.Value("v").Set(k, record.IntV(1))
		b.Value("r").Ref(k)
		b.Map("m").Put(k, line[5:7], record.IntV(1))
		b.Map("m").Put(k, line[13:15], record.IntV(2))
		b.List("l").Append(k, record.IntV(1))
		b.List("s").Set(k, []record.Value{record.IntV(1)})
	}
	var shared []string
	check := func(s string) {
		if p := unsafe.StringData(s); uintptr(unsafe.Pointer(p)) >= uintptr(unsafe.Pointer(unsafe.StringData(line))) &&
			uintptr(unsafe.Pointer(p)) < uintptr(unsafe.Pointer(unsafe.StringData(line)))+uintptr(len(line)) {
			shared = append(shared, s)
		}
	}
	for _, s := range b.states {
		s.keys(func(k record.Key) bool { check(k.Value().Str()); return true })
	}
	b.Map("m").Entries(k, func(f string, _ record.Value) bool { check(f); return true })
	if len(shared) > 0 {
		t.Fatalf("strings sharing the input line: %q", shared)
	}
}

func TestValueClearReusesAndForgets(t *testing.T) {
	b := NewBackend(128)
	v := b.Value("partials")
	for round := 0; round < 3; round++ {
		for i := 0; i < 2000; i++ {
			p := v.Ref(key(fmt.Sprintf("k%d", i)))
			*p = record.IntV(p.Int() + int64(round+1))
		}
		if v.Len() != 2000 {
			t.Fatalf("round %d: %d entries", round, v.Len())
		}
		got, _ := v.Get(key("k7"))
		if got.Int() != int64(round+1) {
			t.Fatalf("round %d: k7 = %d, want %d (a cleared entry leaked)", round, got.Int(), round+1)
		}
		v.Clear()
		if v.Len() != 0 {
			t.Fatalf("round %d: %d entries after Clear", round, v.Len())
		}
	}
}

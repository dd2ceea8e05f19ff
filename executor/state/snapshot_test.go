package state

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/sluicehq/sluice/executor/record"
)

// randomKey returns a key of a random kind from a small space, so that
// operations hit existing keys often.
func randomKey(rng *rand.Rand) record.Key {
	switch rng.IntN(6) {
	case 0:
		return key(int64(rng.IntN(50) - 25))
	case 1:
		return key(float64(rng.IntN(20)) / 4)
	case 2:
		return key(rng.IntN(2) == 0)
	case 3:
		return key(nil)
	}
	return key(fmt.Sprintf("k%d", rng.IntN(200)))
}

func randomValue(rng *rand.Rand) record.Value {
	switch rng.IntN(5) {
	case 0:
		return record.Str(fmt.Sprintf("v%d", rng.IntN(1000)))
	case 1:
		return record.FloatV(rng.NormFloat64())
	case 2:
		return record.ListV(record.IntV(rng.Int64()), record.Str("x"), record.ListV())
	case 3:
		return record.Value{}
	}
	return record.IntV(rng.Int64N(1 << 40))
}

// fill puts n random entries in value, map and list states of b.
func fill(b *Backend, rng *rand.Rand, n int) {
	for range n {
		k := randomKey(rng)
		switch rng.IntN(4) {
		case 0:
			b.Value("a").Set(k, randomValue(rng))
		case 1:
			b.Value("b").Set(k, randomValue(rng))
		case 2:
			b.Map("m").Put(k, fmt.Sprintf("f%d", rng.IntN(5)), randomValue(rng))
		case 3:
			b.List("l").Append(k, randomValue(rng))
		}
	}
}

func snapshot(t testing.TB, b *Backend) ([]byte, []GroupExtent) {
	t.Helper()
	var buf bytes.Buffer
	ext, err := b.Snapshot(&buf)
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), ext
}

// restoreRange restores into a new backend the groups that subtask i of p
// owns.
func restoreRange(t testing.TB, data []byte, ext []GroupExtent, maxPar, i, p int) *Backend {
	t.Helper()
	b := NewBackend(maxPar)
	for _, e := range ext {
		if record.SubtaskForKeyGroup(e.Group, maxPar, p) != i {
			continue
		}
		if err := b.RestoreGroup(e.Group, data[e.Offset:e.Offset+e.Length]); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

// TestRescale snapshots a backend and restores its key groups into 1..4
// backends by key-group range: each gets only its own keys, and together
// they hold exactly the original entries.
func TestRescale(t *testing.T) {
	for _, maxPar := range []int{1, 7, 128} {
		rng := rand.New(rand.NewPCG(uint64(maxPar), 1))
		src := NewBackend(maxPar)
		fill(src, rng, 3000)
		want := dump(src)
		data, ext := snapshot(t, src)
		// extents are sorted, contiguous, and cover the snapshot
		var off int64
		for i, e := range ext {
			if e.Offset != off || e.Length <= 0 || (i > 0 && e.Group <= ext[i-1].Group) {
				t.Fatalf("maxPar %d: extent %d %+v", maxPar, i, e)
			}
			off += e.Length
		}
		if off != int64(len(data)) {
			t.Fatalf("maxPar %d: extents cover %d of %d bytes", maxPar, off, len(data))
		}
		for p := 1; p <= 4; p++ {
			var union []string
			for i := range p {
				b := restoreRange(t, data, ext, maxPar, i, p)
				for _, s := range b.states {
					s.keys(func(k record.Key) bool {
						if o := record.SubtaskForKeyGroup(b.KeyGroup(k), maxPar, p); o != i {
							t.Fatalf("maxPar %d p %d: subtask %d got key %v of subtask %d", maxPar, p, i, k, o)
						}
						return true
					})
				}
				union = append(union, dump(b)...)
			}
			slices.Sort(union)
			if !slices.Equal(union, want) {
				t.Fatalf("maxPar %d p %d: union of %d entries differs from the %d original ones", maxPar, p, len(union), len(want))
			}
		}
	}
}

func TestSnapshotEmpty(t *testing.T) {
	b := NewBackend(128)
	b.Value("x").Set(key("a"), record.IntV(1))
	b.Value("x").Delete(key("a"))
	b.Map("m")
	data, ext := snapshot(t, b)
	if len(data) != 0 || len(ext) != 0 || !b.Empty() {
		t.Fatalf("empty backend wrote %d bytes, %d extents", len(data), len(ext))
	}
}

// TestRestoreIsIdempotent restores the same groups twice, and over entries
// that the snapshot replaces.
func TestRestoreIsIdempotent(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	src := NewBackend(16)
	fill(src, rng, 500)
	data, ext := snapshot(t, src)
	b := NewBackend(16)
	fill(b, rand.New(rand.NewPCG(3, 4)), 200) // a prefix of the same operations
	for range 2 {
		for _, e := range ext {
			if err := b.RestoreGroup(e.Group, data[e.Offset:e.Offset+e.Length]); err != nil {
				t.Fatal(err)
			}
		}
	}
	// lists and values are replaced; map fields of the prefix all exist in src
	if got, want := dump(b), dump(src); !slices.Equal(got, want) {
		t.Fatalf("got %d entries, want %d", len(got), len(want))
	}
}

func TestRestoreRejectsCorruptBlocks(t *testing.T) {
	src := NewBackend(8)
	src.Value("v").Set(key("a"), record.Str("hello"))
	src.Map("m").Put(key("a"), "f", record.IntV(1))
	data, ext := snapshot(t, src)
	if len(ext) != 1 {
		t.Fatalf("%d extents", len(ext))
	}
	g := ext[0].Group
	withCRC := func(body []byte) []byte {
		return binaryCRC(body)
	}
	tests := map[string]struct {
		group int
		data  []byte
	}{
		"empty":          {g, nil},
		"truncated":      {g, data[:len(data)-1]},
		"bit flip":       {g, flip(data, 7)},
		"bad version":    {g, withCRC(append([]byte{9}, data[1:len(data)-4]...))},
		"other group":    {(g + 1) % 8, data},
		"group range":    {8, data},
		"trailing bytes": {g, withCRC(append(slices.Clone(data[:len(data)-4]), 0))},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			b := NewBackend(8)
			err := b.RestoreGroup(tc.group, tc.data)
			if err == nil {
				t.Fatal("no error")
			}
			if name != "group range" && !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v is not ErrCorrupt", err)
			}
			if !b.Empty() {
				t.Fatalf("partly restored: %q", dump(b))
			}
		})
	}
	// a snapshot taken with another max parallelism is caught by the key
	// group check
	other := NewBackend(60)
	for i := range 64 {
		other.Value("v").Set(key(int64(i)), record.IntV(1))
	}
	data, ext = snapshot(t, other)
	b := NewBackend(8)
	mismatch := false
	for _, e := range ext {
		if e.Group < 8 && b.RestoreGroup(e.Group, data[e.Offset:e.Offset+e.Length]) != nil {
			mismatch = true
		}
	}
	if !mismatch {
		t.Fatal("blocks of max parallelism 64 restored into 8")
	}
}

func flip(data []byte, i int) []byte {
	c := slices.Clone(data)
	c[i] ^= 0x10
	return c
}

// TestRandomOps applies random operations to a backend and to a model,
// checkpointing and restoring (at random parallelisms, then merging back)
// along the way: the backend must always match the model.
func TestRandomOps(t *testing.T) {
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 99))
		maxPar := 1 + rng.IntN(40)
		b := NewBackend(maxPar)
		model := map[string]string{} // "kind name key [field]" -> value JSON
		mk := func(kind, name string, k record.Key, f string) string {
			return kind + " " + name + " " + jsKey(k) + f
		}
		for step := range 2000 {
			k, v := randomKey(rng), randomValue(rng)
			name := []string{"a", "b"}[rng.IntN(2)]
			switch op := rng.IntN(20); {
			case op < 4:
				b.Value(name).Set(k, v)
				model[mk("value", name, k, "")] = js(v)
			case op < 6:
				p := b.Value(name).Ref(k)
				*p = record.IntV(p.Int() + 1)
				model[mk("value", name, k, "")] = js(*p)
			case op < 7:
				b.Value(name).Delete(k)
				delete(model, mk("value", name, k, ""))
			case op < 10:
				f := fmt.Sprintf(" .f%d", rng.IntN(4))
				b.Map(name).Put(k, f[2:], v)
				model[mk("map", name, k, f)] = js(v)
			case op < 11:
				f := fmt.Sprintf(" .f%d", rng.IntN(4))
				b.Map(name).Delete(k, f[2:])
				delete(model, mk("map", name, k, f))
			case op < 12:
				b.Map(name).Clear(k)
				for f := range 4 {
					delete(model, mk("map", name, k, fmt.Sprintf(" .f%d", f)))
				}
			case op < 15:
				b.List(name).Append(k, v)
				l := b.List(name).Get(k)
				model[mk("list", name, k, "")] = js(record.ListV(l...))
			case op < 16:
				b.List(name).Clear(k)
				delete(model, mk("list", name, k, ""))
			case op < 17:
				// a checkpoint, a failure, a restore at another parallelism,
				// merged back into one backend
				data, ext := snapshot(t, b)
				p := 1 + rng.IntN(4)
				nb := NewBackend(maxPar)
				for i := range p {
					part := restoreRange(t, data, ext, maxPar, i, p)
					d2, e2 := snapshot(t, part)
					for _, e := range e2 {
						if err := nb.RestoreGroup(e.Group, d2[e.Offset:e.Offset+e.Length]); err != nil {
							t.Fatal(err)
						}
					}
				}
				b = nb
			default:
				if _, ok := b.Value(name).Get(k); ok != (model[mk("value", name, k, "")] != "") {
					t.Fatalf("seed %d step %d: Get %v: %v", seed, step, k, ok)
				}
			}
		}
		var want []string
		for k, v := range model {
			want = append(want, k+" = "+v)
		}
		slices.Sort(want)
		if got := dump(b); !slices.Equal(got, want) {
			t.Fatalf("seed %d: backend and model differ:\n%q\n%q", seed, got[:min(5, len(got))], want[:min(5, len(want))])
		}
		if b.Empty() != (len(model) == 0) {
			t.Fatalf("seed %d: Empty %v with %d entries", seed, b.Empty(), len(model))
		}
	}
}

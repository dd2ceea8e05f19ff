package state

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/sluicehq/sluice/executor/record"
)

func benchKeys(n int) []record.Key {
	keys := make([]record.Key, n)
	for i := range keys {
		keys[i] = key(fmt.Sprintf("word%d", i))
	}
	return keys
}

// BenchmarkValueGetSet is a keyed count with Get and Set over 100k string
// keys (all present after the first round).
func BenchmarkValueGetSet(b *testing.B) {
	keys := benchKeys(100_000)
	v := NewBackend(128).Value("count")
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		k := keys[i%len(keys)]
		c, _ := v.Get(k)
		v.Set(k, record.IntV(c.Int()+1))
		i++
	}
}

// BenchmarkValueRef is the same count through Ref.
func BenchmarkValueRef(b *testing.B) {
	keys := benchKeys(100_000)
	v := NewBackend(128).Value("count")
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		p := v.Ref(keys[i%len(keys)])
		*p = record.IntV(p.Int() + 1)
		i++
	}
}

// BenchmarkSnapshot snapshots and restores 100k counts.
func BenchmarkSnapshot(b *testing.B) {
	keys := benchKeys(100_000)
	src := NewBackend(128)
	for i, k := range keys {
		src.Value("count").Set(k, record.IntV(int64(i)))
	}
	var buf bytes.Buffer
	b.Run("snapshot", func(b *testing.B) {
		for b.Loop() {
			buf.Reset()
			if _, err := src.Snapshot(&buf); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(buf.Len())/float64(len(keys)), "bytes/key")
	})
	buf.Reset()
	ext, err := src.Snapshot(&buf)
	if err != nil {
		b.Fatal(err)
	}
	data := buf.Bytes()
	b.Run("restore", func(b *testing.B) {
		for b.Loop() {
			dst := NewBackend(128)
			for _, e := range ext {
				if err := dst.RestoreGroup(e.Group, data[e.Offset:e.Offset+e.Length]); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}

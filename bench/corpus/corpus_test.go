package corpus

import (
	"bytes"
	"strings"
	"testing"
)

func TestFastCountMatchesCount(t *testing.T) {
	var b bytes.Buffer
	if err := Generate(&b, Options{Seed: 3, Bytes: 300 << 10}); err != nil {
		t.Fatal(err)
	}
	b.WriteString("Trailing 日本語 ÜBER café" + strings.Repeat("x", 3<<20) + "ü end")
	want, err := Count(bytes.NewReader(b.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	words, err := FastCount(bytes.NewReader(b.Bytes()), got)
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for w, n := range want {
		total += n
		if got[w] != n {
			t.Fatalf("%q: %d, want %d", w, got[w], n)
		}
	}
	if len(got) != len(want) || words != total {
		t.Fatalf("%d words / %d distinct, want %d / %d", words, len(got), total, len(want))
	}
}

func TestGenerateIsDeterministic(t *testing.T) {
	var a, b bytes.Buffer
	_ = Generate(&a, Options{Seed: 9, Bytes: 10000})
	_ = Generate(&b, Options{Seed: 9, Bytes: 10000})
	if !bytes.Equal(a.Bytes(), b.Bytes()) || a.Len() < 10000 {
		t.Fatal("same seed gave different corpora")
	}
}

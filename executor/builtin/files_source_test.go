package builtin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"gocloud.dev/blob"
	"gocloud.dev/blob/fileblob"
	"gocloud.dev/blob/memblob"

	"github.com/sluicehq/sluice/executor/operator"
	"github.com/sluicehq/sluice/executor/operator/operatortest"
	"github.com/sluicehq/sluice/executor/record"
)

// expectedLines is what the files source must emit for content: the
// elements of strings.Split on "\n", without the empty one after a final
// newline, each without one trailing "\r".
func expectedLines(content string) []string {
	if content == "" {
		return nil
	}
	ls := strings.Split(content, "\n")
	if ls[len(ls)-1] == "" {
		ls = ls[:len(ls)-1]
	}
	for i, l := range ls {
		ls[i] = strings.TrimSuffix(l, "\r")
	}
	return ls
}

// memContext returns a context whose default bucket is a fresh memblob.
func memContext(t testing.TB) (*operatortest.Context, *blob.Bucket) {
	b := memblob.OpenBucket(nil)
	t.Cleanup(func() { b.Close() })
	oc := operatortest.NewContext(t)
	oc.DefaultBucket = b
	return oc, b
}

func write(t testing.TB, b *blob.Bucket, key, content string) {
	t.Helper()
	if err := b.WriteAll(context.Background(), key, []byte(content), nil); err != nil {
		t.Fatal(err)
	}
}

// testFilesSource returns a files source reading the default bucket.
func testFilesSource(t testing.TB) operator.Source {
	t.Helper()
	src, err := newFilesSource(&FilesSourceConfig{Prefix: "any", SplitSize: minSplitSize, Field: "line"})
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// readWithSplitSize cuts key into splits of splitSize bytes, bypassing the
// config's minimum, and reads them in order with one source.
func readWithSplitSize(t testing.TB, src operator.Source, oc operator.Context, key string, size, splitSize int64) ([]string, error) {
	var splits []operator.Split
	for _, r := range appendRanges(nil, key, size, splitSize) {
		s, err := r.split()
		if err != nil {
			t.Fatal(err)
		}
		splits = append(splits, s)
	}
	out, err := operatortest.ReadSplits(t, src, oc, splits)
	lines := make([]string, len(out))
	for i, r := range out {
		v, _ := r.Get("line")
		lines[i] = v.Str()
	}
	return lines, err
}

// TestFilesSourceEveryLineOnce reads tricky contents cut in every way and
// checks that each line comes out exactly once, in order.
func TestFilesSourceEveryLineOnce(t *testing.T) {
	long := strings.Repeat("0123456789", 30_000) // 300 kB: longer than the read buffer
	contents := map[string]string{
		"empty":                "",
		"one char":             "a",
		"one line":             "a\n",
		"only newline":         "\n",
		"only newlines":        "\n\n\n",
		"no final newline":     "a\nbb\nccc",
		"final newline":        "a\nbb\nccc\n",
		"empty lines":          "\n\na\n\n\nb\n\n",
		"crlf":                 "a\r\nbb\r\n\r\nccc\r\n",
		"crlf no final":        "a\r\nb\r",
		"lone cr":              "a\rb\n\r\n\r",
		"cr at boundary":       "abc\r\ndef\r\n",
		"utf-8":                "é日本語\n😀x\nÿ\n\n日本\n",
		"utf-8 no newline":     "😀😀😀",
		"long line":            "a\n" + long + "\nb\n",
		"long last line":       "a\n" + long,
		"long lines only":      long + "\n" + long + "\n",
		"long crlf line":       long + "\r\n" + "x\r\n",
		"many short lines":     strings.Repeat("ab\n", 300),
		"newline at every 4th": strings.Repeat("abc\n", 50) + "tail",
	}
	for name, content := range contents {
		t.Run(name, func(t *testing.T) {
			oc, b := memContext(t)
			write(t, b, "f", content)
			want := expectedLines(content)
			n := int64(len(content))
			var sizes []int64
			if n <= 4000 {
				// every size up to 300, then a sample
				for s := int64(1); s <= n+1; s++ {
					if s <= 300 || s%37 == 0 || s >= n-1 {
						sizes = append(sizes, s)
					}
				}
			} else {
				sizes = []int64{1000, 4096, 65536, 99_999, 262_144, 262_145, 300_001, n - 1, n, n + 1, 8 << 20}
			}
			for _, size := range sizes {
				src := testFilesSource(t)
				got, err := readWithSplitSize(t, src, oc, "f", n, size)
				if err != nil {
					t.Fatalf("split size %d: %v", size, err)
				}
				if !slices.Equal(got, want) {
					t.Fatalf("split size %d: got %d lines %.200q, want %d lines %.200q", size, len(got), got, len(want), want)
				}
			}
		})
	}
}

// TestFilesSourceRandom checks random contents with every split size.
func TestFilesSourceRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	alphabet := []string{"a", "b", "\n", "\n", "\r", "é", "日", "\r\n"}
	oc, b := memContext(t)
	src := testFilesSource(t)
	for i := range 40 {
		var sb strings.Builder
		for range rng.IntN(100) {
			sb.WriteString(alphabet[rng.IntN(len(alphabet))])
		}
		content := sb.String()
		key := fmt.Sprintf("r%d", i)
		write(t, b, key, content)
		want := expectedLines(content)
		for size := int64(1); size <= int64(len(content))+1; size++ {
			got, err := readWithSplitSize(t, src, oc, key, int64(len(content)), size)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("content %q split size %d: got %q, want %q", content, size, got, want)
			}
		}
	}
}

func TestFilesSourceSplits(t *testing.T) {
	oc, b := memContext(t)
	for key, size := range map[string]int{
		"in/a.txt":          5000,
		"in/sub/b.txt":      100,
		"in/empty.txt":      0,
		"in/.hidden":        10,
		"in/_SUCCESS":       0,
		"in/_temporary/c":   10,
		"in/sub/.part.tmp":  10,
		"in/dir/":           0,
		"inner/x.txt":       10,
		"other/in/skip.txt": 10,
	} {
		write(t, b, key, strings.Repeat("x\n", size/2))
	}
	d := def(t, "files:source")
	tests := []struct {
		cfg  string
		want []string // split ids
	}{
		{`{"prefix":"in/","splitSize":2048}`, []string{"in/a.txt@0", "in/a.txt@2048", "in/a.txt@4096", "in/sub/b.txt@0"}},
		{`{"prefix":"in/"}`, []string{"in/a.txt@0", "in/sub/b.txt@0"}},
		{`{"prefix":"in"}`, []string{"in/a.txt@0", "in/sub/b.txt@0", "inner/x.txt@0"}},
		{`{"prefix":"in/sub/"}`, []string{"in/sub/b.txt@0"}},
		{`{"prefix":"in/_temporary/"}`, []string{"in/_temporary/c@0"}}, // hidden only below the prefix
		{`{"prefix":"in/empty"}`, nil},                                 // an empty object: no splits, no error
	}
	for _, tc := range tests {
		splits, err := d.Splits(t.Context(), oc, operatortest.DecodeConfig(t, d, tc.cfg))
		if err != nil {
			t.Fatalf("%s: %v", tc.cfg, err)
		}
		var ids []string
		for _, s := range splits {
			ids = append(ids, s.ID)
		}
		if !slices.Equal(ids, tc.want) {
			t.Errorf("%s: splits %q, want %q", tc.cfg, ids, tc.want)
		}
	}
	// split data
	splits, _ := d.Splits(t.Context(), oc, operatortest.DecodeConfig(t, d, `{"prefix":"in/","splitSize":2048}`))
	if got := string(splits[2].Data); got != `{"key":"in/a.txt","start":4096,"end":5000,"size":5000}` {
		t.Errorf("split data %s", got)
	}
	// all lines, read through the definition
	out := operatortest.ReadAllSplits(t, d, operatortest.DecodeConfig(t, d, `{"prefix":"in/","splitSize":1024,"field":"text"}`), oc)
	if len(out) != 2550 || out[0].String() != `{"text":"x"}` {
		t.Errorf("%d records, first %s", len(out), out[0])
	}
}

func TestFilesSourceSplitErrors(t *testing.T) {
	oc, b := memContext(t)
	write(t, b, "in/.hidden", "x\n")
	write(t, b, "in/_SUCCESS", "")
	d := def(t, "files:source")
	tests := []struct{ cfg, want string }{
		{`{"prefix":"nothing/"}`, `prefix: no objects under "nothing/" in the job's default bucket`},
		{`{"prefix":"in/"}`, `prefix: no objects under "in/" in the job's default bucket`},
		{`{"prefix":"in/","bucket":"nosuchscheme://x"}`, `bucket: open bucket "nosuchscheme://x": `},
	}
	for _, tc := range tests {
		_, err := d.Splits(t.Context(), oc, operatortest.DecodeConfig(t, d, tc.cfg))
		var fe *operator.FieldError
		if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.As(err, &fe) {
			t.Errorf("%s: err = %v, want a field error containing %q", tc.cfg, err, tc.want)
		}
	}
	// a bucket URL that opens but holds nothing
	mem := operatortest.NewContext(t)
	_, err := d.Splits(t.Context(), mem, operatortest.DecodeConfig(t, d, `{"prefix":"x/","bucket":"mem://"}`))
	if err == nil || !strings.Contains(err.Error(), `prefix: no objects under "x/" in bucket "mem://"`) {
		t.Errorf("mem bucket: %v", err)
	}
}

func TestFilesSourceReadErrors(t *testing.T) {
	oc, b := memContext(t)
	write(t, b, "f", "a\nb\nc\n")
	split := func(data string) []operator.Split { return []operator.Split{{ID: "s", Data: []byte(data)}} }
	for _, tc := range []struct{ data, want string }{
		{`{"key":"missing","start":0,"end":5,"size":5}`, `read split s of the job's default bucket: `},
		{`{"key":"f","start":0,"end":6,"size":7}`, `object f is 6 bytes long, not 7 as when the job was submitted`},
		{`{"key":"f","start":4,"end":2,"size":6}`, `bad range [4, 2)`},
		{`not json`, `files: split s: invalid character`},
	} {
		src := testFilesSource(t)
		_, err := operatortest.ReadSplits(t, src, oc, split(tc.data))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.data, err, tc.want)
		}
	}

	// an Emit error stops the read and is returned
	src := testFilesSource(t)
	if err := src.Open(t.Context(), oc); err != nil {
		t.Fatal(err)
	}
	stop := errors.New("downstream failed")
	n := 0
	err := src.ReadSplit(t.Context(), split(`{"key":"f","start":0,"end":6,"size":6}`)[0], operator.EmitterFunc(func(*record.Record) error {
		n++
		return stop
	}))
	if !errors.Is(err, stop) || n != 1 {
		t.Errorf("emit error: %v after %d records", err, n)
	}
	// cancellation stops the read
	ctx, cancel := context.WithCancel(t.Context())
	n = 0
	err = src.ReadSplit(ctx, split(`{"key":"f","start":0,"end":6,"size":6}`)[0], operator.EmitterFunc(func(*record.Record) error {
		n++
		cancel()
		return nil
	}))
	if !errors.Is(err, context.Canceled) || n != 1 {
		t.Errorf("cancel: %v after %d records", err, n)
	}
}

// TestFilesSourceFileblob reads real files through fileblob.
func TestFilesSourceFileblob(t *testing.T) {
	dir := t.TempDir()
	var want []string
	for i := range 3 {
		var buf bytes.Buffer
		for j := range 2000 {
			fmt.Fprintf(&buf, "file %d line %d %s\n", i, j, strings.Repeat("z", j%50))
			want = append(want, fmt.Sprintf("file %d line %d %s", i, j, strings.Repeat("z", j%50)))
		}
		if err := os.MkdirAll(filepath.Join(dir, "logs"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "logs", fmt.Sprintf("%d.log", i)), buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	oc := operatortest.NewContext(t)
	oc.OpenBucket = func(ctx context.Context, url string) (*blob.Bucket, error) {
		return fileblob.OpenBucket(url, nil)
	}
	d := def(t, "files:source")
	cfg := operatortest.DecodeConfig(t, d, fmt.Sprintf(`{"bucket":%q,"prefix":"logs/","splitSize":4096}`, dir))
	out := operatortest.ReadAllSplits(t, d, cfg, oc)
	got := make([]string, len(out))
	for i, r := range out {
		v, _ := r.Get("line")
		got[i] = v.Str()
	}
	if !slices.Equal(got, want) {
		t.Fatalf("got %d lines, want %d", len(got), len(want))
	}
}

func BenchmarkFilesSource(b *testing.B) {
	dir := b.TempDir()
	var buf bytes.Buffer
	for i := 0; buf.Len() < 32<<20; i++ {
		fmt.Fprintf(&buf, "%d the quick brown fox jumps over the lazy dog %s\n", i, strings.Repeat("x", i%64))
	}
	if err := os.WriteFile(filepath.Join(dir, "big.txt"), buf.Bytes(), 0o644); err != nil {
		b.Fatal(err)
	}
	bucket, err := fileblob.OpenBucket(dir, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer bucket.Close()
	oc := operatortest.NewContext(b)
	oc.DefaultBucket = bucket
	d := def(b, "files:source")
	cfg := operatortest.DecodeConfig(b, d, `{"prefix":"big"}`)
	splits, err := d.Splits(b.Context(), oc, cfg)
	if err != nil {
		b.Fatal(err)
	}
	src, err := d.NewSource(cfg)
	if err != nil {
		b.Fatal(err)
	}
	if err := src.Open(b.Context(), oc); err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	lines := 0
	count := operator.EmitterFunc(func(*record.Record) error { lines++; return nil })
	b.SetBytes(int64(buf.Len()))
	b.ReportAllocs()
	for b.Loop() {
		for _, s := range splits {
			if err := src.ReadSplit(b.Context(), s, count); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(lines), "ns/line")
}

// TestFilesSourceContinuous checks that rediscovery keeps the split IDs
// of objects already seen (also when they grow) and adds new objects.
func TestFilesSourceContinuous(t *testing.T) {
	oc, b := memContext(t)
	d := def(t, "files:source")
	cfg := operatortest.DecodeConfig(t, d, `{"prefix":"in/","continuous":true,"discoverInterval":"250ms","splitSize":1024}`)
	if got := d.Discover(cfg); got != 250*time.Millisecond {
		t.Fatalf("discover interval %v", got)
	}
	if got := d.Discover(operatortest.DecodeConfig(t, d, `{"prefix":"in/"}`)); got != 0 {
		t.Fatalf("bounded source discovers every %v", got)
	}
	if got := d.Discover(operatortest.DecodeConfig(t, d, `{"prefix":"in/","continuous":true}`)); got != time.Second {
		t.Fatalf("default interval %v", got)
	}
	discover := func() map[string]operator.Split {
		splits, err := d.Splits(t.Context(), oc, cfg)
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]operator.Split{}
		for _, s := range splits {
			m[s.ID] = s
		}
		return m
	}
	if got := discover(); len(got) != 0 { // nothing yet: not an error
		t.Fatalf("splits %v", got)
	}
	big := strings.Repeat("line\n", 1000) // 5000 bytes: one split all the same
	write(t, b, "in/a.txt", big)
	write(t, b, "in/_b.txt.tmp", "hidden\n")
	first := discover()
	if len(first) != 1 || string(first["in/a.txt@0"].Data) != `{"key":"in/a.txt","start":0,"end":5000,"size":0}` {
		t.Fatalf("first discovery %v", first)
	}
	// a.txt grows, b appears
	write(t, b, "in/a.txt", big+"more\n")
	write(t, b, "in/b.txt", "b1\nb2\n")
	second := discover()
	if len(second) != 2 || second["in/b.txt@0"].ID == "" {
		t.Fatalf("second discovery %v", second)
	}
	// the coordinator keeps what it had for known IDs: a.txt is read as
	// first seen, without failing on its new size
	splits := []operator.Split{first["in/a.txt@0"], second["in/b.txt@0"]}
	out, err := operatortest.ReadSplits(t, testFilesSource(t), oc, splits)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 1002 || out[999].String() != `{"line":"line"}` || out[1001].String() != `{"line":"b2"}` {
		t.Fatalf("%d records: %s", len(out), operatortest.JSON(out[998:]))
	}
}

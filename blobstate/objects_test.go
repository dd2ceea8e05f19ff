package blobstate_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/blobstate"
)

func TestReadYourWrites(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b *blobstate.Bucket) {
		ctx := context.Background()
		if _, err := b.Read(ctx, "a/missing"); !errors.Is(err, blobstate.ErrNotFound) {
			t.Fatalf("read of a missing object: %v, want ErrNotFound", err)
		}
		for i, data := range [][]byte{[]byte("first"), []byte("second, longer"), {}} {
			if err := b.Write(ctx, "a/b/c.txt", data); err != nil {
				t.Fatal(err)
			}
			got, err := b.Read(ctx, "a/b/c.txt")
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("write %d: read %q, %v; want %q", i, got, err, data)
			}
			// what operators see through *blob.Bucket
			got, err = b.Blob().ReadAll(ctx, "a/b/c.txt")
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("write %d: blob.ReadAll %q, %v; want %q", i, got, err, data)
			}
		}
		if ok, err := b.Exists(ctx, "a/b/c.txt"); !ok || err != nil {
			t.Fatalf("exists: %v, %v", ok, err)
		}
		for range 2 { // deleting twice is fine
			if err := b.Delete(ctx, "a/b/c.txt"); err != nil {
				t.Fatal(err)
			}
		}
		if ok, err := b.Exists(ctx, "a/b/c.txt"); ok || err != nil {
			t.Fatalf("exists after delete: %v, %v", ok, err)
		}
	})
}

func TestList(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b *blobstate.Bucket) {
		ctx := context.Background()
		keys := []string{"p/a", "p/b/1", "p/b/2", "p/c/d/3", "pq", "q/x"}
		for _, k := range keys {
			if err := b.Write(ctx, k, []byte(k)); err != nil {
				t.Fatal(err)
			}
		}
		for _, tc := range []struct {
			prefix, delim string
			want          []string
		}{
			{"", "", keys},
			{"p/", "", []string{"p/a", "p/b/1", "p/b/2", "p/c/d/3"}},
			{"p", "", []string{"p/a", "p/b/1", "p/b/2", "p/c/d/3", "pq"}},
			{"", "/", []string{"p/", "pq", "q/"}},
			{"p/", "/", []string{"p/a", "p/b/", "p/c/"}},
			{"p/b/", "/", []string{"p/b/1", "p/b/2"}},
			{"nothing/", "/", nil},
		} {
			objs, err := b.List(ctx, tc.prefix, tc.delim)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, o := range objs {
				got = append(got, o.Key)
				if o.IsDir != strings.HasSuffix(o.Key, "/") {
					t.Errorf("%s: IsDir %v", o.Key, o.IsDir)
				}
				if !o.IsDir && o.Size != int64(len(o.Key)) {
					t.Errorf("%s: size %d, want %d", o.Key, o.Size, len(o.Key))
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("list %q %q: %v, want %v", tc.prefix, tc.delim, got, tc.want)
			}
		}
	})
}

func TestKeysThatNeedEscapingAreRefused(t *testing.T) {
	b := openBucket(t, "mem://")
	ctx := context.Background()
	for _, key := range []string{"", "/abs", "dir/", "a//b", "a/../b", "./a", "a#b", "a?b", "100%", `back\slash`, "x.attrs",
		"a__0x41__", "tab\there", "bad\xffutf8"} {
		if err := b.Write(ctx, key, nil); err == nil || !strings.Contains(err.Error(), "object key") {
			t.Errorf("write %q: %v, want an error about the key", key, err)
		}
		if err := b.WriteOnce(ctx, key, nil); err == nil {
			t.Errorf("write-once %q: no error", key)
		}
		if err := b.CopyOnce(ctx, "src", key); err == nil {
			t.Errorf("copy-once to %q: no error", key)
		}
	}
	for _, key := range []string{"a", "a/b.c", "output/job-1/part-out-00001.csv", "ünïcode/日本", "spaces are fine", "a.b/.hidden"} {
		if err := b.Write(ctx, key, nil); err != nil {
			t.Errorf("write %q: %v", key, err)
		}
	}
}

// TestWriteOnceRace races writers to create the same object, round after
// round: exactly one wins each time, and its data is what is stored.
func TestWriteOnceRace(t *testing.T) {
	const rounds, writers = 200, 8
	forEachBackend(t, func(t *testing.T, b *blobstate.Bucket) {
		ctx := context.Background()
		for r := range rounds {
			key := fmt.Sprintf("race/%d/_metadata", r)
			errs := race(writers, func(w int) error {
				return b.WriteOnce(ctx, key, []byte(fmt.Sprintf("writer %d", w)))
			})
			winner := oneWinner(t, r, errs)
			got, err := b.Read(ctx, key)
			if err != nil || string(got) != fmt.Sprintf("writer %d", winner) {
				t.Fatalf("round %d: stored %q (%v), want writer %d's data", r, got, err, winner)
			}
		}
	})
}

// TestCopyOnceRace races committers of different staged objects to the
// same final name: exactly one wins each time, and its object is what is
// stored.
func TestCopyOnceRace(t *testing.T) {
	const rounds, writers = 200, 8
	forEachBackend(t, func(t *testing.T, b *blobstate.Bucket) {
		ctx := context.Background()
		for r := range rounds {
			dst := fmt.Sprintf("out/part-%05d.csv", r)
			for w := range writers {
				if err := b.Write(ctx, fmt.Sprintf("staged/%d/%d", r, w), []byte(fmt.Sprintf("staged by %d", w))); err != nil {
					t.Fatal(err)
				}
			}
			errs := race(writers, func(w int) error {
				return b.CopyOnce(ctx, fmt.Sprintf("staged/%d/%d", r, w), dst)
			})
			winner := oneWinner(t, r, errs)
			got, err := b.Read(ctx, dst)
			if err != nil || string(got) != fmt.Sprintf("staged by %d", winner) {
				t.Fatalf("round %d: stored %q (%v), want writer %d's object", r, got, err, winner)
			}
		}
		// a replayed commit learns that it happened
		if err := b.CopyOnce(ctx, "staged/0/0", "out/part-00000.csv"); !errors.Is(err, blobstate.ErrExists) {
			t.Fatalf("replayed commit: %v, want ErrExists", err)
		}
		if err := b.CopyOnce(ctx, "staged/none", "out/new"); !errors.Is(err, blobstate.ErrNotFound) {
			t.Fatalf("copy of a missing object: %v, want ErrNotFound", err)
		}
		if ok, _ := b.Exists(ctx, "out/new"); ok {
			t.Fatal("a failed copy left its destination")
		}
	})
}

// race runs f(0..n-1) in n goroutines released at once and returns their
// errors.
func race(n int, f func(w int) error) []error {
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for w := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[w] = f(w)
		}()
	}
	close(start)
	wg.Wait()
	return errs
}

// oneWinner checks that exactly one error is nil and the others ErrExists,
// and returns the winner.
func oneWinner(t *testing.T, round int, errs []error) int {
	t.Helper()
	winner := -1
	for w, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("round %d: writers %d and %d both won", round, winner, w)
		case err == nil:
			winner = w
		case !errors.Is(err, blobstate.ErrExists):
			t.Fatalf("round %d: writer %d: %v", round, w, err)
		}
	}
	if winner < 0 {
		t.Fatalf("round %d: nobody won: %v", round, errs)
	}
	return winner
}

func TestWriteOnceErrorNamesObject(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b *blobstate.Bucket) {
		ctx := context.Background()
		if err := b.WriteOnce(ctx, "chk/_metadata", []byte("one")); err != nil {
			t.Fatal(err)
		}
		err := b.WriteOnce(ctx, "chk/_metadata", []byte("two"))
		if !errors.Is(err, blobstate.ErrExists) || !strings.Contains(err.Error(), "chk/_metadata") || !strings.Contains(err.Error(), b.String()) {
			t.Fatalf("second write-once: %v; want ErrExists naming the object and the bucket", err)
		}
		// the same bytes again are still a conflict: only a retried
		// attempt of the same call may claim an object as its own
		if err := b.WriteOnce(ctx, "chk/_metadata", []byte("one")); !errors.Is(err, blobstate.ErrExists) {
			t.Fatalf("repeated write-once: %v, want ErrExists", err)
		}
	})
}

// TestFileStagingIsInvisible: what a file:// bucket stages is never listed,
// and debris of crashed writers is swept when the bucket is opened.
func TestFileStagingIsInvisible(t *testing.T) {
	dir := t.TempDir()
	b := openBucket(t, dir)
	ctx := context.Background()
	if err := b.WriteOnce(ctx, "x/y", []byte("data")); err != nil {
		t.Fatal(err)
	}
	staging := filepath.Join(dir, ".sluice-staging.attrs")
	if err := os.WriteFile(filepath.Join(staging, "crashed.attrs"), []byte("half"), 0o666); err != nil {
		t.Fatal(err)
	}
	for _, delim := range []string{"", "/"} {
		objs, err := b.List(ctx, "", delim)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{"": "x/y", "/": "x/"}[delim]
		if len(objs) != 1 || objs[0].Key != want {
			var keys []string
			for _, o := range objs {
				keys = append(keys, o.Key)
			}
			t.Fatalf("list with delimiter %q: %v, want [%s]", delim, keys, want)
		}
	}
	entries, _ := os.ReadDir(staging)
	if len(entries) != 1 {
		t.Fatalf("staging holds %d files, want only the crashed one", len(entries))
	}
	old := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(filepath.Join(staging, "crashed.attrs"), old, old); err != nil {
		t.Fatal(err)
	}
	openBucket(t, dir)
	if entries, _ := os.ReadDir(staging); len(entries) != 0 {
		t.Fatalf("opening the bucket left %d stale staged files", len(entries))
	}
}

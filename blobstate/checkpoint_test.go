package blobstate_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/blobstate"
)

// writeCheckpoint writes pieces and, if complete, _metadata.
func writeCheckpoint(t *testing.T, d *blobstate.Dir, pieces map[string][]byte, complete bool) *blobstate.Metadata {
	t.Helper()
	ctx := context.Background()
	md := &blobstate.Metadata{
		TriggeredAt: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC),
		CompletedAt: time.Date(2025, 1, 2, 3, 4, 6, 0, time.UTC),
		State:       json.RawMessage(`{"sources":{"lines":[{"split":3,"offset":1024}]},"watermark":17}`),
	}
	names := make([]string, 0, len(pieces))
	for name := range pieces {
		names = append(names, name)
	}
	for _, name := range names {
		p, err := d.WritePiece(ctx, name, pieces[name])
		if err != nil {
			t.Fatal(err)
		}
		md.Pieces = append(md.Pieces, p)
	}
	if complete {
		if err := d.WriteMetadata(ctx, md); err != nil {
			t.Fatal(err)
		}
	}
	return md
}

func samplePieces() map[string][]byte {
	big := make([]byte, 1<<20)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range big {
		big[i] = byte(rng.Uint32())
	}
	return map[string][]byte{
		"count-0/keyed":      []byte(`{"a":1,"b":2}`),
		"count-1/keyed":      big,
		"lines-0/positions":  []byte("split 3 offset 1024"),
		"out-0/staged-files": {},
	}
}

func TestCheckpointRoundTrip(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b *blobstate.Bucket) {
		ctx := context.Background()
		cps := blobstate.NewCheckpoints(b, "job-1")
		d := cps.Dir(7)
		if d.Prefix() != "checkpoints/job-1/chk-7/" {
			t.Fatalf("prefix %q", d.Prefix())
		}
		pieces := samplePieces()
		md := writeCheckpoint(t, d, pieces, true)

		got, err := d.ReadMetadata(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got.Version != blobstate.MetadataVersion || got.Job != "job-1" || got.Checkpoint != 7 || got.Savepoint {
			t.Errorf("metadata header: %+v", got)
		}
		if !reflect.DeepEqual(got.Pieces, md.Pieces) || !got.TriggeredAt.Equal(md.TriggeredAt) || !got.CompletedAt.Equal(md.CompletedAt) {
			t.Errorf("metadata %+v, want %+v", got, md)
		}
		var state, wantState any
		_ = json.Unmarshal(got.State, &state)
		_ = json.Unmarshal(md.State, &wantState)
		if !reflect.DeepEqual(state, wantState) {
			t.Errorf("state %s, want %s", got.State, md.State)
		}
		if got.Size() != int64(1<<20+13+19) {
			t.Errorf("size %d", got.Size())
		}
		if err := d.Verify(ctx, got); err != nil {
			t.Fatal(err)
		}
		for _, p := range got.Pieces {
			data, err := d.ReadPiece(ctx, p)
			if err != nil || !bytes.Equal(data, pieces[p.Name]) {
				t.Fatalf("piece %s: %d bytes, %v", p.Name, len(data), err)
			}
		}
		if n, err := cps.Complete(ctx); err != nil || fmt.Sprint(n) != "[7]" {
			t.Fatalf("complete: %v, %v", n, err)
		}
		// _metadata is written once: a second coordinator (or a replay)
		// cannot replace it
		err = d.WriteMetadata(ctx, &blobstate.Metadata{Pieces: md.Pieces[:1]})
		if !errors.Is(err, blobstate.ErrExists) {
			t.Fatalf("second _metadata: %v, want ErrExists", err)
		}
	})
}

func TestCorruptPieces(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b *blobstate.Bucket) {
		ctx := context.Background()
		d := blobstate.NewCheckpoints(b, "job-2").Dir(1)
		pieces := samplePieces()
		md := writeCheckpoint(t, d, pieces, true)
		md, err := d.ReadMetadata(ctx)
		if err != nil {
			t.Fatal(err)
		}
		byName := map[string]blobstate.Piece{}
		for _, p := range md.Pieces {
			byName[p.Name] = p
		}
		truncated := d.Prefix() + "count-1/keyed"
		flipped := d.Prefix() + "count-0/keyed"
		missing := d.Prefix() + "lines-0/positions"
		if err := b.Write(ctx, truncated, pieces["count-1/keyed"][:1000]); err != nil {
			t.Fatal(err)
		}
		flip := bytes.Clone(pieces["count-0/keyed"])
		flip[3] ^= 0x01
		if err := b.Write(ctx, flipped, flip); err != nil {
			t.Fatal(err)
		}
		if err := b.Delete(ctx, missing); err != nil {
			t.Fatal(err)
		}
		for name, want := range map[string]string{"count-1/keyed": "1000 bytes", "count-0/keyed": "SHA-256", "lines-0/positions": "missing"} {
			_, err := d.ReadPiece(ctx, byName[name])
			if !errors.Is(err, blobstate.ErrCorrupt) || !strings.Contains(err.Error(), d.Prefix()+name) || !strings.Contains(err.Error(), want) {
				t.Errorf("read %s: %v; want ErrCorrupt naming the object and %q", name, err, want)
			}
		}
		err = d.Verify(ctx, md)
		if !errors.Is(err, blobstate.ErrCorrupt) {
			t.Fatalf("verify: %v, want ErrCorrupt", err)
		}
		for _, key := range []string{truncated, flipped, missing} {
			if !strings.Contains(err.Error(), key) {
				t.Errorf("verify error does not name %s: %v", key, err)
			}
		}
		if strings.Contains(err.Error(), "out-0/staged-files") {
			t.Errorf("verify blames a good piece: %v", err)
		}
	})
}

func TestIncompleteCheckpointsAreNotComplete(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b *blobstate.Bucket) {
		ctx := context.Background()
		cps := blobstate.NewCheckpoints(b, "job-3")
		writeCheckpoint(t, cps.Dir(1), samplePieces(), true)
		writeCheckpoint(t, cps.Dir(2), samplePieces(), false)
		writeCheckpoint(t, cps.Dir(10), map[string][]byte{"a": []byte("x")}, true)
		// neither another job's checkpoints nor stray names count
		writeCheckpoint(t, blobstate.NewCheckpoints(b, "job-33").Dir(5), map[string][]byte{"a": nil}, true)
		for _, k := range []string{"checkpoints/job-3/chk-x/_metadata", "checkpoints/job-3/chk-03/_metadata", "checkpoints/job-3/notes"} {
			if err := b.Write(ctx, k, []byte("{}")); err != nil {
				t.Fatal(err)
			}
		}
		n, err := cps.Complete(ctx)
		if err != nil || fmt.Sprint(n) != "[1 10]" {
			t.Fatalf("complete: %v, %v; want [1 10] (numeric order, chk-2 incomplete)", n, err)
		}
		if _, err := cps.Dir(2).ReadMetadata(ctx); !errors.Is(err, blobstate.ErrIncomplete) || !strings.Contains(err.Error(), "chk-2 of job job-3") {
			t.Fatalf("metadata of chk-2: %v, want ErrIncomplete naming it", err)
		}
		if ok, err := cps.Dir(2).IsComplete(ctx); ok || err != nil {
			t.Fatalf("chk-2 complete: %v, %v", ok, err)
		}
	})
}

func TestRetain(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b *blobstate.Bucket) {
		ctx := context.Background()
		cps := blobstate.NewCheckpoints(b, "job-4")
		for n := int64(1); n <= 7; n++ {
			complete := n != 3 && n != 6 && n != 7 // 3 failed, 6 and 7 in progress
			writeCheckpoint(t, cps.Dir(n), map[string][]byte{"p/0": []byte("x"), "p/1": []byte("y")}, complete)
		}
		if err := cps.Retain(ctx, 0); err == nil {
			t.Fatal("retain 0: no error")
		}
		if err := cps.Retain(ctx, 2); err != nil {
			t.Fatal(err)
		}
		if n, err := cps.Complete(ctx); err != nil || fmt.Sprint(n) != "[4 5]" {
			t.Fatalf("complete after retain 2: %v, %v", n, err)
		}
		objs, err := b.List(ctx, cps.Prefix(), "/")
		if err != nil {
			t.Fatal(err)
		}
		var dirs []string
		for _, o := range objs {
			dirs = append(dirs, strings.TrimPrefix(o.Key, cps.Prefix()))
		}
		if fmt.Sprint(dirs) != "[chk-4/ chk-5/ chk-6/ chk-7/]" {
			t.Fatalf("left %v; want the 2 newest complete and the 2 in progress", dirs)
		}
		if dir, ok := strings.CutPrefix(b.URL(), "file://"); ok {
			entries, err := os.ReadDir(filepath.Join(dir, "checkpoints", "job-4"))
			if err != nil || len(entries) != 4 {
				t.Fatalf("file:// keeps %d directories of job-4's checkpoints (%v), want 4", len(entries), err)
			}
		}
		if err := cps.Retain(ctx, 5); err != nil {
			t.Fatal(err)
		}
		if n, _ := cps.Complete(ctx); fmt.Sprint(n) != "[4 5]" {
			t.Fatalf("retain 5 deleted something: %v", n)
		}
	})
}

func TestMetadataChecks(t *testing.T) {
	b := openBucket(t, "mem://")
	ctx := context.Background()
	cps := blobstate.NewCheckpoints(b, "job-5")
	good := blobstate.Piece{Name: "a", Size: 1, SHA256: strings.Repeat("ab", 32)}
	for _, tc := range []struct {
		md   blobstate.Metadata
		want string
	}{
		{blobstate.Metadata{Job: "other"}, `job "other"`},
		{blobstate.Metadata{Checkpoint: 2}, "checkpoint 2"},
		{blobstate.Metadata{Savepoint: true}, "savepoint"},
		{blobstate.Metadata{Version: 2}, "version 2"},
		{blobstate.Metadata{Pieces: []blobstate.Piece{good, good}}, "duplicate"},
		{blobstate.Metadata{Pieces: []blobstate.Piece{{Name: "_metadata", SHA256: good.SHA256}}}, "reserved"},
		{blobstate.Metadata{Pieces: []blobstate.Piece{{Name: "a", SHA256: "xyz"}}}, "64 hex"},
		{blobstate.Metadata{Pieces: []blobstate.Piece{{Name: "../a", SHA256: good.SHA256}}}, "segment"},
		{blobstate.Metadata{State: json.RawMessage("{")}, "state"},
	} {
		err := cps.Dir(1).WriteMetadata(ctx, &tc.md)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("write %+v: %v, want an error with %q", tc.md, err, tc.want)
		}
	}
	for _, tc := range []struct {
		content, want string
	}{
		{"not json", "corrupt"},
		{`{"job":"job-5","checkpoint":2}`, "no version"},
		{`{"version":99,"job":"job-5","checkpoint":2}`, "version 99"},
	} {
		if err := b.Write(ctx, cps.Dir(2).Prefix()+"_metadata", []byte(tc.content)); err != nil {
			t.Fatal(err)
		}
		if _, err := cps.Dir(2).ReadMetadata(ctx); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("read %s: %v, want an error with %q", tc.content, err, tc.want)
		}
	}
	for _, d := range []*blobstate.Dir{cps.Dir(0), blobstate.NewCheckpoints(b, "a/b").Dir(1), blobstate.NewCheckpoints(b, "").Dir(1),
		blobstate.SavepointDir(b, ".."), blobstate.SavepointDir(b, "x y")} {
		if _, err := d.WritePiece(ctx, "p", nil); err == nil {
			t.Errorf("%s: wrote a piece", d)
		}
	}
	if _, err := blobstate.NewCheckpoints(b, "a/b").Complete(ctx); err == nil || !strings.Contains(err.Error(), "job id") {
		t.Errorf("complete of job a/b: %v", err)
	}
}

func TestSavepoints(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b *blobstate.Bucket) {
		ctx := context.Background()
		d := blobstate.SavepointDir(b, "sp-job-1-42")
		if d.Prefix() != "savepoints/sp-job-1-42/" {
			t.Fatalf("prefix %q", d.Prefix())
		}
		md := writeCheckpoint(t, d, map[string][]byte{"count-0/keyed": []byte("state")}, false)
		md.Job, md.Checkpoint = "job-1", 42
		if err := d.WriteMetadata(ctx, md); err != nil {
			t.Fatal(err)
		}
		got, err := d.ReadMetadata(ctx)
		if err != nil || !got.Savepoint || got.Job != "job-1" || got.Checkpoint != 42 {
			t.Fatalf("savepoint metadata %+v, %v", got, err)
		}
		if err := d.Verify(ctx, got); err != nil {
			t.Fatal(err)
		}
		if err := d.Delete(ctx); err != nil {
			t.Fatal(err)
		}
		if objs, _ := b.List(ctx, "savepoints/", ""); len(objs) != 0 {
			t.Fatalf("%d objects left after delete", len(objs))
		}
	})
}

func TestParseSavepointURL(t *testing.T) {
	for _, tc := range []struct {
		in, bucket, id, err string
	}{
		{in: "sp-1", id: "sp-1"},
		{in: "savepoints/sp-1", id: "sp-1"},
		{in: "savepoints/sp-1/", id: "sp-1"},
		{in: "file:///data/bucket#savepoints/sp-1", bucket: "file:///data/bucket", id: "sp-1"},
		{in: "/data/bucket#savepoints/sp-1", bucket: "file:///data/bucket", id: "sp-1"},
		{in: "azblob://prod?domain=x&localemu=true#savepoints/sp.2", bucket: "azblob://prod?domain=x&localemu=true", id: "sp.2"},
		{in: "file:///data#sp-1", err: "#savepoints/<id>"},
		{in: "s3://b#savepoints/x", err: "unsupported scheme"},
		{in: "savepoints/a/b", err: "only letters"},
		{in: "", err: "empty"},
		{in: "file:///d#savepoints/", err: "empty"},
	} {
		r, err := blobstate.ParseSavepointURL(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("parse %q: %+v, %v; want an error with %q", tc.in, r, err, tc.err)
			}
			continue
		}
		if err != nil || r.Bucket != tc.bucket || r.ID != tc.id {
			t.Errorf("parse %q: %+v, %v; want bucket %q id %q", tc.in, r, err, tc.bucket, tc.id)
			continue
		}
		if back, err := blobstate.ParseSavepointURL(r.String()); err != nil || back != r {
			t.Errorf("%q: String %q parses back to %+v, %v", tc.in, r.String(), back, err)
		}
	}
}

func TestDirAt(t *testing.T) {
	b := openBucket(t, "mem://")
	for _, tc := range []struct{ path, prefix, err string }{
		{path: "checkpoints/job-1/chk-7/", prefix: "checkpoints/job-1/chk-7/"},
		{path: "checkpoints/job-1/chk-7", prefix: "checkpoints/job-1/chk-7/"},
		{path: "savepoints/sp-1/", prefix: "savepoints/sp-1/"},
		{path: "checkpoints/job-1/chk-07/", err: "not chk-<n>"},
		{path: "checkpoints/job-1/chk-x/", err: "invalid syntax"},
		{path: "checkpoints/job-1/", err: "neither"},
		{path: "other/x/", err: "neither"},
	} {
		d, err := blobstate.DirAt(b, tc.path)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("DirAt(%q): %v, want an error with %q", tc.path, err, tc.err)
			}
			continue
		}
		if err != nil || d.Prefix() != tc.prefix {
			t.Errorf("DirAt(%q) = %v, %v; want %s", tc.path, d, err, tc.prefix)
		}
	}
}

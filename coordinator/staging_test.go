package coordinator

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/sluicehq/sluice/blobstate"
	"github.com/sluicehq/sluice/coordinator/api"
	"github.com/sluicehq/sluice/coordinator/jobspec"
	"github.com/sluicehq/sluice/coordinator/store"
	"github.com/sluicehq/sluice/executor/builtin"
)

// listFiles returns the files under dir, relative to it, sorted.
func listFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && !strings.HasPrefix(d.Name(), ".sluice-staging") {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// TestSweepStaging stages objects as a job's attempts would leave them and
// checks what a restart's and the job end's clean-up delete, commit and
// keep.
func TestSweepStaging(t *testing.T) {
	dir := t.TempDir()
	url := "file://" + dir
	ctx := t.Context()
	b, err := blobstate.OpenBucket(ctx, url, blobstate.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	put := func(keys ...string) {
		for _, k := range keys {
			if err := b.Write(ctx, k, []byte(k+"\n")); err != nil {
				t.Fatal(err)
			}
		}
	}
	const area = "out/j1/_staging/j1/"
	c1 := api.Commitable{Staged: area + "a1/out-00000-aaaa-1.jsonl", Final: "out/j1/part-out-00000-000003.jsonl"}
	c3 := api.Commitable{Staged: area + "a1/out-00000-aaaa-3.jsonl", Final: "out/j1/part-out-00000-000005.jsonl"}
	sp := api.Commitable{Staged: area + "a1/out-00001-bbbb-1.jsonl", Final: "out/j1/part-out-00001-000004.jsonl"}
	put(
		c1.Staged,                                       // complete checkpoint 3, the one restored, whose commit failed
		area+"a1/out-00000-aaaa-2.jsonl",                // a checkpoint that failed
		c3.Staged,                                       // complete checkpoint 5, skipped as corrupt by the restore
		sp.Staged,                                       // savepoint 4, whose commit failed
		area+"a2/out-00000-cccc-1.jsonl",                // a later attempt (a new leader deployed it)
		area+"out-00000-dddd-1.jsonl",                   // not in an attempt's directory
		"out/j1/part-out-00000-000001.jsonl",            // committed output
		"out/j2/_staging/j2/a1/out-00000-eeee-1.jsonl",  // another job's staging
		"shared/_staging/j10/a1/out-00000-ffff-1.jsonl", // another job's, in the shared prefix
		"shared/_staging/j1/a1/log-00000-gggg-1.txt",    // the second sink's
	)
	state, _ := json.Marshal(store.CompletedCheckpoint{ID: 4, Savepoint: true, Commitables: []api.Commitable{sp}})
	if err := blobstate.SavepointDir(b, "j1-4").WriteMetadata(ctx, &blobstate.Metadata{Job: "j1", Checkpoint: 4, CompletedAt: time.Now(), State: state}); err != nil {
		t.Fatal(err)
	}
	spec := &jobspec.Spec{
		Vertices: []jobspec.Vertex{
			{ID: "gen", Operator: "datagen", Config: json.RawMessage(`{"count":10}`)},
			{ID: "out", Operator: "files", Config: json.RawMessage(`{"prefix":"out/{job}/"}`)},
			{ID: "log", Operator: "files", Config: json.RawMessage(`{"prefix":"shared","format":"text","bucket":"` + url + `"}`)},
		},
		Edges: []jobspec.Edge{{From: "gen", To: "out"}, {From: "gen", To: "log"}},
	}
	j := &store.Job{
		ID: "j1", Bucket: url, Spec: spec, State: api.JobRestarting, Attempt: 1,
		Completed: []*store.CompletedCheckpoint{
			{ID: 3, Commitables: []api.Commitable{c1}},
			{ID: 5, Commitables: []api.Commitable{c3}},
		},
	}
	c := &Coordinator{cfg: Config{Registry: builtin.NewRegistry()}, log: zerolog.Nop()}
	check := func(when string, res, wantRes sweepResult, want ...string) {
		t.Helper()
		if res != wantRes {
			t.Errorf("%s: %+v, want %+v", when, res, wantRes)
		}
		slices.Sort(want)
		got := listFiles(t, dir)
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("%s: the bucket holds\n  %s\nwant\n  %s", when, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
		}
	}
	others := []string{
		"out/j1/part-out-00000-000001.jsonl",
		"out/j2/_staging/j2/a1/out-00000-eeee-1.jsonl",
		"shared/_staging/j10/a1/out-00000-ffff-1.jsonl",
		"savepoints/j1-4/_metadata",
	}

	// a restart of attempt 1 from checkpoint 3
	res, err := c.sweepStaging(ctx, j, stagingSweep{upTo: 1, commitUpTo: 3})
	if err != nil {
		t.Fatal(err)
	}
	check("restart", res, sweepResult{deleted: 2, committed: 1, kept: 2}, append([]string{
		c1.Final, c3.Staged, sp.Staged,
		area + "a2/out-00000-cccc-1.jsonl",
		area + "out-00000-dddd-1.jsonl",
	}, others...)...)

	// the job ends
	j.State, j.Attempt = api.JobCanceled, 2
	res, err = c.sweepStaging(ctx, j, stagingSweep{commitUpTo: math.MaxInt64})
	if err != nil {
		t.Fatal(err)
	}
	check("end", res, sweepResult{deleted: 2, committed: 1, kept: 1}, append([]string{c1.Final, c3.Final, sp.Staged}, others...)...)
	for _, d := range []string{"a2", "shared/_staging/j1"} {
		p := filepath.Join(dir, area, d)
		if strings.HasPrefix(d, "shared") {
			p = filepath.Join(dir, d)
		}
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("empty directory %s left: %v", p, err)
		}
	}

	// again: nothing to do
	res, err = c.sweepStaging(ctx, j, stagingSweep{commitUpTo: math.MaxInt64})
	if err != nil {
		t.Fatal(err)
	}
	check("again", res, sweepResult{kept: 1}, append([]string{c1.Final, c3.Final, sp.Staged}, others...)...)
}

func TestOwnArea(t *testing.T) {
	for _, tc := range []struct {
		prefix string
		ok     bool
	}{
		{"out/_staging/j1/", true},
		{"j1/", true},
		{"out/_staging/j1", false},
		{"out/_staging/", false},
		{"", false},
		{"out/_staging/j10/", false},
	} {
		if got := ownArea(tc.prefix, "j1"); got != tc.ok {
			t.Errorf("ownArea(%q) = %v, want %v", tc.prefix, got, tc.ok)
		}
	}
}

package cli

import (
	"context"
	"path"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/archive"
	"github.com/sluicehq/sluice/blobstate"
	"github.com/sluicehq/sluice/coordinator/api"
)

// TestLeaderArchivesEndedJobsWithoutArchive is a leader that stopped at
// the moment jobs ended: one job's archive was never written, another's
// index entries were not. The node that leads next (here the same node,
// restarted on its raft log) writes what is missing, and every job has
// exactly one archive and one entry per view.
func TestLeaderArchivesEndedJobsWithoutArchive(t *testing.T) {
	if testing.Short() {
		t.Skip("starts executor processes")
	}
	dataDir := t.TempDir()
	start := func() *testCluster {
		out := &syncBuffer{}
		cl, err := startCluster(context.Background(), clusterConfig{DataDir: dataDir, Registry: testRegistry(), Stdout: out, Logger: testLogger(t)})
		if err != nil {
			t.Fatal(err)
		}
		return &testCluster{cluster: cl, client: api.NewClient(cl.URL, ""), stdout: out}
	}
	c := start()
	ctx := context.Background()
	b, err := blobstate.OpenBucket(ctx, c.Bucket, blobstate.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	idx := archive.NewIndex(b)
	spec := func(name string) map[string]any {
		return map[string]any{
			"name":     name,
			"vertices": []map[string]any{{"id": "gen", "operator": "datagen", "config": map[string]any{"count": 100}}, {"id": "out", "operator": "print"}},
			"edges":    []map[string]any{{"from": "gen", "to": "out"}},
		}
	}
	noArchive, noIndex := c.submit(t, spec("lost-archive")), c.submit(t, spec("lost-index"))
	for _, id := range []string{noArchive, noIndex} {
		c.waitJob(t, id, time.Minute, api.JobFinished)
		waitFor(t, 30*time.Second, "the archive of "+id, func() bool {
			ok, err := b.Exists(ctx, archive.Key(id))
			return err == nil && ok
		})
	}
	waitFor(t, 30*time.Second, "both jobs in the index", func() bool {
		page, err := idx.List(ctx, archive.Query{})
		return err == nil && len(page.Jobs) == 2
	})
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}

	// what a leader killed at the wrong moment leaves behind
	objs, err := b.List(ctx, archive.Prefix, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if o.Key == archive.Key(noArchive) || strings.HasPrefix(o.Key, archive.Prefix+"index/") {
			if err := b.Delete(ctx, o.Key); err != nil {
				t.Fatal(err)
			}
		}
	}
	if page, err := idx.List(ctx, archive.Query{}); err != nil || len(page.Jobs) != 0 {
		t.Fatalf("index after the deletes: %+v, %v", page, err)
	}

	c = start()
	var page *archive.Page
	waitFor(t, 30*time.Second, "the new leader's sweep to archive and index both jobs", func() bool {
		page, err = idx.List(ctx, archive.Query{})
		return err == nil && len(page.Jobs) == 2
	})
	listed := map[string]bool{page.Jobs[0].ID: true, page.Jobs[1].ID: true}
	if !listed[noArchive] || !listed[noIndex] || page.Jobs[0].EndedAt.Before(*page.Jobs[1].EndedAt) {
		t.Errorf("listed %+v, want %s and %s, newest end first", page.Jobs, noArchive, noIndex)
	}
	a, err := idx.Read(ctx, noArchive)
	if err != nil {
		t.Fatal(err)
	}
	if a.Job.State != api.JobFinished || len(a.Paths) != 3 {
		t.Errorf("the archive the sweep wrote: %+v", a.Job)
	}
	perJob := func() map[string]int {
		n := map[string]int{}
		for id, keys := range archiveObjects(t, b) {
			n[id] = len(keys)
		}
		return n
	}
	waitFor(t, 30*time.Second, "an archive and an entry in each of 3 views for both jobs", func() bool {
		n := perJob()
		return n[noArchive] == 4 && n[noIndex] == 4
	})
	if err := c.Close(); err != nil { // nothing is written after this
		t.Fatal(err)
	}
	final := perJob()
	if len(final) != 2 {
		t.Errorf("objects of other jobs under %s: %v", archive.Prefix, final)
	}
	for id, n := range final {
		if n != 4 {
			t.Errorf("job %s has %d objects under %s after the sweep, want 4", id, n, archive.Prefix)
		}
	}
}

// archiveObjects lists the objects under archive/ by the job they belong
// to: its archive and its index entries (one per view: all, state, day).
// The sweep's archive.DayIndexComplete belongs to no job: it is left out.
func archiveObjects(t *testing.T, b *blobstate.Bucket) map[string][]string {
	t.Helper()
	objs, err := b.List(context.Background(), archive.Prefix, "")
	if err != nil {
		t.Fatal(err)
	}
	perJob := map[string][]string{}
	for _, o := range objs {
		if o.Key == archive.DayIndexComplete {
			continue
		}
		id := strings.TrimSuffix(path.Base(o.Key), ".json")
		if f := strings.Split(path.Base(o.Key), "_"); len(f) > 1 {
			id = f[1] // an index entry
		}
		perJob[id] = append(perJob[id], o.Key)
	}
	return perJob
}

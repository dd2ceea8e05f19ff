package cli

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/archive"
	"github.com/sluicehq/sluice/blobstate"
	"github.com/sluicehq/sluice/coordinator/api"
)

// TestClusterLeaderKilledAsJobEndsLeavesOneArchive kills the leader of a
// real three-node group at the moment a job ends: the nodes run with the
// crash point "job-ended", so the leader SIGKILLs itself right after the
// job's terminal state is committed through Raft and before it writes the
// archive. The next leader must archive the job, and once the killed node
// is back there is exactly one archive and one
// index entry per view for the job. A second job ends under the new
// leader the same way, so both the first and a later term are covered.
func TestClusterLeaderKilledAsJobEndsLeavesOneArchive(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a coordinator group of real processes")
	}
	g := startGroup(t, 1, "SLUICE_TEST_CRASH_AT=job-ended")
	ctx := context.Background()
	b, err := blobstate.OpenBucket(ctx, "file://"+g.bucket, blobstate.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	idx := archive.NewIndex(b)

	var ids []string
	for round := 1; round <= 2; round++ {
		l := g.leader()
		id := g.submit(map[string]any{
			"name":     "ends-as-leader-dies",
			"vertices": []map[string]any{{"id": "gen", "operator": "datagen", "config": map[string]any{"count": 1000}}, {"id": "out", "operator": "print"}},
			"edges":    []map[string]any{{"from": "gen", "to": "out"}},
		})
		ids = append(ids, id)
		// the leader dies by its own hand once the job has ended
		exited := make(chan error, 1)
		cmd := g.nodes[l].cmd
		go func(cmd *exec.Cmd) { exited <- cmd.Wait() }(cmd)
		select {
		case err := <-exited:
			if !strings.Contains(err.Error(), "killed") {
				t.Fatalf("round %d: leader %s exited with %v, want killed by its crash point", round, g.nodes[l].id, err)
			}
		case <-time.After(2 * time.Minute):
			t.Fatalf("round %d: leader %s did not crash at the job's end", round, g.nodes[l].id)
		}
		g.nodes[l].cmd = nil
		t.Logf("round %d: leader %s crashed as job %s ended", round, g.nodes[l].id, id)
		waitFor(t, time.Minute, "the new leader to archive job "+id, func() bool {
			ok, err := b.Exists(ctx, archive.Key(id))
			return err == nil && ok
		})
		if j := g.job(id); j.State != api.JobFinished {
			t.Fatalf("round %d: job %s is %s after the failover, want FINISHED", round, id, j.State)
		}
		g.startNode(l) // back; the crash point fires only where a job ends
	}

	// every node caught up; the sweeps of every term have run
	for i := range g.nodes {
		waitFor(t, time.Minute, "node "+g.nodes[i].id+" to know both jobs", func() bool {
			code, _, body := g.rawGet(i, "/v1/jobs")
			return code == 200 && strings.Contains(string(body), ids[0]) && strings.Contains(string(body), ids[1])
		})
	}
	waitFor(t, time.Minute, "both jobs in the index", func() bool {
		page, err := idx.List(ctx, archive.Query{})
		return err == nil && len(page.Jobs) == 2
	})
	for _, id := range ids {
		a, err := idx.Read(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if a.Job.State != api.JobFinished {
			t.Errorf("archive of %s says %s, want FINISHED", id, a.Job.State)
		}
	}
	perJob := archiveObjects(t, b)
	for _, id := range ids {
		if n := len(perJob[id]); n != 4 {
			t.Errorf("job %s has %d objects under %s, want its archive and one entry in each of 3 views: %v", id, n, archive.Prefix, perJob[id])
		}
	}
	if len(perJob) != 2 {
		t.Errorf("objects of other jobs under %s: %v", archive.Prefix, perJob)
	}
}

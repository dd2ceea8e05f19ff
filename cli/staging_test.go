package cli

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/coordinator/api"
)

// stagedFiles lists the files under dir (a sink's staging directory in the
// file bucket), relative to it.
func stagedFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			return err
		}
		if !d.IsDir() {
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

// plant writes a file into the bucket, as an executor would stage one.
func plant(t *testing.T, bucketDir, key string) {
	t.Helper()
	p := filepath.Join(bucketDir, filepath.FromSlash(key))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(`{"key":"planted","count":-1}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// exists reports whether the bucket holds key.
func exists(bucketDir, key string) bool {
	_, err := os.Stat(filepath.Join(bucketDir, filepath.FromSlash(key)))
	return err == nil
}

// killAndCheckRestartCleanup kills an executor while a checkpoint is in
// flight (its sinks may have staged objects for it, which will never be
// committed), once one completed in this attempt, and waits for the next
// attempt to run: the object planted in the staging directory of the
// attempt that was killed must be gone by then, since the restart deletes
// what the ended attempts staged before it deploys the next one.
func (c *testCluster) killAndCheckRestartCleanup(t *testing.T, id, area string, rng *rand.Rand) {
	t.Helper()
	bucket := filepath.Join(c.DataDir, "bucket")
	attempt := 0
	before := c.completedCheckpoints(t, id)
	waitFor(t, time.Minute, "a checkpoint of a running attempt", func() bool {
		j, err := c.client.Job(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if j.State.Terminal() {
			t.Fatalf("job ended: %s %s", j.State, j.Error)
		}
		attempt = j.Attempt
		return j.State == api.JobRunning && c.completedCheckpoints(t, id) > before
	})
	orphan := fmt.Sprintf("%sa%d/out-00000-0123456789ab-99.jsonl", area, attempt)
	plant(t, bucket, orphan)
	waitFor(t, time.Minute, "a checkpoint in flight", func() bool {
		j, err := c.client.Job(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if j.State.Terminal() {
			t.Fatalf("job ended: %s %s", j.State, j.Error)
		}
		return j.Checkpoints != nil && j.Checkpoints.InProgress != 0
	})
	c.killRandomExecutor(t, id, rng)
	waitFor(t, time.Minute, "the next attempt to run", func() bool {
		j, err := c.client.Job(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if j.State.Terminal() {
			t.Fatalf("job ended: %s %s", j.State, j.Error)
		}
		return j.Attempt > attempt && j.State == api.JobRunning
	})
	if exists(bucket, orphan) {
		t.Errorf("the restart left %s, staged by attempt %d, which was killed", orphan, attempt)
	}
}

// TestStagingCleanedUpAfterKills SIGKILLs executors of an unbounded
// exactly-once running count twice, then stops the job (with a savepoint,
// or a plain cancel): afterwards nothing is left in the job's staging
// directory, another job's staging directory under the same prefix is
// untouched, and the committed output is exact. An object staged "by a
// zombie" of a killed attempt after the restart is removed at the end.
func TestStagingCleanedUpAfterKills(t *testing.T) {
	if testing.Short() {
		t.Skip("kills executor processes")
	}
	for _, stop := range []string{"savepoint", "cancel"} {
		t.Run(stop, func(t *testing.T) {
			c := startTestCluster(t)
			bucket := filepath.Join(c.DataDir, "bucket")
			const keys = 13
			prefix := "staged-" + stop + "/" // shared by every job: no {job}
			id := c.submit(t, runningCountSpec(countJob{Prefix: prefix, Keys: keys, Rate: 3000, Chunk: 1000, Interval: "200ms"}))
			area := prefix + "_staging/" + id + "/"
			other := prefix + "_staging/otherjob/a1/out-00000-0123456789ab-1.jsonl"
			plant(t, bucket, other)

			rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 11))
			for range 2 {
				c.killAndCheckRestartCleanup(t, id, area, rng)
			}
			zombie := area + "a1/out-00001-0123456789ab-7.jsonl"
			plant(t, bucket, zombie) // staged by attempt 1 after the restarts
			waitFor(t, time.Minute, "a checkpoint with 2000 records read", func() bool {
				j, err := c.client.Job(context.Background(), id)
				if err != nil {
					t.Fatal(err)
				}
				return j.State == api.JobRunning && c.recordsAtLatestCheckpoint(t, bucket, id) >= 2000
			})
			t.Logf("staged before the stop: %v", stagedFiles(t, filepath.Join(bucket, area)))

			var dir string
			switch stop {
			case "savepoint":
				sp, err := c.client.Savepoint(context.Background(), id, true)
				if err != nil {
					t.Fatalf("stop with savepoint: %v", err)
				}
				dir = sp.Dir
			case "cancel":
				if _, err := c.client.Cancel(context.Background(), id); err != nil {
					t.Fatal(err)
				}
			}
			job := c.waitJob(t, id, time.Minute, api.JobCanceled, api.JobFailed)
			if job.State != api.JobCanceled {
				t.Fatalf("job %s: %s", job.State, job.Error)
			}
			if dir == "" {
				dir = job.Checkpoints.LatestDir // what a cancel leaves committed
			}
			waitFor(t, time.Minute, "the job's staging directory to empty", func() bool {
				return len(stagedFiles(t, filepath.Join(bucket, area))) == 0
			})
			if _, err := os.Stat(filepath.Join(bucket, area)); !os.IsNotExist(err) {
				t.Errorf("the job's staging directory is still there: %v", err)
			}
			if got := stagedFiles(t, filepath.Join(bucket, prefix, "_staging")); !slices.Equal(got, []string{"otherjob/a1/out-00000-0123456789ab-1.jsonl"}) {
				t.Errorf("staging directory holds %v, want only the other job's object", got)
			}
			total, nkeys := checkExactRunningCounts(t, bucket, dir, filepath.Join(bucket, prefix), keys)
			t.Logf("%d records over %d keys, %d restarts, exactly once, nothing left staged", total, nkeys, len(job.Restarts))
		})
	}
}

// TestBoundedJobLeavesNothingStaged runs a bounded exactly-once running
// count with checkpoints, kills an executor once on the way, and checks
// that once the job has finished its output is exact and nothing is left
// in its staging directory.
func TestBoundedJobLeavesNothingStaged(t *testing.T) {
	if testing.Short() {
		t.Skip("kills executor processes")
	}
	c := startTestCluster(t)
	bucket := filepath.Join(c.DataDir, "bucket")
	const n, keys = 30000, 7
	id := c.submit(t, runningCountSpec(countJob{Prefix: "bounded/{job}/", Count: n, Keys: keys, Rate: 3000, Chunk: 1000, Interval: "200ms"}))
	area := "bounded/" + id + "/_staging/" + id + "/"
	c.killAndCheckRestartCleanup(t, id, area, rand.New(rand.NewPCG(5, 6)))
	zombie := area + "a1/out-00001-0123456789ab-7.jsonl"
	plant(t, bucket, zombie)
	job := c.waitJob(t, id, 2*time.Minute, api.JobFinished, api.JobFailed, api.JobCanceled)
	if job.State != api.JobFinished {
		t.Fatalf("job %s: %s", job.State, job.Error)
	}
	waitFor(t, time.Minute, "the job's staging directory to empty", func() bool {
		return len(stagedFiles(t, filepath.Join(bucket, area))) == 0
	})
	if got := stagedFiles(t, filepath.Join(bucket, "bounded", id)); len(got) == 0 || !allParts(got) {
		t.Errorf("the job's output directory holds %v, want only parts", got)
	}
	want := map[string]int64{}
	for i := int64(0); i < n; i++ {
		want[fmt.Sprintf("key-%d", i%keys)]++
	}
	checkRunningCountsOnce(t, filepath.Join(bucket, "bounded", id), want)
}

func allParts(files []string) bool {
	for _, f := range files {
		if !strings.HasPrefix(f, "part-") {
			return false
		}
	}
	return true
}

package archive

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/sluicehq/sluice/blobstate"
	"github.com/sluicehq/sluice/blobstate/blobstatetest"
	"github.com/sluicehq/sluice/coordinator/api"
)

// forEachBucket runs fn as a subtest on a fresh bucket of every kind:
// mem://, file:// and Azurite (skipped unless SLUICE_TEST_AZURITE is set).
func forEachBucket(t *testing.T, fn func(t *testing.T, b *blobstate.Bucket)) {
	t.Helper()
	open := map[string]func(t *testing.T) string{
		"mem":     func(*testing.T) string { return "mem://" },
		"file":    func(t *testing.T) string { return "file://" + t.TempDir() },
		"azurite": func(t *testing.T) string { return blobstatetest.NewContainer(t) },
	}
	for _, kind := range []string{"mem", "file", "azurite"} {
		t.Run(kind, func(t *testing.T) {
			url := open[kind](t)
			b, err := blobstate.OpenBucket(context.Background(), url, blobstate.Options{Getenv: blobstatetest.Getenv})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { b.Close() })
			fn(t, b)
		})
	}
}

// testArchive returns the archive of a small ended job.
func testArchive(t testing.TB, id, name string, state api.JobState, ended time.Time) *Archive {
	t.Helper()
	job := &api.Job{JobSummary: api.JobSummary{ID: id, Name: name, State: state, SubmittedAt: ended.Add(-time.Minute), EndedAt: &ended}}
	cps := &api.Checkpoints{Completed: 1, History: []api.CheckpointStatus{{ID: 1, Status: "COMPLETED", DurationMs: 12, Bytes: 345}}}
	ex := &Exceptions{History: []Exception{}}
	if state == api.JobFailed {
		e := Exception{Kind: KindJob, Message: "boom"}
		ex.RootCause, ex.History = &e, []Exception{e}
	}
	a, err := New(job, cps, ex, ended.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// writeJobs archives n jobs that ended one second apart from base, with
// states and names cycling, and returns their summaries newest first.
func writeJobs(t testing.TB, b *blobstate.Bucket, n int, base time.Time) []api.JobSummary {
	t.Helper()
	states := []api.JobState{api.JobFinished, api.JobFinished, api.JobCanceled, api.JobFailed}
	names := []string{"wordcount", "keyed-sum", "Word Count (nightly)", "événements"}
	out := make([]api.JobSummary, n)
	for i := range n {
		a := testArchive(t, fmt.Sprintf("%016x", 1000+i), names[i%len(names)], states[i%len(states)], base.Add(time.Duration(i)*time.Second))
		if _, err := Write(context.Background(), b, a); err != nil {
			t.Fatal(err)
		}
		out[n-1-i] = a.Job
	}
	return out
}

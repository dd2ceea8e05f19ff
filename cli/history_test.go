package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/archive"
	"github.com/sluicehq/sluice/blobstate/blobstatetest"
	"github.com/sluicehq/sluice/coordinator/api"
)

// endedJobs are the ids of three jobs that ended FINISHED, CANCELED and
// FAILED, each with checkpoints.
type endedJobs map[api.JobState]string

// runEndedJobs runs a bounded job to FINISHED, an unbounded one to
// CANCELED and one whose "fail" operator fails it (after a restart) to
// FAILED, all checkpointing every 100 ms. whileRunning, if set, is called
// while the unbounded job runs, with its id.
func runEndedJobs(t *testing.T, c *testCluster, whileRunning func(id string)) endedJobs {
	t.Helper()
	checkpointing := map[string]any{"interval": "100ms"}
	finished := c.submit(t, map[string]any{
		"name":          "history-finished",
		"defaults":      map[string]any{"parallelism": 2},
		"checkpointing": checkpointing,
		"vertices": []map[string]any{
			{"id": "gen", "operator": "datagen", "config": map[string]any{"count": 3000, "keys": 10, "rate": 1000, "chunk": 500}},
			{"id": "sum", "operator": "sum", "config": map[string]any{"field": "value"}},
			{"id": "out", "operator": "print"},
		},
		"edges": []map[string]any{{"from": "gen", "to": "sum", "partitioning": "hash", "key": "key"}, {"from": "sum", "to": "out"}},
	})
	failed := c.submit(t, map[string]any{
		"name":          "history-failed",
		"checkpointing": checkpointing,
		"restart":       map[string]any{"strategy": "fixed-delay", "delay": "100ms", "attempts": 1},
		"vertices": []map[string]any{
			{"id": "gen", "operator": "datagen", "config": map[string]any{"keys": 5, "rate": 1000}},
			{"id": "bad", "operator": "fail", "config": map[string]any{"after": 1000}},
			{"id": "out", "operator": "print"},
		},
		"edges": []map[string]any{{"from": "gen", "to": "bad"}, {"from": "bad", "to": "out"}},
	})
	canceled := c.submit(t, map[string]any{
		"name":          "history-canceled",
		"defaults":      map[string]any{"parallelism": 2},
		"checkpointing": checkpointing,
		"vertices": []map[string]any{
			{"id": "gen", "operator": "datagen", "config": map[string]any{"keys": 7, "rate": 500}},
			{"id": "cnt", "operator": "count", "config": map[string]any{"emit": "every"}},
			{"id": "slow", "operator": "slow", "config": map[string]any{"delay": "1ms"}},
		},
		"edges": []map[string]any{{"from": "gen", "to": "cnt", "partitioning": "hash", "key": "key"}, {"from": "cnt", "to": "slow", "partitioning": "rebalance"}},
	})
	c.waitJob(t, canceled, time.Minute, api.JobRunning)
	waitFor(t, time.Minute, "two checkpoints of the unbounded job", func() bool { return c.completedCheckpoints(t, canceled) >= 2 })
	if whileRunning != nil {
		whileRunning(canceled)
	}
	if _, err := c.client.Cancel(context.Background(), canceled); err != nil {
		t.Fatal(err)
	}
	out := endedJobs{}
	for want, id := range map[api.JobState]string{api.JobFinished: finished, api.JobCanceled: canceled, api.JobFailed: failed} {
		j := c.waitJob(t, id, 2*time.Minute, api.JobFinished, api.JobCanceled, api.JobFailed)
		if j.State != want {
			t.Fatalf("job %s (%s) is %s, want %s: %s", id, j.Name, j.State, want, j.Error)
		}
		out[want] = id
	}
	return out
}

// startHistoryCommand runs `sluice history --bucket URL --addr
// 127.0.0.1:0` in this process and returns its address.
func startHistoryCommand(t *testing.T, bucket string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out, errOut := &syncBuffer{}, &syncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, []string{"history", "--bucket", bucket, "--addr", "127.0.0.1:0", "--log-level", "warn"}, Options{Registry: testRegistry(), Stdout: out, Stderr: errOut})
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("sluice history exited with %d: %s", code, errOut)
		}
	})
	addr := regexp.MustCompile(`http://127\.0\.0\.1:\d+`)
	var url string
	waitFor(t, 30*time.Second, "sluice history to listen", func() bool {
		select {
		case code := <-done:
			t.Fatalf("sluice history exited with %d: %s", code, errOut)
		default:
		}
		url = addr.FindString(out.String())
		return url != ""
	})
	return url
}

// getJSON GETs url and decodes its JSON into v (a pointer), failing t on
// anything but 200.
func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", url, res.StatusCode, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("GET %s: %v in %s", url, err, body)
	}
}

// TestHistoryServesEndedJobs runs jobs to FINISHED, CANCELED and FAILED,
// then starts a fresh history server on the cluster's bucket (file:// and
// Azurite): it lists the three with their states and serves, for each, the
// JSON the coordinator served (job, checkpoints, exceptions). On file://
// the web UI is checked in headless Chromium too.
func TestHistoryServesEndedJobs(t *testing.T) {
	if testing.Short() {
		t.Skip("starts executor processes")
	}
	for _, backend := range []string{"file", "azurite"} {
		t.Run(backend, func(t *testing.T) {
			bucket := ""
			if backend == "azurite" {
				bucket = blobstatetest.NewContainer(t)
				useAzuriteAccount(t)
			}
			out := &syncBuffer{}
			cl, err := startCluster(context.Background(), clusterConfig{
				DataDir: t.TempDir(), Bucket: bucket, Registry: testRegistry(), Stdout: out, Logger: testLogger(t),
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { cl.Close() })
			c := &testCluster{cluster: cl, client: api.NewClient(cl.URL, ""), stdout: out}
			var live func(string)
			if backend == "file" {
				live = func(id string) { checkCoordinatorUI(t, c.URL, id) }
			}
			jobs := runEndedJobs(t, c, live)

			history := startHistoryCommand(t, c.Bucket)
			checkHistoryAPI(t, history, c, jobs)
			if backend == "file" {
				checkHistoryUI(t, history, jobs)
			}
		})
	}
}

// checkHistoryAPI checks the history server's answers against the
// coordinator's.
func checkHistoryAPI(t *testing.T, history string, c *testCluster, jobs endedJobs) {
	t.Helper()
	var page archive.Page
	waitFor(t, 30*time.Second, "the three archives in the history server's list", func() bool {
		getJSON(t, history+"/v1/jobs?limit=10", &page)
		return len(page.Jobs) == 3
	})
	for _, row := range page.Jobs {
		if jobs[row.State] != row.ID {
			t.Errorf("listed %s as %s; the jobs are %v", row.ID, row.State, jobs)
		}
		live, err := c.client.Job(context.Background(), row.ID)
		if err != nil {
			t.Fatal(err)
		}
		if row.Name != live.Name || !row.SubmittedAt.Equal(live.SubmittedAt.Truncate(time.Millisecond)) ||
			row.EndedAt == nil || !row.EndedAt.Equal(live.EndedAt.Truncate(time.Millisecond)) {
			t.Errorf("row %+v does not match the job %+v", row, live.JobSummary)
		}
	}
	for state, id := range jobs {
		var filtered archive.Page
		getJSON(t, history+"/v1/jobs?state="+string(state), &filtered)
		if len(filtered.Jobs) != 1 || filtered.Jobs[0].ID != id {
			t.Errorf("?state=%s lists %+v, want only %s", state, filtered.Jobs, id)
		}
		for _, path := range []string{archive.JobPath(id), archive.CheckpointsPath(id), archive.ExceptionsPath(id)} {
			var archived, served map[string]any
			getJSON(t, history+path, &archived)
			getJSON(t, c.URL+path, &served)
			delete(served, "stale") // a coordinator's own flag (a follower's copy)
			if !reflect.DeepEqual(archived, served) {
				a, _ := json.MarshalIndent(archived, "", " ")
				s, _ := json.MarshalIndent(served, "", " ")
				t.Errorf("%s: the history server serves\n%s\nthe coordinator\n%s", path, a, s)
			}
		}
		var job api.Job
		getJSON(t, history+archive.JobPath(id), &job)
		if job.State != state || job.Spec == nil || job.Plan == nil || len(job.Vertices) == 0 || len(job.Tasks) == 0 || job.EndedAt == nil {
			t.Errorf("archived job %s is incomplete: %+v", id, job)
		}
		var cps api.Checkpoints
		getJSON(t, history+archive.CheckpointsPath(id), &cps)
		if cps.Completed == 0 || len(cps.History) == 0 || cps.History[0].DurationMs < 0 {
			t.Errorf("archived %s job %s has no completed checkpoints: %+v", state, id, cps)
		}
		var ex archive.Exceptions
		getJSON(t, history+archive.ExceptionsPath(id), &ex)
		switch state {
		case api.JobFailed:
			if ex.RootCause == nil || !strings.Contains(ex.RootCause.Message, "boom") || ex.RootCause.Kind != archive.KindTask ||
				!strings.Contains(ex.RootCause.Task, "bad") {
				t.Errorf("root cause of the failed job: %+v", ex.RootCause)
			}
			kinds := map[string]int{}
			for _, e := range ex.History {
				kinds[e.Kind]++
			}
			if kinds[archive.KindRestart] != 1 || kinds[archive.KindJob] != 1 || kinds[archive.KindTask] == 0 {
				t.Errorf("exception history of the failed job: %v: %+v", kinds, ex.History)
			}
		default:
			if ex.RootCause != nil {
				t.Errorf("%s job %s has a root cause: %+v", state, id, ex.RootCause)
			}
		}
	}
	res, err := http.Get(history + "/v1/jobs/" + strings.Repeat("0", 16))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound {
		t.Errorf("unknown job: %d, want 404", res.StatusCode)
	}
	t.Logf("history server %s: %s", history, fmt.Sprint(jobs))
}

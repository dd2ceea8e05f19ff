package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/bench/corpus"
	"github.com/sluicehq/sluice/coordinator/api"
	"github.com/sluicehq/sluice/coordinator/store"
)

// killRandomExecutor SIGKILLs one live executor process of the job.
func (c *testCluster) killRandomExecutor(t *testing.T, id string, rng *rand.Rand) int {
	t.Helper()
	pids := executorProcesses(t, id)
	if len(pids) == 0 {
		t.Fatalf("no executor process of job %s to kill", id)
	}
	pid := pids[rng.IntN(len(pids))]
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill %d: %v", pid, err)
	}
	return pid
}

// completedCheckpoints returns how many checkpoints of the job completed.
func (c *testCluster) completedCheckpoints(t *testing.T, id string) int {
	t.Helper()
	cps, err := c.client.Checkpoints(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, h := range cps.History {
		if h.Status == "COMPLETED" && !h.Savepoint {
			n++
		}
	}
	return n
}

// readJSONLines reads every committed part file under dir (staging is
// hidden under _staging and skipped).
func readJSONLines(t *testing.T, dir string) []map[string]any {
	t.Helper()
	var rows []map[string]any
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			return err
		}
		if d.IsDir() {
			if strings.HasPrefix(d.Name(), "_") || strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasPrefix(d.Name(), "_") || strings.HasPrefix(d.Name(), ".") {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
		for sc.Scan() {
			var row map[string]any
			if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
				return fmt.Errorf("%s: %q: %v", p, sc.Text(), err)
			}
			rows = append(rows, row)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// TestUnboundedKeyedCountExactlyOnceUnderKills runs an unbounded keyed
// running count (one output record per input record) with checkpoints every
// 500 ms, SIGKILLs a random executor process 5 times at random moments,
// then stops the job with a savepoint. Every key's committed counts must be
// exactly 1..n, where n is what the sources had read at the savepoint: a
// gap would be a lost record, a repeat a record counted twice.
func TestUnboundedKeyedCountExactlyOnceUnderKills(t *testing.T) {
	if testing.Short() {
		t.Skip("kills executor processes")
	}
	c := startTestCluster(t)
	const keys = 13
	id := c.submit(t, runningCountSpec(countJob{Name: "unbounded-count", Keys: keys, Rate: 3000, Interval: "500ms"}))
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	for kill := 0; kill < 5; kill++ {
		before := c.completedCheckpoints(t, id)
		waitFor(t, time.Minute, "a checkpoint since the last kill", func() bool {
			j, err := c.client.Job(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			if j.State.Terminal() {
				t.Fatalf("job ended: %s %s", j.State, j.Error)
			}
			return j.State == api.JobRunning && c.completedCheckpoints(t, id) > before
		})
		time.Sleep(time.Duration(rng.IntN(700)) * time.Millisecond) // a random moment
		pid := c.killRandomExecutor(t, id, rng)
		t.Logf("kill %d: SIGKILLed executor pid %d", kill+1, pid)
	}
	bucket := filepath.Join(c.DataDir, "bucket")
	// Each kill rolls the sources back to the last checkpoint, so what they
	// have read can stay small; run on until a checkpoint holds enough
	// records for the exactness check below to prove something.
	waitFor(t, time.Minute, "recovery from the last kill and a checkpoint with 2000 records read", func() bool {
		j, err := c.client.Job(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		return len(j.Restarts) >= 5 && j.State == api.JobRunning && c.recordsAtLatestCheckpoint(t, bucket, id) >= 2000
	})
	sp, err := c.client.Savepoint(context.Background(), id, true)
	if err != nil {
		t.Fatalf("stop with savepoint: %v", err)
	}
	job := c.waitJob(t, id, time.Minute, api.JobCanceled, api.JobFailed)
	if job.State != api.JobCanceled {
		t.Fatalf("job %s after stop-with-savepoint: %s", job.State, job.Error)
	}
	if len(job.Restarts) < 5 {
		t.Errorf("%d restarts recorded, want at least 5", len(job.Restarts))
	}

	total, nkeys := checkExactRunningCounts(t, bucket, sp.Dir, filepath.Join(bucket, "counts", id), keys)
	t.Logf("%d records over %d keys, %d restarts, exactly once", total, nkeys, len(job.Restarts))
}

// recordsAtLatestCheckpoint is how many records the datagen sources had
// read at the job's newest completed checkpoint (0 before the first).
func (c *testCluster) recordsAtLatestCheckpoint(t *testing.T, bucketDir, id string) int64 {
	t.Helper()
	cps, err := c.client.Checkpoints(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	var latest *api.CheckpointStatus
	for i, h := range cps.History {
		if h.Status == "COMPLETED" && !h.Savepoint && (latest == nil || h.ID > latest.ID) {
			latest = &cps.History[i]
		}
	}
	if latest == nil {
		return 0
	}
	data, err := os.ReadFile(filepath.Join(bucketDir, latest.Path, "_metadata"))
	if os.IsNotExist(err) {
		return 0 // retired by a newer checkpoint meanwhile: ask again
	}
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, ps := range parseCheckpointMetadata(t, data).Sources["gen"] {
		n += ps.Skip
	}
	return n
}

func readSavepoint(t *testing.T, bucketDir, dir string) *store.CompletedCheckpoint {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(bucketDir, dir, "_metadata"))
	if err != nil {
		t.Fatalf("savepoint metadata: %v", err)
	}
	return parseCheckpointMetadata(t, data)
}

// parseCheckpointMetadata decodes the job state a _metadata object holds.
func parseCheckpointMetadata(t *testing.T, data []byte) *store.CompletedCheckpoint {
	t.Helper()
	var md struct {
		State json.RawMessage `json:"state"`
	}
	if err := json.Unmarshal(data, &md); err != nil {
		t.Fatal(err)
	}
	var cc store.CompletedCheckpoint
	if err := json.Unmarshal(md.State, &cc); err != nil {
		t.Fatalf("savepoint state: %v\n%s", err, data)
	}
	return &cc
}

// checkExactRunningCounts proves that a running count ("emit: every") over
// unbounded datagen, stopped with a savepoint, committed exactly once: every
// key's committed counts are exactly 1..n, n being what the sources had read
// at the savepoint (each split i yields ids i, i+p, ...; Skip is how many it
// had emitted). A gap is a lost record, a repeat a record counted twice.
func checkExactRunningCounts(t *testing.T, bucketDir, savepointDir, outDir string, keys int64) (total int64, nkeys int) {
	t.Helper()
	cc := readSavepoint(t, bucketDir, savepointDir)
	want := map[string]int64{}
	for _, ps := range cc.Sources["gen"] {
		var d struct{ Start, Step int64 }
		if err := json.Unmarshal(ps.Split.Data, &d); err != nil {
			t.Fatal(err)
		}
		for n := int64(0); n < ps.Skip; n++ {
			want[fmt.Sprintf("key-%d", (d.Start+n*d.Step)%keys)]++
		}
	}
	total = checkRunningCountsOnce(t, outDir, want)
	if total < 1000 {
		t.Fatalf("only %d records read at the savepoint: the test proved little", total)
	}
	return total, len(want)
}

// checkRunningCountsOnce checks that the running counts ("emit: every")
// committed under outDir are exactly 1..want[key] for every key, each once,
// and returns the number of records want counts.
func checkRunningCountsOnce(t *testing.T, outDir string, want map[string]int64) (total int64) {
	t.Helper()
	seen := map[string]map[int64]bool{}
	for _, row := range readJSONLines(t, outDir) {
		k := row["key"].(string)
		n := int64(row["count"].(float64))
		if seen[k] == nil {
			seen[k] = map[int64]bool{}
		}
		if seen[k][n] {
			t.Errorf("key %s: count %d committed twice", k, n)
		}
		seen[k][n] = true
	}
	for k, n := range want {
		total += n
		if int64(len(seen[k])) != n {
			t.Errorf("key %s: %d distinct counts committed, want %d", k, len(seen[k]), n)
		}
		for i := int64(1); i <= n; i++ {
			if !seen[k][i] {
				t.Errorf("key %s: count %d missing (lost record)", k, i)
				break
			}
		}
	}
	for k := range seen {
		if _, ok := want[k]; !ok {
			t.Errorf("key %s: %d counts committed, want none", k, len(seen[k]))
		}
	}
	return total
}

// TestBoundedWordCountKilledMidway kills an executor while the word count
// runs with checkpoints; the job recovers and its output is exact.
func TestBoundedWordCountKilledMidway(t *testing.T) {
	if testing.Short() {
		t.Skip("kills executor processes")
	}
	input := t.TempDir()
	var buf bytes.Buffer
	if err := corpus.Generate(&buf, corpus.Options{Seed: 5, Bytes: 16 << 20}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(input, "big.txt"), buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	want, err := corpus.Count(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	c := startTestCluster(t)
	spec := wordCountSpec(input, 2, true) // lines shuffled: more work, more in flight
	spec["checkpointing"] = map[string]any{"interval": "100ms"}
	spec["restart"] = map[string]any{"strategy": "fixed-delay", "delay": "50ms"}
	spec["vertices"].([]map[string]any)[0]["config"].(map[string]any)["splitSize"] = 256 << 10
	id := c.submit(t, spec)
	waitFor(t, time.Minute, "a checkpoint and some input read", func() bool {
		j, err := c.client.Job(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if j.State.Terminal() {
			t.Fatalf("job ended before the kill: %s %s", j.State, j.Error)
		}
		return c.completedCheckpoints(t, id) > 0 && j.Vertices[0].Metrics.RecordsOut > 5000
	})
	c.killRandomExecutor(t, id, rand.New(rand.NewPCG(1, 2)))
	job := c.waitJob(t, id, 2*time.Minute, api.JobFinished, api.JobFailed, api.JobCanceled)
	if job.State != api.JobFinished {
		t.Fatalf("job %s: %s", job.State, job.Error)
	}
	if len(job.Restarts) == 0 {
		t.Fatal("no restart recorded after the kill")
	}
	got, _ := readCounts(t, filepath.Join(c.DataDir, "bucket", "out", id))
	diffCounts(t, got, want)
}

// TestCorruptCheckpointFallsBack corrupts the newest checkpoint's state and
// kills an executor: recovery skips it for the previous one, with a warning.
func TestCorruptCheckpointFallsBack(t *testing.T) {
	if testing.Short() {
		t.Skip("kills executor processes")
	}
	c := startTestCluster(t)
	id := c.submit(t, map[string]any{
		"defaults":      map[string]any{"parallelism": 2},
		"checkpointing": map[string]any{"interval": "3s"},
		"restart":       map[string]any{"strategy": "fixed-delay", "delay": "50ms"},
		"vertices": []map[string]any{
			{"id": "gen", "operator": "datagen", "config": map[string]any{"keys": 50, "rate": 2000}},
			{"id": "cnt", "operator": "count"},
			{"id": "out", "operator": "print"},
		},
		"edges": []map[string]any{
			{"from": "gen", "to": "cnt", "partitioning": "hash", "key": "key"},
			{"from": "cnt", "to": "out"},
		},
	})
	waitFor(t, time.Minute, "two complete checkpoints", func() bool { return c.completedCheckpoints(t, id) >= 2 })
	cps, err := c.client.Checkpoints(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	var newest api.CheckpointStatus
	for _, h := range cps.History {
		if h.Status == "COMPLETED" && h.ID > newest.ID {
			newest = h
		}
	}
	pieces, _ := filepath.Glob(filepath.Join(c.DataDir, "bucket", newest.Path, "cnt-*"))
	if len(pieces) == 0 {
		t.Fatalf("no keyed state pieces in %s", newest.Path)
	}
	if err := os.Truncate(pieces[0], 3); err != nil {
		t.Fatal(err)
	}
	c.killRandomExecutor(t, id, rand.New(rand.NewPCG(3, 4)))
	var job *api.Job
	waitFor(t, time.Minute, "recovery", func() bool {
		j, err := c.client.Job(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		job = j
		return len(j.Restarts) > 0 && j.State == api.JobRunning && j.RestoredFrom != 0
	})
	if job.RestoredFrom >= newest.ID {
		t.Fatalf("restored from checkpoint %d, want one older than the corrupt %d (a newer one completed meanwhile?)", job.RestoredFrom, newest.ID)
	}
	found := false
	for _, w := range job.Warnings {
		if strings.Contains(w, fmt.Sprintf("checkpoint %d", newest.ID)) {
			found = true
		}
	}
	if !found {
		t.Fatalf("no warning about the corrupt checkpoint %d: %v", newest.ID, job.Warnings)
	}
	if _, err := c.client.Cancel(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	c.waitJob(t, id, time.Minute, api.JobCanceled)
}

// TestSavepointRescale takes a savepoint of a keyed count mid-way, then
// resumes it at another parallelism: the result is exactly that of an
// uninterrupted run.
func TestSavepointRescale(t *testing.T) {
	if testing.Short() {
		t.Skip("starts executor processes")
	}
	c := startTestCluster(t)
	const n, keys = 40000, 37
	spec := func(p int) map[string]any {
		return map[string]any{
			"defaults": map[string]any{"parallelism": p},
			"vertices": []map[string]any{
				{"id": "gen", "operator": "datagen", "config": map[string]any{"count": n, "keys": keys, "chunk": 1000, "rate": 20000 / p}},
				{"id": "cnt", "operator": "count"},
				{"id": "out", "operator": "files", "config": map[string]any{"prefix": "rescale/{job}/", "format": "jsonl"}},
			},
			"edges": []map[string]any{
				{"from": "gen", "to": "cnt", "partitioning": "hash", "key": "key"},
				{"from": "cnt", "to": "out"},
			},
		}
	}
	want := map[string]int64{}
	for i := 0; i < n; i++ {
		want[fmt.Sprintf("key-%d", i%keys)]++
	}
	for _, tc := range [][2]int{{2, 4}, {4, 1}} {
		t.Run(fmt.Sprintf("%d-to-%d", tc[0], tc[1]), func(t *testing.T) {
			first := c.submit(t, spec(tc[0]))
			waitFor(t, time.Minute, "the first run to be mid-way", func() bool {
				j, err := c.client.Job(context.Background(), first)
				if err != nil {
					t.Fatal(err)
				}
				return j.State == api.JobRunning && j.Vertices[0].Metrics.RecordsOut > n/5
			})
			sp, err := c.client.Savepoint(context.Background(), first, true)
			if err != nil {
				t.Fatal(err)
			}
			c.waitJob(t, first, time.Minute, api.JobCanceled)
			body, _ := json.Marshal(spec(tc[1]))
			second, err := c.client.SubmitFromSavepoint(context.Background(), body, "application/json", sp.URL)
			if err != nil {
				t.Fatal(err)
			}
			job := c.waitJob(t, second, time.Minute, api.JobFinished, api.JobFailed)
			if job.State != api.JobFinished {
				t.Fatalf("resumed job %s: %s", job.State, job.Error)
			}
			got := map[string]int64{}
			for _, row := range readJSONLines(t, filepath.Join(c.DataDir, "bucket", "rescale", second)) {
				got[row["key"].(string)] += int64(row["count"].(float64))
			}
			diffCounts(t, got, want)
			if rows := readJSONLines(t, filepath.Join(c.DataDir, "bucket", "rescale", first)); len(rows) != 0 {
				t.Errorf("the cancelled first run committed %d rows", len(rows))
			}
		})
	}
}

// TestIntermediateSavepointThenKill takes a savepoint without stopping the
// job and kills an executor before the next checkpoint: the job restores
// the checkpoint before the savepoint and processes the records after it
// again. The savepoint must not have committed its output (Flink's rule
// since 1.15), or those records would be committed twice.
func TestIntermediateSavepointThenKill(t *testing.T) {
	if testing.Short() {
		t.Skip("kills executor processes")
	}
	c := startTestCluster(t)
	const keys = 7
	id := c.submit(t, runningCountSpec(countJob{Name: "savepoint-then-kill", Keys: keys, Rate: 2000, Interval: "3s"}))
	waitFor(t, time.Minute, "a first checkpoint", func() bool { return c.completedCheckpoints(t, id) >= 1 })
	before := c.completedCheckpoints(t, id)
	sp, err := c.client.Savepoint(context.Background(), id, false)
	if err != nil {
		t.Fatalf("savepoint: %v", err)
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 11))
	pid := c.killRandomExecutor(t, id, rng)
	if after := c.completedCheckpoints(t, id); after != before {
		t.Skipf("a checkpoint (%d -> %d) completed between the savepoint and the kill: nothing to prove", before, after)
	}
	t.Logf("savepoint %s, then SIGKILLed executor pid %d before the next checkpoint", sp.Dir, pid)
	bucket := filepath.Join(c.DataDir, "bucket")
	waitFor(t, time.Minute, "recovery and a checkpoint after it", func() bool {
		j, err := c.client.Job(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		return len(j.Restarts) >= 1 && j.State == api.JobRunning && c.completedCheckpoints(t, id) > before
	})
	stop, err := c.client.Savepoint(context.Background(), id, true)
	if err != nil {
		t.Fatalf("stop with savepoint: %v", err)
	}
	if job := c.waitJob(t, id, time.Minute, api.JobCanceled, api.JobFailed); job.State != api.JobCanceled {
		t.Fatalf("job %s after stop-with-savepoint: %s", job.State, job.Error)
	}
	total, nkeys := checkExactRunningCounts(t, bucket, stop.Dir, filepath.Join(bucket, "counts", id), keys)
	t.Logf("%d records over %d keys, exactly once", total, nkeys)
}

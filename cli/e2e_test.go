package cli

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/sluicehq/sluice/bench/corpus"
	"github.com/sluicehq/sluice/coordinator/api"
)

// syncBuffer collects executors' stdout.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type testCluster struct {
	*cluster
	client *api.Client
	stdout *syncBuffer
}

func startTestCluster(t *testing.T) *testCluster {
	t.Helper()
	out := &syncBuffer{}
	c, err := startCluster(context.Background(), clusterConfig{
		DataDir:  t.TempDir(),
		Registry: testRegistry(),
		Stdout:   out,
		Logger:   testLogger(t),
	})
	if err != nil {
		t.Fatalf("start cluster: %v", err)
	}
	t.Cleanup(func() {
		c.Close()
		checkExecutorLogs(t, filepath.Join(c.DataDir, "logs"))
	})
	return &testCluster{cluster: c, client: api.NewClient(c.URL, ""), stdout: out}
}

// checkExecutorLogs fails the test when an executor process under -race
// reported a data race in its log.
func checkExecutorLogs(t *testing.T, dir string) {
	t.Helper()
	logs, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	for _, l := range logs {
		data, _ := os.ReadFile(l)
		if i := bytes.Index(data, []byte("WARNING: DATA RACE")); i >= 0 {
			t.Errorf("data race in executor log %s:\n%s", l, data[i:min(len(data), i+4000)])
		}
	}
}

func (c *testCluster) submit(t *testing.T, spec any) string {
	t.Helper()
	body, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	id, err := c.client.Submit(context.Background(), body, "application/json")
	if err != nil {
		t.Fatalf("submit: %v", err)
	}
	return id
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond) // polling interval
	}
}

func (c *testCluster) waitJob(t *testing.T, id string, timeout time.Duration, states ...api.JobState) *api.Job {
	t.Helper()
	var job *api.Job
	waitFor(t, timeout, fmt.Sprintf("job %s to be %v", id, states), func() bool {
		j, err := c.client.Job(context.Background(), id)
		if err != nil {
			t.Fatalf("get job: %v", err)
		}
		job = j
		for _, s := range states {
			if j.State == s {
				return true
			}
		}
		return false
	})
	return job
}

// executorProcesses lists the pids of live executor processes of a job,
// from /proc, as ps would show them.
func executorProcesses(t *testing.T, job string) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmd, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(cmd), "\x00")
		if len(args) > 1 && args[1] == "executor" && strings.Contains(string(cmd), "\x00--job\x00"+job+"\x00") {
			if st, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); err == nil && strings.Contains(string(st), ") Z ") {
				continue // a zombie is gone, only not yet reaped
			}
			pids = append(pids, pid)
		}
	}
	return pids
}

// --- corpus with every tricky case the files source must handle ---

func writeTrickyCorpus(t *testing.T, dir string) map[string]int64 {
	t.Helper()
	files := map[string][]byte{}
	var gen bytes.Buffer
	if err := corpus.Generate(&gen, corpus.Options{Seed: 42, Bytes: 200 << 10}); err != nil {
		t.Fatal(err)
	}
	files["generated.txt"] = gen.Bytes()
	var crlf bytes.Buffer
	if err := corpus.Generate(&crlf, corpus.Options{Seed: 43, Bytes: 60 << 10, CRLF: true}); err != nil {
		t.Fatal(err)
	}
	files["crlf.txt"] = crlf.Bytes()
	files["no-final-newline.txt"] = []byte("alpha beta\r\ngamma delta\nepsilon zeta eta")
	files["empty.txt"] = nil
	files["only-newlines.txt"] = []byte("\n\n\r\n\n")
	var long strings.Builder
	for i := 0; long.Len() < 300<<10; i++ { // one line far longer than any buffer
		fmt.Fprintf(&long, "long%d ", i%5000)
	}
	files["long-line.txt"] = []byte("before the long line\n" + long.String() + "\nafter the long line\n")
	var mb strings.Builder
	for i := 0; mb.Len() < 40<<10; i++ { // multi-byte characters at every offset
		mb.WriteString(strings.Repeat("ü", i%7) + "日本語 café naïve " + strconv.Itoa(i) + " straße\n")
	}
	files["multibyte.txt"] = []byte(mb.String())
	files["nested/deeper/more.txt"] = []byte("nested words here\nand here\n")

	want := map[string]int64{}
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		counts, err := corpus.Count(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		for w, n := range counts {
			want[w] += n
		}
	}
	return want
}

func wordCountSpec(inputDir string, p int, shuffleLines bool) map[string]any {
	lineEdge := map[string]any{"from": "lines", "to": "words"}
	if shuffleLines {
		lineEdge["partitioning"] = "rebalance"
	}
	return map[string]any{
		"name":     "wordcount-test",
		"defaults": map[string]any{"parallelism": p},
		"vertices": []map[string]any{
			{"id": "lines", "operator": "files", "config": map[string]any{"bucket": "file://" + inputDir, "prefix": "", "splitSize": 1024}},
			{"id": "words", "operator": "tokenize"},
			{"id": "count", "operator": "count"},
			{"id": "out", "operator": "files", "config": map[string]any{"prefix": "out/{job}/", "format": "csv", "fields": []string{"word", "count"}}},
		},
		"edges": []map[string]any{
			lineEdge,
			{"from": "words", "to": "count", "partitioning": "hash", "key": "word"},
			{"from": "count", "to": "out"},
		},
	}
}

// readCounts reads every CSV part file under dir and fails on a word that
// appears twice.
func readCounts(t *testing.T, dir string) (map[string]int64, int) {
	t.Helper()
	got := map[string]int64{}
	files := 0
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.HasPrefix(d.Name(), "_") || strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return filepath.SkipDir // staging is not output
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		files++
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		rows, err := csv.NewReader(f).ReadAll()
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		for _, row := range rows {
			n, err := strconv.ParseInt(row[1], 10, 64)
			if err != nil {
				return fmt.Errorf("%s: %v", p, err)
			}
			if _, dup := got[row[0]]; dup {
				t.Errorf("word %q appears in more than one output row", row[0])
			}
			got[row[0]] = n
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got, files
}

func diffCounts(t *testing.T, got, want map[string]int64) {
	t.Helper()
	bad := 0
	for w, n := range want {
		if got[w] != n {
			if bad < 10 {
				t.Errorf("count of %q = %d, want %d", w, got[w], n)
			}
			bad++
		}
	}
	for w, n := range got {
		if _, ok := want[w]; !ok {
			if bad < 10 {
				t.Errorf("unexpected word %q (count %d)", w, n)
			}
			bad++
		}
	}
	if bad > 0 {
		t.Fatalf("%d words differ (of %d expected)", bad, len(want))
	}
}

func TestWordCountExactOutput(t *testing.T) {
	if testing.Short() {
		t.Skip("starts executor processes")
	}
	input := t.TempDir()
	want := writeTrickyCorpus(t, input)
	c := startTestCluster(t)
	for _, tc := range []struct {
		p       int
		shuffle bool
	}{{1, false}, {2, false}, {4, false}, {2, true}, {4, true}} {
		t.Run(fmt.Sprintf("p%d-shuffle-lines-%v", tc.p, tc.shuffle), func(t *testing.T) {
			id := c.submit(t, wordCountSpec(input, tc.p, tc.shuffle))
			job := c.waitJob(t, id, 2*time.Minute, api.JobFinished, api.JobFailed, api.JobCanceled)
			if job.State != api.JobFinished {
				t.Fatalf("job %s: %s", job.State, job.Error)
			}
			got, files := readCounts(t, filepath.Join(c.DataDir, "bucket", "out", id))
			if files != tc.p {
				t.Errorf("%d part files, want one per sink subtask (%d)", files, tc.p)
			}
			diffCounts(t, got, want)
			if n := len(executorProcesses(t, id)); n != 0 {
				t.Errorf("%d executor processes left after the job finished", n)
			}
			for _, e := range job.Executors {
				if !e.Exited {
					t.Errorf("executor %s not reported as exited", e.ID)
				}
			}
			var lines api.VertexStatus
			for _, v := range job.Vertices {
				if v.ID == "lines" {
					lines = v
				}
			}
			if lines.Metrics.RecordsOut == 0 {
				t.Errorf("no records-out metric for the source: %+v", lines)
			}
		})
	}
}

func TestOneExecutorProcessPerSlotAndCancel(t *testing.T) {
	if testing.Short() {
		t.Skip("starts executor processes")
	}
	c := startTestCluster(t)
	id := c.submit(t, map[string]any{
		"name":     "endless",
		"defaults": map[string]any{"parallelism": 4},
		"vertices": []map[string]any{
			{"id": "gen", "operator": "datagen", "config": map[string]any{"rate": 2000}},
			{"id": "sum", "operator": "sum", "config": map[string]any{"field": "value", "emit": "every"}},
			{"id": "out", "operator": "print"},
		},
		"edges": []map[string]any{
			{"from": "gen", "to": "sum", "partitioning": "hash", "key": "key"},
			{"from": "sum", "to": "out"},
		},
	})
	c.waitJob(t, id, time.Minute, api.JobRunning)
	waitFor(t, 30*time.Second, "4 executor processes", func() bool { return len(executorProcesses(t, id)) == 4 })
	waitFor(t, 30*time.Second, "printed records", func() bool { return strings.Contains(c.stdout.String(), "out:") })
	if _, err := c.client.Cancel(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	job := c.waitJob(t, id, time.Minute, api.JobCanceled, api.JobFailed, api.JobFinished)
	if job.State != api.JobCanceled {
		t.Fatalf("job %s after cancel (%s), want CANCELED", job.State, job.Error)
	}
	if pids := executorProcesses(t, id); len(pids) != 0 {
		t.Fatalf("executor processes left after cancel: %v", pids)
	}
}

func TestCancelBeforeExecutorsRegister(t *testing.T) {
	if testing.Short() {
		t.Skip("starts executor processes")
	}
	c := startTestCluster(t)
	id := c.submit(t, map[string]any{
		"vertices": []map[string]any{
			{"id": "gen", "operator": "datagen", "parallelism": 3},
			{"id": "out", "operator": "print", "parallelism": 3},
		},
		"edges": []map[string]any{{"from": "gen", "to": "out"}},
	})
	if _, err := c.client.Cancel(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	job := c.waitJob(t, id, time.Minute, api.JobCanceled, api.JobFailed, api.JobFinished)
	if job.State != api.JobCanceled {
		t.Fatalf("job %s, want CANCELED", job.State)
	}
	if pids := executorProcesses(t, id); len(pids) != 0 {
		t.Fatalf("executor processes left after cancel: %v", pids)
	}
}

func TestFailingOperatorFailsJob(t *testing.T) {
	if testing.Short() {
		t.Skip("starts executor processes")
	}
	c := startTestCluster(t)
	id := c.submit(t, map[string]any{
		"defaults": map[string]any{"parallelism": 2},
		"vertices": []map[string]any{
			{"id": "gen", "operator": "datagen", "config": map[string]any{"count": 100000}},
			{"id": "bad", "operator": "fail", "config": map[string]any{"after": 10}},
			{"id": "out", "operator": "print"},
		},
		"edges": []map[string]any{{"from": "gen", "to": "bad", "partitioning": "rebalance"}, {"from": "bad", "to": "out"}},
	})
	job := c.waitJob(t, id, time.Minute, api.JobFailed, api.JobFinished, api.JobCanceled)
	if job.State != api.JobFailed {
		t.Fatalf("job %s, want FAILED", job.State)
	}
	if !strings.Contains(job.Error, "boom") || !strings.Contains(job.Error, "bad") {
		t.Errorf("job error %q should carry the operator's error and name its vertex", job.Error)
	}
	if pids := executorProcesses(t, id); len(pids) != 0 {
		t.Fatalf("executor processes left after failure: %v", pids)
	}
}

func TestInvalidSpecsAreRejectedAndNothingStarts(t *testing.T) {
	c := startTestCluster(t)
	input := t.TempDir()
	for _, tc := range []struct {
		name string
		spec string
		want []string
	}{
		{
			name: "three mistakes",
			spec: `{"vertices":[
				{"id":"src","operator":"datagen","config":{"cuont":5}},
				{"id":"cnt","operator":"count","config":{"as":"n"}},
				{"id":"out","operator":"files","parallelism":1000,"config":{"format":"csv","fields":["n"],"prefix":"x/"}}],
			  "edges":[{"from":"src","to":"cnt","partitioning":"hash"},{"from":"cnt","to":"out"}]}`,
			want: []string{`vertices[0].config.cuont: unknown field "cuont"`, "edges[0].key", "vertices[2].parallelism"},
		},
		{
			name: "unknown operator",
			spec: `{"vertices":[{"id":"a","operator":"datagen"},{"id":"b","operator":"mapp"}],"edges":[{"from":"a","to":"b"}]}`,
			want: []string{`vertices[1].operator: unknown operator "mapp"`},
		},
		{
			name: "cycle",
			spec: `{"vertices":[{"id":"a","operator":"datagen"},{"id":"b","operator":"filter","config":{"expr":"true"}},{"id":"c","operator":"filter","config":{"expr":"true"}},{"id":"d","operator":"print"}],
			  "edges":[{"from":"a","to":"b"},{"from":"b","to":"c"},{"from":"c","to":"b"},{"from":"c","to":"d"}]}`,
			want: []string{"cycle"},
		},
		{
			name: "missing input prefix",
			spec: `{"vertices":[{"id":"in","operator":"files","config":{"bucket":"file://` + input + `","prefix":"nothing-here/"}},{"id":"out","operator":"print"}],"edges":[{"from":"in","to":"out"}]}`,
			want: []string{"vertices[0].config.prefix", "nothing-here/"},
		},
		{
			name: "malformed json",
			spec: `{"vertices": [`,
			want: []string{"invalid job spec"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.client.Submit(context.Background(), []byte(tc.spec), "application/json")
			var se *api.StatusError
			if !errors.As(err, &se) || se.Status != http.StatusBadRequest {
				t.Fatalf("submit: %v, want a 400", err)
			}
			all := se.Message + "\n" + strings.Join(se.Details, "\n")
			for _, w := range tc.want {
				if !strings.Contains(all, w) {
					t.Errorf("error does not mention %q:\n%s", w, all)
				}
			}
			if tc.name == "three mistakes" && len(se.Details) != 3 {
				t.Errorf("%d errors, want exactly 3:\n%s", len(se.Details), all)
			}
		})
	}
	jobs, err := c.client.Jobs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 0 {
		t.Fatalf("rejected specs created jobs: %+v", jobs)
	}
	resp, err := http.Post(c.URL+"/v1/jobs", "application/json", io.LimitReader(zeros{}, 5<<20))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized body: status %d, want 413", resp.StatusCode)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = ' '
	}
	return len(p), nil
}

// TestSlowSinkBoundsMemory runs an unbounded, unthrottled source into a sink
// that takes 200µs per record. Without backpressure the source would pile up
// millions of records; with credit-based flow control it is held to the
// sink's pace and each executor's in-flight buffer memory stays within the
// exchange's bound.
func TestSlowSinkBoundsMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("starts executor processes")
	}
	c := startTestCluster(t)
	id := c.submit(t, map[string]any{
		"defaults": map[string]any{"parallelism": 2},
		"vertices": []map[string]any{
			{"id": "gen", "operator": "datagen"},
			{"id": "sink", "operator": "slow", "config": map[string]any{"delay": "200us"}},
		},
		"edges": []map[string]any{{"from": "gen", "to": "sink", "partitioning": "hash", "key": "key"}},
	})
	var job *api.Job
	waitFor(t, time.Minute, "the slow sink to take 5000 records and the metrics to be reported", func() bool {
		j, err := c.client.Job(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		job = j
		return j.Vertices[1].Metrics.RecordsIn >= 5000 && j.Executors[0].MaxInflightBytes > 0 && j.Executors[1].MaxInflightBytes > 0
	})
	// Per executor: 2 input channels x 4 credits x 32 KiB on the consumer
	// side, plus 1 remote output x 2 queued x 32 KiB on the producer side.
	const bound = 2*4*32<<10 + 1*2*32<<10
	for _, e := range job.Executors {
		if e.MaxInflightBytes > bound {
			t.Errorf("executor %s held %d in-flight bytes, bound %d", e.ID, e.MaxInflightBytes, bound)
		}
		t.Logf("executor %s: max in-flight %d bytes (bound %d), peak RSS %d MiB", e.ID, e.MaxInflightBytes, bound, e.MaxRSSBytes>>20)
	}
	gen, sink := job.Vertices[0].Metrics.RecordsOut, job.Vertices[1].Metrics.RecordsIn
	// a datagen record encodes to ~25 bytes: at most ~bound/25 records per
	// executor can be between the source and the sink, plus one unpublished
	// metrics batch per counter
	if gap := gen - sink; gap > 2*(bound/20)+8192 {
		t.Errorf("source ran %d records ahead of the sink (source %d, sink %d): not backpressured", gap, gen, sink)
	}
	if _, err := c.client.Cancel(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	c.waitJob(t, id, time.Minute, api.JobCanceled)
}

// testLogger is silent unless SLUICE_TEST_LOG is set (then it logs to stderr).
func testLogger(t *testing.T) zerolog.Logger {
	if os.Getenv("SLUICE_TEST_LOG") == "" {
		return zerolog.Nop()
	}
	return zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr}).With().Timestamp().Str("test", t.Name()).Logger()
}

// TestCombinedCountByExpressionKey shuffles by an expression key with
// combiners before the shuffle: partial counts must reach the subtask that
// owns the key and add up exactly.
func TestCombinedCountByExpressionKey(t *testing.T) {
	if testing.Short() {
		t.Skip("starts executor processes")
	}
	c := startTestCluster(t)
	id := c.submit(t, map[string]any{
		"defaults": map[string]any{"parallelism": 3},
		"vertices": []map[string]any{
			{"id": "gen", "operator": "datagen", "config": map[string]any{"count": 30000, "keys": 7, "chunk": 1000}},
			{"id": "cnt", "operator": "count"},
			{"id": "out", "operator": "files", "config": map[string]any{"prefix": "k/{job}/", "format": "jsonl"}},
		},
		"edges": []map[string]any{
			{"from": "gen", "to": "cnt", "partitioning": "hash", "key": `upper(key) + "!"`},
			{"from": "cnt", "to": "out"},
		},
	})
	job := c.waitJob(t, id, time.Minute, api.JobFinished, api.JobFailed)
	if job.State != api.JobFinished {
		t.Fatalf("job %s: %s", job.State, job.Error)
	}
	got := map[string]int64{}
	for _, row := range readJSONLines(t, filepath.Join(c.DataDir, "bucket", "k", id)) {
		k := row["key"].(string)
		if _, dup := got[k]; dup {
			t.Errorf("key %q in more than one row", k)
		}
		got[k] = int64(row["count"].(float64))
	}
	want := map[string]int64{}
	for i := 0; i < 30000; i++ {
		want[fmt.Sprintf("KEY-%d!", i%7)]++
	}
	diffCounts(t, got, want)
}

package cli

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/blobstate"
	"github.com/sluicehq/sluice/blobstate/blobstatetest"
	"github.com/sluicehq/sluice/coordinator/api"
)

// useAzuriteAccount gives this process, and so the executor processes it
// starts, the Azurite development account's credentials.
func useAzuriteAccount(t *testing.T) {
	for _, kv := range blobstatetest.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
}

func openAzuriteBucket(t *testing.T, url string) *blobstate.Bucket {
	t.Helper()
	b, err := blobstate.OpenBucket(context.Background(), url, blobstate.Options{Getenv: blobstatetest.Getenv})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// readBlobCounts reads every word,count CSV object under prefix and fails
// on a word that appears twice.
func readBlobCounts(t *testing.T, b *blobstate.Bucket, prefix string) (map[string]int64, int) {
	t.Helper()
	objs, err := b.List(context.Background(), prefix, "")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, o := range objs {
		data, err := b.Read(context.Background(), o.Key)
		if err != nil {
			t.Fatal(err)
		}
		rows, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
		if err != nil {
			t.Fatalf("%s: %v", o.Key, err)
		}
		for _, row := range rows {
			n, err := strconv.ParseInt(row[1], 10, 64)
			if err != nil {
				t.Fatalf("%s: %v", o.Key, err)
			}
			if _, dup := got[row[0]]; dup {
				t.Errorf("word %q appears in more than one output row", row[0])
			}
			got[row[0]] = n
		}
	}
	return got, len(objs)
}

// TestRunWordCountOnAzurite is `sluice run --bucket azblob://...` end to
// end: the corpus is uploaded to an Azurite container, the files source
// reads it from the job's default bucket there, and the files sink writes
// the counts back to it.
func TestRunWordCountOnAzurite(t *testing.T) {
	if testing.Short() {
		t.Skip("starts executor processes")
	}
	url := blobstatetest.NewContainer(t)
	useAzuriteAccount(t)
	b := openAzuriteBucket(t, url)
	ctx := context.Background()

	local := t.TempDir()
	want := writeTrickyCorpus(t, local)
	err := filepath.WalkDir(local, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(local, p)
		return b.Write(ctx, "corpus/"+filepath.ToSlash(rel), data)
	})
	if err != nil {
		t.Fatal(err)
	}
	spec := map[string]any{
		"name":     "wordcount-azurite",
		"defaults": map[string]any{"parallelism": 2},
		"vertices": []map[string]any{
			{"id": "lines", "operator": "files", "config": map[string]any{"prefix": "corpus/", "splitSize": 16 << 10}},
			{"id": "words", "operator": "tokenize"},
			{"id": "count", "operator": "count"},
			{"id": "out", "operator": "files", "config": map[string]any{"prefix": "out/{job}/", "format": "csv", "fields": []string{"word", "count"}}},
		},
		"edges": []map[string]any{
			{"from": "lines", "to": "words"},
			{"from": "words", "to": "count", "partitioning": "hash", "key": "word"},
			{"from": "count", "to": "out"},
		},
	}
	specFile := filepath.Join(t.TempDir(), "wordcount.json")
	body, _ := json.Marshal(spec)
	if err := os.WriteFile(specFile, body, 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr syncBuffer
	dataDir := t.TempDir()
	code := Main(ctx, []string{"run", "--quiet", "--data-dir", dataDir, "--bucket", url, specFile},
		Options{Registry: testRegistry(), Stdout: &stdout, Stderr: &stderr})
	if code != 0 {
		t.Fatalf("sluice run exited %d:\n%s", code, stderr.String())
	}
	got, files := readBlobCounts(t, b, "out/")
	if files != 2 {
		t.Errorf("%d output objects, want one per sink subtask (2)", files)
	}
	diffCounts(t, got, want)
	if _, err := os.Stat(filepath.Join(dataDir, "bucket")); err == nil {
		t.Errorf("a local bucket was created next to the azblob one")
	}
	t.Logf("sluice run output:\n%s", stderr.String())
}

// TestAzuriteRestartDuringWrites stops Azurite while a job streams 60 MB
// of output into it, waits until each sink subtask's upload has been
// refused, and starts Azurite again on the same port and data: the refused
// uploads are retried, and the job finishes with every record written
// exactly once.
func TestAzuriteRestartDuringWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("starts executor processes and its own Azurite")
	}
	const (
		count   = 60_000
		keys    = 97
		padding = 1000 // bytes per record: ~30 MB per sink subtask, ~4 blocks of 8 MB
		rate    = 3000 // records per second per source subtask: ~10 s of writing
	)
	az := blobstatetest.StartTest(t)
	url := blobstatetest.URL(az.Endpoint, "restart")
	if err := blobstatetest.CreateContainer(context.Background(), url); err != nil {
		t.Fatal(err)
	}
	useAzuriteAccount(t)
	// executors log the Azure SDK's retries to their log files
	t.Setenv("AZURE_SDK_GO_LOGGING", "all")
	dataDir := t.TempDir()
	out := &syncBuffer{}
	cl, err := startCluster(context.Background(), clusterConfig{
		DataDir: dataDir, Bucket: url, Registry: testRegistry(), Stdout: out, Logger: testLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	c := &testCluster{cluster: cl, client: api.NewClient(cl.URL, ""), stdout: out}

	id := c.submit(t, map[string]any{
		"name":     "write-heavy",
		"defaults": map[string]any{"parallelism": 2},
		"vertices": []map[string]any{
			{"id": "gen", "operator": "datagen", "config": map[string]any{"count": count, "keys": keys, "rate": rate, "chunk": 5000}},
			{"id": "pad", "operator": "map", "config": map[string]any{"set": map[string]string{"pad": fmt.Sprintf(`repeat("x", %d)`, padding)}}},
			{"id": "out", "operator": "files", "config": map[string]any{"prefix": "out/{job}/", "format": "csv", "fields": []string{"id", "key", "pad"}}},
		},
		"edges": []map[string]any{{"from": "gen", "to": "pad"}, {"from": "pad", "to": "out"}},
	})
	sinkIn := func() int64 {
		j, err := c.client.Job(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if j.State.Terminal() {
			t.Fatalf("job %s %s before the outage was over: %s", id, j.State, j.Error)
		}
		for _, v := range j.Vertices {
			if v.ID == "out" {
				return v.Metrics.RecordsIn
			}
		}
		return 0
	}
	// a block of 8 MB per sink subtask has been uploaded
	waitFor(t, 2*time.Minute, "30% of the records at the sink", func() bool { return sinkIn() >= count*3/10 })
	if err := az.Stop(); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	before := sinkIn()
	// the sinks go on taking records into their upload buffers; as each
	// fills a block, its upload is refused and retried
	waitFor(t, 2*time.Minute, "an upload of each sink subtask to be refused while Azurite is down", func() bool {
		sinkIn() // fails the test if the job ended
		stats := retryStats(t, dataDir)
		for _, st := range stats {
			if st.refused == 0 {
				return false
			}
		}
		return len(stats) > 0
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := az.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("Azurite was down for %s; the sink took %d records meanwhile", time.Since(stopped).Round(time.Millisecond), sinkIn()-before)

	job := c.waitJob(t, id, 3*time.Minute, api.JobFinished, api.JobFailed, api.JobCanceled)
	if job.State != api.JobFinished {
		t.Fatalf("job %s: %s", job.State, job.Error)
	}
	b := openAzuriteBucket(t, url)
	objs, err := b.List(context.Background(), "out/"+id+"/", "")
	if err != nil {
		t.Fatal(err)
	}
	seen := make([]bool, count)
	rows := 0
	pad := strings.Repeat("x", padding)
	for _, o := range objs {
		data, err := b.Read(context.Background(), o.Key)
		if err != nil {
			t.Fatal(err)
		}
		for line := range strings.Lines(string(data)) {
			f := strings.Split(strings.TrimSuffix(line, "\n"), ",")
			n, err := strconv.Atoi(f[0])
			if len(f) != 3 || err != nil || n < 0 || n >= count || f[1] != fmt.Sprintf("key-%d", n%keys) || f[2] != pad {
				t.Fatalf("%s: bad row %.80q", o.Key, line)
			}
			if seen[n] {
				t.Fatalf("record %d written twice", n)
			}
			seen[n] = true
			rows++
		}
	}
	if rows != count {
		t.Fatalf("%d records in %d objects, want %d", rows, len(objs), count)
	}

	// the uploads refused during the outage were retried until they worked
	refused, retried := 0, 0
	for _, st := range retryStats(t, dataDir) {
		refused += st.refused
		retried += st.retried
	}
	if refused == 0 || retried < refused {
		t.Fatalf("executor logs show %d refused and %d retried requests", refused, retried)
	}
	t.Logf("executors retried %d requests, %d of them refused while Azurite was down", retried, refused)
}

type retryStat struct{ requests, refused, retried int }

// retryStats counts, in the log of each executor that used the bucket, the
// requests that the Azure SDK's retry policy sent, saw refused, and retried
// (AZURE_SDK_GO_LOGGING=all).
func retryStats(t *testing.T, dataDir string) map[string]retryStat {
	logs, _ := filepath.Glob(filepath.Join(dataDir, "logs", "*.log"))
	stats := map[string]retryStat{}
	for _, f := range logs {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var st retryStat
		for line := range strings.Lines(string(data)) {
			if !strings.Contains(line, "] Retry: ") {
				continue
			}
			if strings.Contains(line, "error") && strings.Contains(line, "connection refused") {
				st.refused++
			}
			if strings.Contains(line, "=====> Try=") {
				st.requests++
				if !strings.Contains(line, "Try=1 ") {
					st.retried++
				}
			}
		}
		if st.requests > 0 {
			stats[filepath.Base(f)] = st
		}
	}
	return stats
}

package coordinator

import (
	"context"
	"encoding/json"
	"github.com/rs/zerolog"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/archive"
	"github.com/sluicehq/sluice/blobstate"
	"github.com/sluicehq/sluice/coordinator/api"
	"github.com/sluicehq/sluice/coordinator/store"
	"github.com/sluicehq/sluice/executor/builtin"
)

// singleNode is a one-node coordinator group with a file:// bucket and no
// agents: jobs wait in CREATED until they are cancelled, so they end
// without executor processes.
type singleNode struct {
	st     *store.Store
	c      *Coordinator
	srv    *httptest.Server
	bucket *blobstate.Bucket
	client *api.Client
}

func startSingleNode(t *testing.T, tune func(*Config)) *singleNode {
	t.Helper()
	st, err := store.Open(store.Config{Dir: t.TempDir(), Bootstrap: true})
	if err != nil {
		t.Fatal(err)
	}
	bucketURL := "file://" + t.TempDir()
	cfg := Config{Store: st, Registry: builtin.NewRegistry(), OpenBucket: blobstate.Open, Bucket: bucketURL, AgentTimeout: time.Hour}
	if tune != nil {
		tune(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	n := &singleNode{st: st, c: c, srv: httptest.NewServer(c.Handler())}
	c.SetURL(n.srv.URL)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = c.Run(ctx)
	}()
	t.Cleanup(func() {
		n.srv.Close()
		cancel()
		<-done
		c.Close()
		st.Close()
	})
	if n.bucket, err = blobstate.OpenBucket(context.Background(), bucketURL, blobstate.Options{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.bucket.Close() })
	n.client = api.NewClient(n.srv.URL, "")
	n.client.Retry = 10 * time.Second
	wctx, wcancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer wcancel()
	if err := c.WaitLeading(wctx); err != nil {
		t.Fatal(err)
	}
	return n
}

func testSpec(name string) []byte {
	spec, _ := json.Marshal(map[string]any{
		"name":     name,
		"vertices": []map[string]any{{"id": "gen", "operator": "datagen", "config": map[string]any{"count": 10}}, {"id": "out", "operator": "print"}},
		"edges":    []map[string]any{{"from": "gen", "to": "out"}},
	})
	return spec
}

// waitUntil polls cond until it holds or the deadline passes.
func waitUntil(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(10 * time.Millisecond) // polling interval, not synchronisation
	}
}

// rawCall makes a request and returns the status, a header and the body.
func (n *singleNode) rawCall(t *testing.T, method, path, header string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest(method, n.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get(header), string(body)
}

// endJob submits a job and cancels it; it ends CANCELED.
func (n *singleNode) endJob(t *testing.T, name string) string {
	t.Helper()
	ctx := context.Background()
	id, err := n.client.Submit(ctx, testSpec(name), "application/json")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.client.Cancel(ctx, id); err != nil {
		t.Fatal(err)
	}
	return id
}

// TestEndedJobIsRetiredAndServedFromItsArchive: with no retention, a job
// that ends is archived and leaves the store; its pages still answer,
// from the archive, with its final state; it is not listed; cancel and
// savepoint say it ended.
func TestEndedJobIsRetiredAndServedFromItsArchive(t *testing.T) {
	n := startSingleNode(t, func(c *Config) { c.RetainEnded = -1 })
	ctx := context.Background()
	id := n.endJob(t, "retire-me")
	waitUntil(t, 20*time.Second, "the job to be retired from the store", func() bool {
		_, ok := n.st.Job(id)
		return !ok
	})
	if ok, err := n.bucket.Exists(ctx, archive.Key(id)); err != nil || !ok {
		t.Fatalf("the retired job's archive: exists %v, %v", ok, err)
	}

	j, err := n.client.Job(ctx, id)
	if err != nil {
		t.Fatalf("GET a retired job: %v", err)
	}
	if j.ID != id || j.Name != "retire-me" || j.State != api.JobCanceled || j.EndedAt == nil || len(j.Vertices) != 2 {
		t.Fatalf("the retired job from its archive: %+v", j)
	}
	code, archived, _ := n.rawCall(t, http.MethodGet, "/v1/jobs/"+id, api.HeaderArchived)
	if code != http.StatusOK || archived != "true" {
		t.Fatalf("GET a retired job: %d, %s %q", code, api.HeaderArchived, archived)
	}
	if _, err := n.client.Checkpoints(ctx, id); err != nil {
		t.Fatalf("checkpoints of a retired job: %v", err)
	}
	if code, _, body := n.rawCall(t, http.MethodGet, "/v1/jobs/"+id+"/exceptions", ""); code != http.StatusOK || !strings.Contains(body, "history") {
		t.Fatalf("exceptions of a retired job: %d %s", code, body)
	}
	jobs, err := n.client.Jobs(ctx)
	if err != nil || len(jobs) != 0 {
		t.Fatalf("job list after the retire: %+v, %v", jobs, err)
	}

	for _, call := range []struct {
		name string
		do   func() error
	}{
		{"cancel", func() error { _, err := n.client.Cancel(ctx, id); return err }},
		{"savepoint", func() error { _, err := n.client.Savepoint(ctx, id, false); return err }},
	} {
		err := call.do()
		if !api.IsStatus(err, http.StatusConflict) || !strings.Contains(err.Error(), "ended (CANCELED)") {
			t.Errorf("%s of a retired job: %v, want 409 saying it ended CANCELED", call.name, err)
		}
	}
	for _, path := range []string{"/v1/jobs/0123456789abcdef", "/v1/jobs/0123456789abcdef/checkpoints", "/v1/jobs/0123456789abcdef/exceptions", "/v1/jobs/no..such"} {
		if code, _, body := n.rawCall(t, http.MethodGet, path, ""); code != http.StatusNotFound {
			t.Errorf("GET %s of a job never run: %d %s", path, code, body)
		}
	}
	if code, _, body := n.rawCall(t, http.MethodPost, "/v1/jobs/0123456789abcdef/cancel", ""); code != http.StatusNotFound {
		t.Errorf("cancel of a job never run: %d %s", code, body)
	}
}

// TestRetainEndedMaxRetiresTheEarliestEnded keeps one ended job: of three,
// the two that ended first are retired (once archived), the last stays.
func TestRetainEndedMaxRetiresTheEarliestEnded(t *testing.T) {
	n := startSingleNode(t, func(c *Config) { c.RetainEndedMax = 1 })
	var ids []string
	for _, name := range []string{"first", "second", "third"} {
		id := n.endJob(t, name)
		waitUntil(t, 20*time.Second, name+" to end", func() bool {
			j, ok := n.st.Job(id)
			return !ok || j.State.Terminal()
		})
		ids = append(ids, id)
	}
	waitUntil(t, 20*time.Second, "two of three ended jobs to be retired", func() bool {
		return len(n.st.Jobs()) == 1
	})
	if _, ok := n.st.Job(ids[2]); !ok {
		t.Fatalf("the job that ended last was retired; left: %+v", n.st.Ended())
	}
	for _, id := range ids[:2] {
		if j, err := n.client.Job(context.Background(), id); err != nil || j.State != api.JobCanceled {
			t.Errorf("retired job %s: %+v, %v", id, j, err)
		}
	}
}

// TestRepeatedSubmitCreatesOneJob: the same idempotency key answers the
// same job, also after the job was retired; another key or none makes
// another job; the key with another spec is refused.
func TestRepeatedSubmitCreatesOneJob(t *testing.T) {
	n := startSingleNode(t, func(c *Config) { c.RetainEnded = -1 })
	ctx := context.Background()
	spec := testSpec("once")
	a, err := n.client.SubmitWithKey(ctx, spec, "application/json", "", "key-a")
	if err != nil {
		t.Fatal(err)
	}
	a2, err := n.client.SubmitWithKey(ctx, spec, "application/json", "", "key-a")
	if err != nil || a2 != a {
		t.Fatalf("the same key again: %q, %v; want %q", a2, err, a)
	}
	b, err := n.client.SubmitWithKey(ctx, spec, "application/json", "", "key-b")
	if err != nil || b == a {
		t.Fatalf("another key: %q, %v", b, err)
	}
	if got := len(n.st.Jobs()); got != 2 {
		t.Fatalf("%d jobs after two keys, one sent twice; want 2", got)
	}
	if _, err := n.client.SubmitWithKey(ctx, testSpec("other"), "application/json", "", "key-a"); !api.IsStatus(err, http.StatusUnprocessableEntity) {
		t.Fatalf("the key with another spec: %v, want 422", err)
	}
	for i := 0; i < 2; i++ {
		if _, err := n.client.SubmitWithKey(ctx, spec, "application/json", "", ""); err != nil {
			t.Fatal(err)
		}
	}
	if got := len(n.st.Jobs()); got != 4 {
		t.Fatalf("%d jobs after two submissions without a key; want 4", got)
	}

	// the key outlives the job in the store: its archive answers
	if _, err := n.client.Cancel(ctx, a); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 20*time.Second, "the job to be retired", func() bool {
		_, ok := n.st.Job(a)
		return !ok
	})
	a3, err := n.client.SubmitWithKey(ctx, spec, "application/json", "", "key-a")
	if err != nil || a3 != a {
		t.Fatalf("the key of a retired job: %q, %v; want %q", a3, err, a)
	}
	if _, ok := n.st.Job(a); ok {
		t.Fatal("a repeated submission brought back a retired job")
	}
}

// TestSubmitRetriedAfterALostAnswer: the first node the client tries
// passes the submission on and drops the connection before answering (a
// leader that died after committing); the client retries on the next node
// with the same key and gets the same job, and only one exists.
func TestSubmitRetriedAfterALostAnswer(t *testing.T) {
	n := startSingleNode(t, nil)
	target, _ := url.Parse(n.srv.URL)
	var mu sync.Mutex
	var keys []string
	dying := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		keys = append(keys, r.Header.Get(api.HeaderIdempotencyKey))
		mu.Unlock()
		body, _ := io.ReadAll(r.Body)
		req, _ := http.NewRequest(r.Method, target.String()+r.URL.RequestURI(), strings.NewReader(string(body)))
		req.Header = r.Header.Clone()
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close() // committed; the answer is lost
		}
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.(*net.TCPConn).SetLinger(0)
			conn.Close()
		}
	}))
	defer dying.Close()
	cl := api.NewClient(dying.URL+","+n.srv.URL, "")
	cl.Retry = 10 * time.Second
	id, err := cl.Submit(context.Background(), testSpec("retried"), "application/json")
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	seen := append([]string(nil), keys...)
	mu.Unlock()
	if len(seen) != 1 || seen[0] == "" {
		t.Fatalf("idempotency keys the first node saw: %q", seen)
	}
	jobs := n.st.Jobs()
	if len(jobs) != 1 || jobs[0].ID != id || jobs[0].IdempotencyKey != seen[0] {
		t.Fatalf("jobs after a retried submission: %d (answered %s)", len(jobs), id)
	}
	// every call makes a new key: a second Submit is a second job
	if id2, err := cl.Submit(context.Background(), testSpec("retried"), "application/json"); err != nil || id2 == id {
		t.Fatalf("a second call: %q, %v", id2, err)
	}
	if got := len(n.st.Jobs()); got != 2 {
		t.Fatalf("%d jobs after two calls, want 2", got)
	}
}

// TestRetireWaitsForStagingCleanUp: a job whose sink staging cannot be
// cleaned up (its bucket's directory is gone) stays in the store,
// archived, however due; once the bucket is back, the staging is cleaned
// and only then the job is retired, so no staged object outlives the
// job's record.
func TestRetireWaitsForStagingCleanUp(t *testing.T) {
	sinkDir := filepath.Join(t.TempDir(), "sink")
	sinkURL := "file://" + sinkDir
	refusals := &lineCounter{want: "clean up its sink staging"}
	n := startSingleNode(t, func(c *Config) {
		c.RetainEnded = -1
		c.Logger = zerolog.New(refusals)
	})
	ctx := context.Background()
	spec, _ := json.Marshal(map[string]any{
		"name": "staged",
		"vertices": []map[string]any{
			{"id": "gen", "operator": "datagen", "config": map[string]any{"count": 10}},
			{"id": "out", "operator": "files", "config": map[string]any{"bucket": sinkURL, "prefix": "out/{job}/"}},
		},
		"edges": []map[string]any{{"from": "gen", "to": "out"}},
	})
	id, err := n.client.Submit(ctx, spec, "application/json")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.client.Cancel(ctx, id); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 20*time.Second, "the archive and a retirement refused for the staging", func() bool {
		ok, err := n.bucket.Exists(ctx, archive.Key(id))
		return err == nil && ok && refusals.count() > 0
	})
	if _, ok := n.st.Job(id); !ok {
		t.Fatal("the job was retired while its staging could not be cleaned up")
	}
	// the bucket is back, with what a killed attempt left staged
	staged := filepath.Join(sinkDir, "out", id, "_staging", id, "a1", "out-0-zz-1.jsonl")
	if err := os.MkdirAll(filepath.Dir(staged), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(staged, []byte("{}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 30*time.Second, "the job to be retired", func() bool {
		_, ok := n.st.Job(id)
		return !ok
	})
	if _, err := os.Stat(staged); !os.IsNotExist(err) {
		t.Fatalf("staged object after the job was retired: %v", err)
	}
}

// lineCounter counts the log lines that contain want.
type lineCounter struct {
	want string
	mu   sync.Mutex
	n    int
}

func (l *lineCounter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n += strings.Count(string(p), l.want)
	return len(p), nil
}

func (l *lineCounter) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n
}

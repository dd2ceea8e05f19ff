package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/coordinator/api"
)

// A coordinator group of real processes for the cluster tests: three
// `sluice coordinator` nodes on 127.0.0.1-3 (real Raft over TCP) and
// agents on 127.0.0.4 and up, every call authenticated with a token.

const groupToken = "group-test-token"

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// sluiceBinary builds the sluice binary once per test package.
func sluiceBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "sluice-bin-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "sluice")
		args := []string{"build", "-o", binPath}
		if raceEnabled {
			args = append(args, "-race")
		}
		cmd := exec.Command("go", append(args, "./cmd/sluice")...)
		cmd.Dir = repoRoot(t)
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// freeAddr returns a free TCP address on ip.
func freeAddr(t *testing.T, ip string) string {
	t.Helper()
	ln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

type groupNode struct {
	id, raft, addr string
	cmd            *exec.Cmd
}

type groupAgent struct {
	id, addr string
	cmd      *exec.Cmd
}

type group struct {
	t      *testing.T
	bin    string
	dir    string
	bucket string // directory
	peers  string
	nodes  []*groupNode
	agents []*groupAgent
	client *api.Client
	env    []string // extra environment of the coordinator nodes
}

// startGroup starts three coordinator nodes, with env added to their
// environment, and the agents.
func startGroup(t *testing.T, agents int, env ...string) *group {
	t.Helper()
	g := &group{t: t, bin: sluiceBinary(t), dir: t.TempDir(), env: env}
	g.bucket = filepath.Join(g.dir, "bucket")
	if err := os.MkdirAll(g.bucket, 0o755); err != nil {
		t.Fatal(err)
	}
	var peers, urls []string
	for i := 1; i <= 3; i++ {
		ip := fmt.Sprintf("127.0.0.%d", i)
		n := &groupNode{id: fmt.Sprintf("n%d", i), raft: freeAddr(t, ip), addr: freeAddr(t, ip)}
		g.nodes = append(g.nodes, n)
		peers = append(peers, n.id+"="+n.raft)
		urls = append(urls, "http://"+n.addr)
	}
	g.peers = strings.Join(peers, ",")
	for i := range g.nodes {
		g.startNode(i)
	}
	g.client = api.NewClient(strings.Join(urls, ","), groupToken)
	g.client.Retry = 20 * time.Second
	t.Cleanup(g.stop)
	for i := 0; i < agents; i++ {
		g.startAgent(fmt.Sprintf("a%d", i+1), fmt.Sprintf("127.0.0.%d", 4+i))
	}
	waitFor(t, time.Minute, fmt.Sprintf("a leader and %d agents", agents), func() bool {
		c, err := g.client.Cluster(context.Background())
		return err == nil && c.Leader != "" && len(c.Agents) == agents
	})
	return g
}

func (g *group) logFile(name string) *os.File {
	f, err := os.OpenFile(filepath.Join(g.dir, name+".log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		g.t.Fatal(err)
	}
	return f
}

func (g *group) startNode(i int) {
	n := g.nodes[i]
	cmd := exec.Command(g.bin, "coordinator", "--id", n.id, "--data-dir", g.dir, "--addr", n.addr,
		"--raft", n.raft, "--peers", g.peers, "--bucket", "file://"+g.bucket,
		"--agent-timeout", "3s", "--log-level", "debug")
	cmd.Env = append(append(os.Environ(), "SLUICE_TOKEN="+groupToken), g.env...)
	cmd.Stderr = g.logFile(n.id)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		g.t.Fatal(err)
	}
	n.cmd = cmd
}

func (g *group) startAgent(id, ip string) {
	var urls []string
	for _, n := range g.nodes {
		urls = append(urls, "http://"+n.addr)
	}
	a := &groupAgent{id: id, addr: freeAddr(g.t, ip)}
	cmd := exec.Command(g.bin, "agent", "--id", id, "--slots", "4", "--coordinator", strings.Join(urls, ","),
		"--addr", a.addr, "--data-dir", g.dir, "--heartbeat-interval", "200ms", "--token-file", g.tokenFile())
	cmd.Stderr = g.logFile("agent-" + id)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		g.t.Fatal(err)
	}
	a.cmd = cmd
	g.agents = append(g.agents, a)
}

func (g *group) tokenFile() string {
	p := filepath.Join(g.dir, "token")
	if err := os.WriteFile(p, []byte(groupToken+"\n"), 0o600); err != nil {
		g.t.Fatal(err)
	}
	return p
}

// kill SIGKILLs a process and reaps it.
func kill(cmd *exec.Cmd) {
	if cmd == nil || cmd.Process == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
}

func (g *group) killNode(i int) {
	kill(g.nodes[i].cmd)
	g.nodes[i].cmd = nil
}

func (g *group) stop() {
	for _, a := range g.agents {
		kill(a.cmd)
	}
	for _, n := range g.nodes {
		kill(n.cmd)
	}
	// with -race, the coordinator, agent and executor processes report
	// races in their logs
	logs, _ := filepath.Glob(filepath.Join(g.dir, "*.log"))
	exlogs, _ := filepath.Glob(filepath.Join(g.dir, "agent-*", "logs", "*.log"))
	logs = append(logs, exlogs...)
	for _, l := range logs {
		if data, _ := os.ReadFile(l); strings.Contains(string(data), "WARNING: DATA RACE") {
			i := strings.Index(string(data), "WARNING: DATA RACE")
			g.t.Errorf("data race in %s:\n%s", l, string(data)[i:min(len(data), i+3000)])
		}
	}
	if g.t.Failed() {
		for _, name := range []string{"n1", "n2", "n3", "agent-a1", "agent-a2"} {
			data, _ := os.ReadFile(filepath.Join(g.dir, name+".log"))
			lines := strings.Split(strings.TrimSpace(string(data)), "\n")
			if len(lines) > 40 {
				lines = lines[len(lines)-40:]
			}
			g.t.Logf("--- %s.log (tail) ---\n%s", name, strings.Join(lines, "\n"))
		}
		logs, _ := filepath.Glob(filepath.Join(g.dir, "agent-*", "logs", "*.log"))
		for _, l := range logs {
			data, _ := os.ReadFile(l)
			lines := strings.Split(strings.TrimSpace(string(data)), "\n")
			if len(lines) > 15 {
				lines = lines[len(lines)-15:]
			}
			g.t.Logf("--- %s (tail) ---\n%s", l, strings.Join(lines, "\n"))
		}
	}
}

// leader returns the index of the node that leads.
func (g *group) leader() int {
	g.t.Helper()
	var idx int
	waitFor(g.t, 30*time.Second, "a leader", func() bool {
		c, err := g.client.Cluster(context.Background())
		if err != nil || c.Leader == "" {
			return false
		}
		for i, n := range g.nodes {
			if n.id == c.Leader && n.cmd != nil {
				idx = i
				return true
			}
		}
		return false
	})
	return idx
}

// nodeClient calls one node only, without retries.
func (g *group) nodeClient(i int) *api.Client {
	return api.NewClient("http://"+g.nodes[i].addr, groupToken)
}

func (g *group) submit(spec any) string {
	g.t.Helper()
	body, err := json.Marshal(spec)
	if err != nil {
		g.t.Fatal(err)
	}
	id, err := g.client.Submit(context.Background(), body, "application/json")
	if err != nil {
		g.t.Fatalf("submit: %v", err)
	}
	return id
}

func (g *group) job(id string) *api.Job {
	g.t.Helper()
	j, err := g.client.Job(context.Background(), id)
	if err != nil {
		g.t.Fatal(err)
	}
	return j
}

func (g *group) completed(id string) int {
	g.t.Helper()
	cps, err := g.client.Checkpoints(context.Background(), id)
	if err != nil {
		g.t.Fatal(err)
	}
	n := 0
	for _, h := range cps.History {
		if h.Status == "COMPLETED" && !h.Savepoint {
			n++
		}
	}
	return n
}

// unboundedCountSpec is a keyed running count with one output record per
// input record, checkpointed often, into the exactly-once files sink.
func unboundedCountSpec(keys int) map[string]any {
	return runningCountSpec(countJob{Name: "group-count", Keys: int64(keys), Rate: 2000, Interval: "300ms"})
}

// countJob describes a keyed running count ("emit: every", one output
// record per input record) over datagen at p=2 into the exactly-once files
// sink.
type countJob struct {
	Name   string
	Prefix string // default counts/{job}/ (checkExactRunningCounts reads it)
	Count  int64  // records; 0 is unbounded
	Keys   int64
	Rate   int // records per second
	Chunk  int // datagen's chunk; 0 is its default
	// Interval is the checkpoint interval.
	Interval string
}

func runningCountSpec(o countJob) map[string]any {
	if o.Prefix == "" {
		o.Prefix = "counts/{job}/"
	}
	gen := map[string]any{"count": o.Count, "keys": o.Keys, "rate": o.Rate}
	if o.Chunk > 0 {
		gen["chunk"] = o.Chunk
	}
	return map[string]any{
		"name":          o.Name,
		"defaults":      map[string]any{"parallelism": 2},
		"checkpointing": map[string]any{"interval": o.Interval, "timeout": "10s"},
		"restart":       map[string]any{"strategy": "fixed-delay", "delay": "50ms", "attempts": 20},
		"vertices": []map[string]any{
			{"id": "gen", "operator": "datagen", "config": gen},
			{"id": "cnt", "operator": "count", "config": map[string]any{"emit": "every"}},
			{"id": "out", "operator": "files", "config": map[string]any{"prefix": o.Prefix, "format": "jsonl"}},
		},
		"edges": []map[string]any{
			{"from": "gen", "to": "cnt", "partitioning": "hash", "key": "key"},
			{"from": "cnt", "to": "out"},
		},
	}
}

// stopAndCheckExact stops the job with a savepoint and checks that every
// key's committed counts are exactly 1..n, n being what the sources had
// read at the savepoint.
func (g *group) stopAndCheckExact(id string, keys int) *api.Job {
	g.t.Helper()
	t := g.t
	sp, err := g.client.Savepoint(context.Background(), id, true)
	if err != nil {
		t.Fatalf("stop with savepoint: %v", err)
	}
	var job *api.Job
	waitFor(t, time.Minute, "the job to be cancelled", func() bool {
		job = g.job(id)
		return job.State.Terminal()
	})
	if job.State != api.JobCanceled {
		t.Fatalf("job %s after stop-with-savepoint: %s", job.State, job.Error)
	}
	total, nkeys := checkExactRunningCounts(t, g.bucket, sp.Dir, filepath.Join(g.bucket, "counts", id), int64(keys))
	t.Logf("%d records over %d keys, exactly once", total, nkeys)
	return job
}

// rawGet GETs a path from one node and returns the status, the stale
// header and the body.
func (g *group) rawGet(i int, path string) (int, string, []byte) {
	g.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+g.nodes[i].addr+path, nil)
	req.Header.Set("Authorization", "Bearer "+groupToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		// a node that was just restarted may not listen yet: callers
		// that wait on a condition poll again
		return 0, "", []byte(err.Error())
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return resp.StatusCode, resp.Header.Get(api.HeaderStale), []byte(b.String())
}

// checkpointInFlight polls node i until the job has a checkpoint in
// progress; it reports whether it saw one within timeout.
func (g *group) checkpointInFlight(i int, id string, timeout time.Duration) bool {
	c := g.nodeClient(i)
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		cps, err := c.Checkpoints(context.Background(), id)
		if err == nil {
			if n := len(cps.History); n > 0 && cps.History[n-1].Status == "IN_PROGRESS" {
				return true
			}
		}
		time.Sleep(2 * time.Millisecond) // polling for a short-lived state
	}
	return false
}

// Command failover is the coordinator failover benchmark. It runs a group
// of three `sluice coordinator` processes (127.0.0.1-3) and two agents
// (127.0.0.4-5), runs an unbounded checkpointing job (a keyed running count
// whose every 50th output record is printed), and SIGKILLs the leader
// -kills times, restarting each killed node. It reports:
//
//  1. the time from the kill to a new leader answering a write (a no-op
//     through Raft, POST /v1/cluster/ping), median and maximum;
//
//  2. the job's throughput around each failover, counted at the print sink
//     from the agents' stdout (so independently of the coordinators) in
//     100 ms buckets: the smallest bucket during the failover shows whether
//     the data plane ever stopped;
//
//  3. whether any task was restarted (the job's attempt must stay 1).
//
//     go run ./bench/failover [-kills 5]
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sluicehq/sluice/coordinator/api"
)

const token = "bench-failover-token"

func main() {
	kills := flag.Int("kills", 5, "leader kills")
	bin := flag.String("bin", "", "sluice binary; default: go build ./cmd/sluice")
	settle := flag.Duration("settle", 3*time.Second, "steady running before each kill")
	flag.Parse()
	if err := run(*kills, *bin, *settle); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// meter counts printed records in 100 ms buckets.
type meter struct {
	mu      sync.Mutex
	start   time.Time
	buckets []int
}

const bucket = 100 * time.Millisecond

func (m *meter) add(at time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	i := int(at.Sub(m.start) / bucket)
	for len(m.buckets) <= i {
		m.buckets = append(m.buckets, 0)
	}
	m.buckets[i]++
}

// window returns the buckets covering [from, to).
func (m *meter) window(from, to time.Time) []int {
	m.mu.Lock()
	defer m.mu.Unlock()
	a, b := int(from.Sub(m.start)/bucket), int(to.Sub(m.start)/bucket)
	var out []int
	for i := a; i < b; i++ {
		n := 0
		if i >= 0 && i < len(m.buckets) {
			n = m.buckets[i]
		}
		out = append(out, n)
	}
	return out
}

type proc struct {
	name string
	args []string
	cmd  *exec.Cmd
}

type bench struct {
	bin, dir string
	nodes    []*proc
	addrs    []string
	agents   []*proc
	m        *meter
	client   *api.Client
}

func freeAddr(ip string) (string, error) {
	ln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func (b *bench) start(p *proc, stdout io.Writer) error {
	log, err := os.OpenFile(filepath.Join(b.dir, p.name+".log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(b.bin, p.args...)
	cmd.Env = append(os.Environ(), "SLUICE_TOKEN="+token)
	cmd.Stderr = log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if stdout != nil {
		pr, err := cmd.StdoutPipe()
		if err != nil {
			return err
		}
		go b.count(pr)
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	p.cmd = cmd
	return nil
}

// count meters the print sink's lines on an agent's stdout.
func (b *bench) count(r io.Reader) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "sluice agent") {
			continue
		}
		b.m.add(time.Now())
	}
}

func kill(p *proc) {
	if p.cmd != nil {
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		_ = p.cmd.Wait()
		p.cmd = nil
	}
}

func run(kills int, bin string, settle time.Duration) error {
	dir, err := os.MkdirTemp("", "sluice-failover-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if bin == "" {
		bin = filepath.Join(dir, "sluice")
		if out, err := exec.Command("go", "build", "-o", bin, "./cmd/sluice").CombinedOutput(); err != nil {
			return fmt.Errorf("go build: %v\n%s", err, out)
		}
	}
	b := &bench{bin: bin, dir: dir, m: &meter{start: time.Now()}}
	defer func() {
		for _, p := range append(b.agents, b.nodes...) {
			kill(p)
		}
	}()
	bucketDir := filepath.Join(dir, "bucket")
	if err := os.MkdirAll(bucketDir, 0o755); err != nil {
		return err
	}
	var peers, urls []string
	raft := make([]string, 3)
	for i := range raft {
		ip := fmt.Sprintf("127.0.0.%d", i+1)
		if raft[i], err = freeAddr(ip); err != nil {
			return err
		}
		addr, err := freeAddr(ip)
		if err != nil {
			return err
		}
		b.addrs = append(b.addrs, addr)
		peers = append(peers, fmt.Sprintf("n%d=%s", i+1, raft[i]))
		urls = append(urls, "http://"+addr)
	}
	for i := range raft {
		p := &proc{name: fmt.Sprintf("n%d", i+1), args: []string{"coordinator", "--id", fmt.Sprintf("n%d", i+1),
			"--data-dir", dir, "--addr", b.addrs[i], "--raft", raft[i], "--peers", strings.Join(peers, ","),
			"--bucket", "file://" + bucketDir, "--log-level", "warn"}}
		b.nodes = append(b.nodes, p)
		if err := b.start(p, nil); err != nil {
			return err
		}
	}
	for i := 0; i < 2; i++ {
		addr, err := freeAddr(fmt.Sprintf("127.0.0.%d", 4+i))
		if err != nil {
			return err
		}
		p := &proc{name: fmt.Sprintf("agent-a%d", i+1), args: []string{"agent", "--id", fmt.Sprintf("a%d", i+1), "--slots", "4",
			"--coordinator", strings.Join(urls, ","), "--addr", addr, "--data-dir", dir, "--heartbeat-interval", "200ms", "--log-level", "warn"}}
		b.agents = append(b.agents, p)
		if err := b.start(p, io.Discard); err != nil {
			return err
		}
	}
	b.client = api.NewClient(strings.Join(urls, ","), token)
	b.client.Retry = 30 * time.Second
	ctx := context.Background()
	if err := waitUntil(time.Minute, func() bool {
		c, err := b.client.Cluster(ctx)
		return err == nil && c.Leader != "" && len(c.Agents) == 2
	}); err != nil {
		return fmt.Errorf("group not up: %w", err)
	}
	spec, _ := json.Marshal(map[string]any{
		"name":          "failover-bench",
		"defaults":      map[string]any{"parallelism": 2},
		"checkpointing": map[string]any{"interval": "500ms", "timeout": "10s"},
		"vertices": []map[string]any{
			{"id": "gen", "operator": "datagen", "config": map[string]any{"keys": 16, "rate": 10000}},
			{"id": "cnt", "operator": "count", "config": map[string]any{"emit": "every", "as": "n"}},
			{"id": "some", "operator": "filter", "config": map[string]any{"expr": "n % 50 == 0"}},
			{"id": "out", "operator": "print"},
		},
		"edges": []map[string]any{
			{"from": "gen", "to": "cnt", "partitioning": "hash", "key": "key"},
			{"from": "cnt", "to": "some"},
			{"from": "some", "to": "out"},
		},
	})
	id, err := b.client.Submit(ctx, spec, "application/json")
	if err != nil {
		return err
	}
	if err := waitUntil(time.Minute, func() bool {
		j, err := b.client.Job(ctx, id)
		return err == nil && j.State == api.JobRunning
	}); err != nil {
		return fmt.Errorf("job not running: %w", err)
	}

	type result struct {
		leader           string
		failover         time.Duration
		baseline, during float64 // records/s
		minBucket        int
	}
	var results []result
	for k := 0; k < kills; k++ {
		time.Sleep(settle) // steady state before the kill: this is what is measured
		c, err := b.client.Cluster(ctx)
		if err != nil {
			return err
		}
		l := -1
		for i := range b.nodes {
			if fmt.Sprintf("n%d", i+1) == c.Leader {
				l = i
			}
		}
		if l < 0 {
			return fmt.Errorf("no leader among the nodes: %q", c.Leader)
		}
		t0 := time.Now()
		kill(b.nodes[l])
		d, err := b.firstWrite(l)
		if err != nil {
			return err
		}
		time.Sleep(time.Second) // the window after the failover
		base := b.m.window(t0.Add(-2*time.Second), t0)
		during := b.m.window(t0, t0.Add(d+time.Second))
		r := result{leader: c.Leader, failover: d, baseline: rate(base), during: rate(during), minBucket: minOf(during)}
		results = append(results, r)
		fmt.Fprintf(os.Stderr, "kill %d: leader %s, new leader answered a write after %s; %.0f rec/s before, %.0f during (smallest 100 ms bucket: %d records)\n",
			k+1, r.leader, d.Round(time.Millisecond), r.baseline, r.during, r.minBucket)
		if err := b.start(b.nodes[l], nil); err != nil {
			return err
		}
	}
	j, err := b.client.Job(ctx, id)
	if err != nil {
		return err
	}
	var ds []time.Duration
	for _, r := range results {
		ds = append(ds, r.failover)
	}
	sort.Slice(ds, func(a, b int) bool { return ds[a] < ds[b] })
	fmt.Printf("\n| kill | old leader | kill -> write answered | records/s before | records/s during failover (+1 s) | smallest 100 ms bucket |\n|---|---|---|---|---|---|\n")
	for i, r := range results {
		fmt.Printf("| %d | %s | %d ms | %.0f | %.0f | %d |\n", i+1, r.leader, r.failover.Milliseconds(), r.baseline, r.during, r.minBucket)
	}
	fmt.Printf("\nfailover: median %d ms, max %d ms over %d kills; job %s, attempt %d, %d restarts\n",
		ds[len(ds)/2].Milliseconds(), ds[len(ds)-1].Milliseconds(), len(ds), j.State, j.Attempt, len(j.Restarts))
	_, _ = b.client.Cancel(ctx, id)
	return nil
}

// firstWrite polls the surviving nodes with no-op writes until one is
// answered, and returns the time since the kill started.
func (b *bench) firstWrite(killed int) (time.Duration, error) {
	start := time.Now()
	for time.Since(start) < 30*time.Second {
		for i, addr := range b.addrs {
			if i == killed {
				continue
			}
			c := api.NewClient("http://"+addr, token)
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			_, err := c.Ping(ctx)
			cancel()
			if err == nil {
				return time.Since(start), nil
			}
		}
		time.Sleep(10 * time.Millisecond) // polling pace
	}
	return 0, fmt.Errorf("no write answered within 30 s of the kill")
}

func rate(buckets []int) float64 {
	if len(buckets) == 0 {
		return 0
	}
	n := 0
	for _, b := range buckets {
		n += b
	}
	return float64(n) / (float64(len(buckets)) * bucket.Seconds()) * 50 // every 50th record is printed
}

func minOf(xs []int) int {
	m := -1
	for _, x := range xs {
		if m < 0 || x < m {
			m = x
		}
	}
	return m
}

func waitUntil(timeout time.Duration, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if cond() {
			return nil
		}
		time.Sleep(100 * time.Millisecond) // polling pace
	}
	return fmt.Errorf("timed out after %s", timeout)
}

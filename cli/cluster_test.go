package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/coordinator/api"
)

// TestClusterLeaderFailoverKeepsTasksRunning runs an unbounded checkpointing
// job on a group of three coordinator processes and two agents, and
// SIGKILLs the leader three times (restarting each killed node): the job
// stays RUNNING without a single task restart (attempt 1, no restarts),
// checkpoints keep completing under each new leader, and the committed
// output is exact.
func TestClusterLeaderFailoverKeepsTasksRunning(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a coordinator group of real processes")
	}
	g := startGroup(t, 2)
	const keys = 11
	id := g.submit(unboundedCountSpec(keys))
	waitFor(t, time.Minute, "the job running with 2 checkpoints", func() bool {
		j := g.job(id)
		if j.State.Terminal() {
			t.Fatalf("job ended: %s %s", j.State, j.Error)
		}
		return j.State == api.JobRunning && g.completed(id) >= 2
	})
	agents := map[string]bool{}
	for _, e := range g.job(id).Executors {
		agents[e.Agent] = true
		if want := map[string]string{"a1": "127.0.0.4:", "a2": "127.0.0.5:"}[e.Agent]; !strings.HasPrefix(e.DataAddr, want) {
			t.Errorf("executor %s on agent %s has data address %s, want one on %s", e.ID, e.Agent, e.DataAddr, want)
		}
	}
	if len(agents) != 2 {
		t.Errorf("executors run on agents %v, want both agents", agents)
	}
	aborted := 0
	for kill := 1; kill <= 3; kill++ {
		l := g.leader()
		before := g.completed(id)
		// kill while a checkpoint is in flight, when that can be caught:
		// its sink output must then be committed with a later checkpoint
		inFlight := g.checkpointInFlight(l, id, 5*time.Second)
		start := time.Now()
		g.killNode(l)
		if _, err := g.client.Ping(context.Background()); err != nil {
			t.Fatalf("kill %d: no new leader: %v", kill, err)
		}
		t.Logf("kill %d: SIGKILLed leader %s (checkpoint in flight: %v); a new leader answered writes after %s", kill, g.nodes[l].id, inFlight, time.Since(start).Round(time.Millisecond))
		g.startNode(l)
		waitFor(t, time.Minute, "checkpoints completing under the new leader", func() bool {
			return g.completed(id) >= before+2
		})
		j := g.job(id)
		if j.State != api.JobRunning || j.Attempt != 1 || len(j.Restarts) != 0 {
			t.Fatalf("kill %d: job %s, attempt %d, %d restarts (%v): a task was restarted", kill, j.State, j.Attempt, len(j.Restarts), j.Restarts)
		}
		for _, ts := range j.Tasks {
			if ts.State != api.TaskRunning {
				t.Fatalf("kill %d: subtask %d.%d is %s", kill, ts.Pipeline, ts.Index, ts.State)
			}
		}
	}
	cps, err := g.client.Checkpoints(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range cps.History {
		if strings.Contains(h.Failure, "leader changed") {
			aborted++
		} else if h.Status == "FAILED" {
			t.Logf("checkpoint %d failed: %s", h.ID, h.Failure)
		}
	}
	t.Logf("%d checkpoints aborted by a leader change", aborted)
	// the restarted nodes caught up: every node knows the job
	for i := range g.nodes {
		waitFor(t, 30*time.Second, "node "+g.nodes[i].id+" to catch up", func() bool {
			code, _, body := g.rawGet(i, "/v1/jobs")
			return code == 200 && strings.Contains(string(body), id)
		})
	}
	job := g.stopAndCheckExact(id, keys)
	if job.Attempt != 1 || len(job.Restarts) != 0 {
		t.Fatalf("attempt %d with %d restarts: tasks were restarted", job.Attempt, len(job.Restarts))
	}
}

// TestClusterNoQuorum kills two of the three nodes: writes fail fast with a
// clear "no quorum" error and reads say they may be stale; restarting one
// node restores service with the job intact.
func TestClusterNoQuorum(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a coordinator group of real processes")
	}
	g := startGroup(t, 2)
	// every node and agent refuses calls without the token
	for _, url := range []string{"http://" + g.nodes[0].addr + "/v1/jobs", "http://" + g.nodes[1].addr + "/v1/internal/commands", "http://" + g.agents[0].addr + "/v1/agent/executors"} {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("GET %s without a token: %d, want 401", url, resp.StatusCode)
		}
	}
	const keys = 7
	id := g.submit(unboundedCountSpec(keys))
	waitFor(t, time.Minute, "the job running with a checkpoint", func() bool {
		return g.job(id).State == api.JobRunning && g.completed(id) >= 1
	})
	l := g.leader()
	survivor := (l + 1) % 3
	g.killNode(l)
	g.killNode((l + 2) % 3)
	// the survivor may still believe in the old leader for an election
	// timeout; after that every write is refused at once
	c := g.nodeClient(survivor)
	waitFor(t, 10*time.Second, "writes refused with no quorum", func() bool {
		start := time.Now()
		_, err := c.Cancel(context.Background(), id)
		if err == nil {
			t.Fatal("cancel succeeded without a quorum")
		}
		fast := time.Since(start) < time.Second
		return fast && api.IsStatus(err, 503) && strings.Contains(err.Error(), "no quorum")
	})
	start := time.Now()
	if _, err := c.Ping(context.Background()); err == nil || !strings.Contains(err.Error(), "no quorum") {
		t.Fatalf("ping without quorum: %v", err)
	} else if d := time.Since(start); d > time.Second {
		t.Fatalf("a write took %s to fail without quorum", d)
	} else {
		t.Logf("write without quorum failed after %s: %v", d.Round(time.Millisecond), err)
	}
	code, stale, body := g.rawGet(survivor, "/v1/jobs")
	var list api.JobList
	_ = json.Unmarshal(body, &list)
	if code != 200 || stale != "true" || !list.Stale || !strings.Contains(string(body), id) {
		t.Fatalf("read without quorum: %d, stale header %q, body %s", code, stale, body)
	}
	code, stale, body = g.rawGet(survivor, "/v1/jobs/"+id)
	if code != 200 || stale != "true" || !strings.Contains(string(body), `"stale": true`) {
		t.Fatalf("job read without quorum: %d, stale header %q", code, stale)
	}
	g.startNode(l)
	if _, err := g.client.Ping(context.Background()); err != nil {
		t.Fatalf("no service after restarting a node: %v", err)
	}
	before := g.completed(id)
	waitFor(t, time.Minute, "the job checkpointing again", func() bool {
		j := g.job(id)
		return j.State == api.JobRunning && g.completed(id) > before
	})
	jobs, err := g.client.Jobs(context.Background())
	if err != nil || len(jobs) != 1 || jobs[0].ID != id {
		t.Fatalf("jobs after recovery: %v %v", jobs, err)
	}
	g.startNode((l + 2) % 3)
	g.stopAndCheckExact(id, keys)
}

// TestClusterAgentLoss SIGKILLs an agent (its executors die with it): the
// job restarts from its latest checkpoint on the other agent, and the
// committed output is exact.
func TestClusterAgentLoss(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a coordinator group of real processes")
	}
	g := startGroup(t, 2)
	const keys = 13
	id := g.submit(unboundedCountSpec(keys))
	waitFor(t, time.Minute, "the job running with 2 checkpoints", func() bool {
		return g.job(id).State == api.JobRunning && g.completed(id) >= 2
	})
	kill(g.agents[0].cmd)
	g.agents[0].cmd = nil
	var j *api.Job
	waitFor(t, time.Minute, "recovery on the other agent", func() bool {
		j = g.job(id)
		if j.State.Terminal() {
			t.Fatalf("job ended: %s %s", j.State, j.Error)
		}
		return j.State == api.JobRunning && len(j.Restarts) >= 1 && j.RestoredFrom > 0
	})
	waitFor(t, 30*time.Second, "a1 to leave the agent table", func() bool {
		c, err := g.client.Cluster(context.Background())
		return err == nil && len(c.Agents) == 1 && c.Agents[0].ID == "a2"
	})
	for _, e := range j.Executors {
		if e.Agent != "a2" {
			t.Fatalf("executor %s runs on agent %q after a1 was lost", e.ID, e.Agent)
		}
	}
	t.Logf("restarted (%s) from checkpoint %d", j.Restarts[0].Cause, j.RestoredFrom)
	before := g.completed(id)
	waitFor(t, time.Minute, "a checkpoint after the recovery", func() bool { return g.completed(id) > before })
	g.stopAndCheckExact(id, keys)
}

// TestLocalGroupRunsJobs starts `sluice local --coordinators 3` (three
// in-process nodes over real Raft and one agent) and runs a bounded job
// through a client that knows every node.
func TestLocalGroupRunsJobs(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the sluice binary")
	}
	bin := sluiceBinary(t)
	dir := t.TempDir()
	local := exec.Command(bin, "local", "--coordinators", "3", "--addr", "127.0.0.1:0", "--data-dir", dir, "--history-addr", "")
	out, err := local.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	local.Stderr = io.Discard
	if err := local.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = local.Process.Signal(os.Interrupt)
		_ = local.Wait()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("sluice local printed nothing: %v", err)
	}
	go func() { _, _ = io.Copy(io.Discard, out) }()
	m := regexp.MustCompile(`API on (\S+) \(3 coordinator nodes`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("no API addresses in %q", line)
	}
	c := api.NewClient(m[1], "")
	c.Retry = 10 * time.Second
	// the agent registers and the nodes publish their addresses right
	// after start: wait for the group to be complete
	waitFor(t, 30*time.Second, "3 members, a leader and the agent", func() bool {
		cl, err := c.Cluster(context.Background())
		return err == nil && len(cl.Members) == 3 && cl.Leader != "" && len(cl.Agents) == 1
	})
	body, _ := json.Marshal(map[string]any{
		"defaults": map[string]any{"parallelism": 2},
		"vertices": []map[string]any{
			{"id": "gen", "operator": "datagen", "config": map[string]any{"count": 20000, "keys": 5}},
			{"id": "cnt", "operator": "count"},
			{"id": "out", "operator": "files", "config": map[string]any{"prefix": "lg/{job}/", "format": "jsonl"}},
		},
		"edges": []map[string]any{{"from": "gen", "to": "cnt", "partitioning": "hash", "key": "key"}, {"from": "cnt", "to": "out"}},
	})
	id, err := c.Submit(context.Background(), body, "application/json")
	if err != nil {
		t.Fatal(err)
	}
	var j *api.Job
	waitFor(t, time.Minute, "the job to end", func() bool {
		j, err = c.Job(context.Background(), id)
		return err == nil && j.State.Terminal()
	})
	if j.State != api.JobFinished {
		t.Fatalf("job %s: %s", j.State, j.Error)
	}
	total := int64(0)
	for _, row := range readJSONLines(t, filepath.Join(dir, "bucket", "lg", id)) {
		total += int64(row["count"].(float64))
	}
	if total != 20000 {
		t.Fatalf("counted %d records, want 20000", total)
	}
}

package store

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/coordinator/api"
)

func TestSplitRequestRetriedAfterLostAnswer(t *testing.T) {
	f := newFSM()
	applyCmd(t, f, Command{Submit: &SubmitCmd{Job: testJob()}})
	have := 0
	first := applyCmd(t, f, Command{Split: &SplitCmd{Job: "j1", Vertex: "src", Subtask: 0, Have: &have}}).(*SplitResult)
	// the answer was lost: the executor asks again with the same count
	again := applyCmd(t, f, Command{Split: &SplitCmd{Job: "j1", Vertex: "src", Subtask: 0, Have: &have}}).(*SplitResult)
	if first.Split.ID != "a" || again.Split.ID != "a" {
		t.Fatalf("first %s, retried %s: want a twice", first.Split.ID, again.Split.ID)
	}
	have = 1
	next := applyCmd(t, f, Command{Split: &SplitCmd{Job: "j1", Vertex: "src", Subtask: 0, Have: &have}}).(*SplitResult)
	if next.Split.ID != "b" {
		t.Fatalf("next split %s, want b", next.Split.ID)
	}
}

func TestAgentLostMarksItsExecutorsExited(t *testing.T) {
	f := newFSM()
	applyCmd(t, f, Command{Submit: &SubmitCmd{Job: testJob()}})
	applyCmd(t, f, Command{Agent: &AgentCmd{Agent: Agent{ID: "a1", URL: "http://a1", Slots: 2}}})
	applyCmd(t, f, Command{Agent: &AgentCmd{Agent: Agent{ID: "a2", URL: "http://a2", Slots: 2}}})
	applyCmd(t, f, Command{Deploy: &DeployCmd{ID: "j1", Attempt: 1, Executors: []*Executor{
		{ID: "j1-s0-a1", Slot: 0, Attempt: 1, Agent: "a1"}, {ID: "j1-s1-a1", Slot: 1, Attempt: 1, Agent: "a2"},
	}}})
	if n := applyCmd(t, f, Command{AgentLost: &AgentLostCmd{ID: "a1", Info: "agent a1 lost"}}); n != 1 {
		t.Fatalf("%v executors marked exited, want 1", n)
	}
	j, _ := f.job("j1")
	if e := j.Executors[0]; !e.Exited || e.ExitInfo != "agent a1 lost" {
		t.Fatalf("executor on the lost agent: %+v", e)
	}
	if j.Executors[1].Exited {
		t.Fatal("executor on the other agent marked exited")
	}
	if as := f.agentList(); len(as) != 1 || as[0].ID != "a2" {
		t.Fatalf("agents after the loss: %+v", as)
	}
}

func TestSnapshotKeepsMembershipAndReadsOldFormat(t *testing.T) {
	f := newFSM()
	applyCmd(t, f, Command{Submit: &SubmitCmd{Job: testJob()}})
	applyCmd(t, f, Command{Node: &NodeCmd{Node: Node{ID: "n1", RaftAddr: "127.0.0.1:1", URL: "http://127.0.0.1:2"}}})
	applyCmd(t, f, Command{Agent: &AgentCmd{Agent: Agent{ID: "a1", URL: "http://a1", Slots: 4}}})
	g := restored(t, persisted(t, f).Bytes())
	if _, ok := g.job("j1"); !ok || len(g.nodeList()) != 1 || len(g.agentList()) != 1 {
		t.Fatalf("restored: job %v, nodes %v, agents %v", ok, g.nodeList(), g.agentList())
	}
	// snapshots written before the membership tables: a bare job array
	old := newFSM()
	if err := old.Restore(io.NopCloser(strings.NewReader(`[{"id":"j9","state":"RUNNING"}]`))); err != nil {
		t.Fatal(err)
	}
	if j, ok := old.job("j9"); !ok || j.State != api.JobRunning {
		t.Fatalf("old snapshot: %+v", j)
	}
}

// freePort returns a free 127.0.0.1 address.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestThreeNodeGroupFailover bootstraps three nodes from a peer list over
// TCP (with a token on the raft streams), writes through the leader,
// closes it, and finds a new leader with the data; a connection without
// the token is refused.
func TestThreeNodeGroupFailover(t *testing.T) {
	var peers []Peer
	for i := 1; i <= 3; i++ {
		peers = append(peers, Peer{ID: fmt.Sprintf("n%d", i), Addr: freePort(t)})
	}
	stores := make([]*Store, 3)
	for i, p := range peers {
		s, err := Open(Config{Dir: t.TempDir(), NodeID: p.ID, BindAddr: p.Addr, Bootstrap: true, Peers: peers, Token: "secret"})
		if err != nil {
			t.Fatal(err)
		}
		stores[i] = s
		t.Cleanup(func() { s.Close() })
	}
	leader := func(exclude int) int {
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) {
			for i, s := range stores {
				if i != exclude && s.IsLeader() {
					return i
				}
			}
			time.Sleep(10 * time.Millisecond) // polling raft state
		}
		t.Fatal("no leader elected")
		return -1
	}
	l := leader(-1)
	if _, err := stores[l].Apply(Command{Submit: &SubmitCmd{Job: testJob()}}); err != nil {
		t.Fatal(err)
	}
	st, err := stores[l].Status()
	if err != nil || len(st.Servers) != 3 || st.Leader != peers[l].ID {
		t.Fatalf("status: %+v %v", st, err)
	}

	// a peer without the token is refused
	c, err := net.Dial("tcp", peers[l].Addr)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = c.Write([]byte("SLR1" + strings.Repeat("x", 32)))
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("a raft connection with the wrong token was served")
	}
	c.Close()

	stores[l].Close()
	nl := leader(l)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := stores[nl].WaitLeader(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := stores[nl].Job("j1"); !ok {
		t.Fatal("the new leader lost the job")
	}
	if _, err := stores[nl].Apply(Command{Noop: &NoopCmd{At: time.Now()}}); err != nil {
		t.Fatalf("write under the new leader: %v", err)
	}
}

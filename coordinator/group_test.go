package coordinator

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/blobstate"
	"github.com/sluicehq/sluice/coordinator/api"
	"github.com/sluicehq/sluice/coordinator/store"
	"github.com/sluicehq/sluice/executor/builtin"
)

type testNode struct {
	st     *store.Store
	c      *Coordinator
	srv    *httptest.Server
	cancel context.CancelFunc
	done   chan struct{}
	closed bool
}

func (n *testNode) close() {
	if n.closed {
		return
	}
	n.closed = true
	n.srv.Close()
	n.cancel()
	<-n.done
	n.c.Close()
	n.st.Close()
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// nodeSetup adapts a test node's Config (a launcher, say); self returns
// the node's Coordinator once New has made it. The returned func runs once
// the node has stopped leading.
type nodeSetup func(cfg *Config, self func() *Coordinator) (stopped func())

// startTestGroup runs three coordinator nodes in this process over real
// Raft on 127.0.0.1, with executors on agents (no Launcher) unless setup
// says otherwise.
func startTestGroup(t *testing.T, setup nodeSetup) []*testNode {
	t.Helper()
	var peers []store.Peer
	for i := 1; i <= 3; i++ {
		peers = append(peers, store.Peer{ID: fmt.Sprintf("n%d", i), Addr: freeAddr(t)})
	}
	var nodes []*testNode
	for _, p := range peers {
		st, err := store.Open(store.Config{Dir: t.TempDir(), NodeID: p.ID, BindAddr: p.Addr, Bootstrap: true, Peers: peers, Token: "tk"})
		if err != nil {
			t.Fatal(err)
		}
		cfg := Config{Store: st, Registry: builtin.NewRegistry(), OpenBucket: blobstate.Open, Bucket: "mem://", Token: "tk", AgentTimeout: time.Hour}
		var c *Coordinator
		stopped := func() {}
		if setup != nil {
			stopped = setup(&cfg, func() *Coordinator { return c })
		}
		if c, err = New(cfg); err != nil {
			t.Fatal(err)
		}
		n := &testNode{st: st, c: c, srv: httptest.NewServer(c.Handler()), done: make(chan struct{})}
		c.SetURL(n.srv.URL)
		ctx, cancel := context.WithCancel(context.Background())
		n.cancel = func() {
			cancel()
			<-n.done // the coordinator has stopped leading
			stopped()
		}
		go func() {
			defer close(n.done)
			_ = c.Run(ctx)
		}()
		nodes = append(nodes, n)
		t.Cleanup(n.close)
	}
	return nodes
}

func groupClient(nodes []*testNode) *api.Client {
	var urls []string
	for _, n := range nodes {
		urls = append(urls, n.srv.URL)
	}
	cl := api.NewClient(strings.Join(urls, ","), "tk")
	cl.Retry = 20 * time.Second
	return cl
}

func leaderOf(t *testing.T, nodes []*testNode) int {
	t.Helper()
	if _, err := groupClient(nodes).Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	for i, n := range nodes {
		if !n.closed && n.c.leading() {
			return i
		}
	}
	t.Fatal("no node leads after a successful write")
	return -1
}

// TestFollowersForwardAndPlaceOnAgents checks that followers forward
// writes and internal calls to the leader (an agent registers through a
// follower), that every node learns every node's address, and that slots
// are spread over agents by free capacity.
func TestFollowersForwardAndPlaceOnAgents(t *testing.T) {
	nodes := startTestGroup(t, nil)
	l := leaderOf(t, nodes)
	f := nodes[(l+1)%3]
	fc := api.NewClient(f.srv.URL, "tk")
	fc.Retry = 10 * time.Second
	for _, a := range []api.AgentHeartbeat{{ID: "a1", URL: "http://a1", Slots: 2}, {ID: "a2", URL: "http://a2", Slots: 4}} {
		if err := fc.AgentHeartbeat(context.Background(), a); err != nil {
			t.Fatalf("agent heartbeat through a follower: %v", err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		cl, err := fc.Cluster(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		urls := 0
		for _, m := range cl.Members {
			if m.URL != "" {
				urls++
			}
		}
		if cl.Node == f.st.NodeID() && urls == 3 && len(cl.Agents) == 2 && cl.Leader == nodes[l].st.NodeID() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a follower's view of the group: %+v", cl)
		}
		time.Sleep(20 * time.Millisecond) // replication to the follower
	}
	hosts, err := nodes[l].c.place(5)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(hosts, ","); got != "a1,a1,a2,a2,a2" {
		t.Fatalf("placement of 5 slots on agents with 2 and 4: %s", got)
	}
	if _, err := nodes[l].c.place(7); err == nil || !strings.Contains(err.Error(), "not enough free slots") {
		t.Fatalf("placing 7 slots on 6: %v", err)
	}
	// a forwarded write is answered by the leader
	resp, err := fc.Ping(context.Background())
	if err != nil || resp.Leader != nodes[l].st.NodeID() {
		t.Fatalf("ping through a follower: %+v %v", resp, err)
	}
}

// TestNoQuorumFailsFastAndReadsAreStale closes two of three nodes: writes
// to the survivor fail at once with "no quorum", reads are marked stale.
func TestNoQuorumFailsFastAndReadsAreStale(t *testing.T) {
	nodes := startTestGroup(t, nil)
	l := leaderOf(t, nodes)
	s := nodes[(l+1)%3]
	nodes[l].close()
	nodes[(l+2)%3].close()
	c := api.NewClient(s.srv.URL, "tk")
	deadline := time.Now().Add(10 * time.Second)
	for {
		start := time.Now()
		_, err := c.Ping(context.Background())
		if err == nil {
			t.Fatal("a write succeeded without a quorum")
		}
		if d := time.Since(start); api.IsStatus(err, http.StatusServiceUnavailable) && strings.Contains(err.Error(), "no quorum") && d < time.Second {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("write without quorum: %v", err)
		}
	}
	req, _ := http.NewRequest(http.MethodGet, s.srv.URL+"/v1/jobs", nil)
	req.Header.Set("Authorization", "Bearer tk")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get(api.HeaderStale) != "true" {
		t.Fatalf("read without quorum: %d, stale %q", resp.StatusCode, resp.Header.Get(api.HeaderStale))
	}
	if _, err := c.Jobs(context.Background()); err != nil {
		t.Fatalf("jobs without quorum: %v", err)
	}
}

package store

import (
	"fmt"
	"sort"
	"time"

	"github.com/sluicehq/sluice/coordinator/api"
)

// Node is a coordinator node of the raft group, as its members know it:
// the HTTP address it serves the API on, so that followers can forward to
// the leader and clients can be pointed at it.
type Node struct {
	ID       string `json:"id"`
	RaftAddr string `json:"raftAddr"`
	// URL is the node's HTTP API, e.g. http://127.0.0.2:8081.
	URL string `json:"url"`
}

// Agent is a worker host's agent: it starts executor processes for the
// leader, up to Slots at a time.
type Agent struct {
	ID    string `json:"id"`
	URL   string `json:"url"`
	Slots int    `json:"slots"`
	// RegisteredAt is when the agent (last) registered.
	RegisteredAt time.Time `json:"registeredAt"`
}

// NodeCmd records (or updates) a coordinator node's addresses.
type NodeCmd struct {
	Node Node `json:"node"`
	// Remove drops the node from the table.
	Remove bool `json:"remove,omitempty"`
}

// AgentCmd records (or updates) an agent.
type AgentCmd struct {
	Agent Agent `json:"agent"`
}

// AgentLostCmd removes an agent that stopped heartbeating; every executor
// it ran that has not exited counts as exited with Info.
type AgentLostCmd struct {
	ID   string `json:"id"`
	Info string `json:"info"`
}

// NoopCmd changes nothing; applying it proves the group accepts writes.
type NoopCmd struct {
	At time.Time `json:"at"`
}

func (f *fsm) applyCluster(c *Command) interface{} {
	switch {
	case c.Node != nil:
		if c.Node.Remove {
			delete(f.nodes, c.Node.Node.ID)
			return nil
		}
		n := c.Node.Node
		f.nodes[n.ID] = &n
	case c.Agent != nil:
		a := c.Agent.Agent
		f.agents[a.ID] = &a
	case c.AgentLost != nil:
		delete(f.agents, c.AgentLost.ID)
		lost := 0
		for _, j := range f.jobs {
			if j.State.Terminal() {
				continue
			}
			for _, e := range j.Executors {
				if e.Agent == c.AgentLost.ID && !e.Exited {
					e.Exited = true
					e.ExitInfo = c.AgentLost.Info
					lost++
				}
			}
		}
		return lost
	case c.Noop != nil:
	}
	return nil
}

func (f *fsm) nodeList() []*Node {
	out := make([]*Node, 0, len(f.nodes))
	for _, n := range f.nodes {
		c := *n
		out = append(out, &c)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].ID < out[b].ID })
	return out
}

func (f *fsm) agentList() []*Agent {
	out := make([]*Agent, 0, len(f.agents))
	for _, a := range f.agents {
		c := *a
		out = append(out, &c)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].ID < out[b].ID })
	return out
}

// Nodes returns the coordinator nodes' addresses, by id.
func (s *Store) Nodes() []*Node {
	s.fsm.mu.RLock()
	defer s.fsm.mu.RUnlock()
	return s.fsm.nodeList()
}

// Agents returns the registered agents, by id.
func (s *Store) Agents() []*Agent {
	s.fsm.mu.RLock()
	defer s.fsm.mu.RUnlock()
	return s.fsm.agentList()
}

// UsedSlots counts, per agent, the executors of unfinished jobs that have
// not exited.
func (s *Store) UsedSlots() map[string]int {
	s.fsm.mu.RLock()
	defer s.fsm.mu.RUnlock()
	out := map[string]int{}
	for _, j := range s.fsm.jobs {
		if j.State.Terminal() {
			continue
		}
		for _, e := range j.Executors {
			if e.Agent != "" && !e.Exited {
				out[e.Agent]++
			}
		}
	}
	return out
}

// ExecutorAgent returns the agent that runs an executor.
func (s *Store) ExecutorAgent(job, executorID string) (string, bool) {
	s.fsm.mu.RLock()
	defer s.fsm.mu.RUnlock()
	j, ok := s.fsm.jobs[job]
	if !ok {
		return "", false
	}
	for _, e := range j.Executors {
		if e.ID == executorID {
			return e.Agent, e.Agent != ""
		}
	}
	return "", false
}

// NodeID is this node's raft id.
func (s *Store) NodeID() string { return s.cfg.NodeID }

// Leader returns the current leader's id and its HTTP URL from the node
// table; both are empty when there is no leader, and url is empty when the
// leader has not recorded its address yet.
func (s *Store) Leader() (id, url string) {
	_, lid := s.raft.LeaderWithID()
	if lid == "" {
		return "", ""
	}
	s.fsm.mu.RLock()
	defer s.fsm.mu.RUnlock()
	if n, ok := s.fsm.nodes[string(lid)]; ok {
		return string(lid), n.URL
	}
	return string(lid), ""
}

// Status is this node's view of the raft group.
type Status struct {
	NodeID      string
	State       string
	Leader      string
	Term        uint64
	LastApplied uint64
	CommitIndex uint64
	Servers     []api.ClusterMember
}

// Status returns this node's view of the group.
func (s *Store) Status() (Status, error) {
	st := Status{
		NodeID: s.cfg.NodeID, State: s.raft.State().String(),
		LastApplied: s.raft.AppliedIndex(),
	}
	stats := s.raft.Stats()
	fmt.Sscan(stats["term"], &st.Term)
	fmt.Sscan(stats["commit_index"], &st.CommitIndex)
	_, lid := s.raft.LeaderWithID()
	st.Leader = string(lid)
	fut := s.raft.GetConfiguration()
	if err := fut.Error(); err != nil {
		return st, fmt.Errorf("read raft configuration: %w", err)
	}
	s.fsm.mu.RLock()
	defer s.fsm.mu.RUnlock()
	for _, sv := range fut.Configuration().Servers {
		m := api.ClusterMember{ID: string(sv.ID), RaftAddr: string(sv.Address), Voter: sv.Suffrage.String() == "Voter", Leader: sv.ID == lid}
		if n, ok := s.fsm.nodes[string(sv.ID)]; ok {
			m.URL = n.URL
		}
		st.Servers = append(st.Servers, m)
	}
	return st, nil
}

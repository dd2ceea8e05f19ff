package api

import "time"

// Headers of answers served by a follower.
const (
	// HeaderStale is "true" on a read served from a node that does not
	// lead the group: the data may be stale.
	HeaderStale = "X-Sluice-Stale"
	// HeaderForwarded marks a request a follower forwarded to the leader,
	// so that it is never forwarded twice.
	HeaderForwarded = "X-Sluice-Forwarded-By"
	// HeaderNode names the node that served a request.
	HeaderNode = "X-Sluice-Node"
)

// ClusterMember is one coordinator node of the raft group.
type ClusterMember struct {
	ID       string `json:"id"`
	RaftAddr string `json:"raftAddr"`
	URL      string `json:"url,omitempty"`
	Voter    bool   `json:"voter"`
	Leader   bool   `json:"leader"`
}

// ClusterAgent is one registered agent.
type ClusterAgent struct {
	ID        string `json:"id"`
	URL       string `json:"url"`
	Slots     int    `json:"slots"`
	UsedSlots int    `json:"usedSlots"`
	// LastHeartbeat is when the leader last heard from it (only on the
	// leader).
	LastHeartbeat *time.Time `json:"lastHeartbeat,omitempty"`
}

// Cluster answers GET /v1/cluster.
type Cluster struct {
	// Node is the node that answered, State its raft state.
	Node        string          `json:"node"`
	State       string          `json:"state"`
	Leader      string          `json:"leader"`
	LeaderURL   string          `json:"leaderUrl,omitempty"`
	Term        uint64          `json:"term"`
	LastApplied uint64          `json:"lastApplied"`
	CommitIndex uint64          `json:"commitIndex"`
	Members     []ClusterMember `json:"members"`
	Agents      []ClusterAgent  `json:"agents"`
	// Stale is set when a node without a leader answered.
	Stale bool `json:"stale,omitempty"`
}

// JoinRequest adds a coordinator node to the group (POST /v1/cluster/join)
// or records its HTTP address.
type JoinRequest struct {
	ID       string `json:"id"`
	RaftAddr string `json:"raftAddr"`
	URL      string `json:"url"`
}

// RemoveRequest removes a node from the group (POST /v1/cluster/remove).
type RemoveRequest struct {
	ID string `json:"id"`
}

// PingResponse answers POST /v1/cluster/ping, a no-op write through Raft.
type PingResponse struct {
	Leader string `json:"leader"`
	Index  uint64 `json:"index"`
}

// AgentHeartbeat registers an agent and keeps it alive
// (POST /v1/internal/agent/heartbeat).
type AgentHeartbeat struct {
	ID    string `json:"id"`
	URL   string `json:"url"`
	Slots int    `json:"slots"`
	// Running lists the executors the agent runs.
	Running []string `json:"running"`
}

// AgentExit reports that an executor process on an agent ended
// (POST /v1/internal/agent/exit).
type AgentExit struct {
	Agent      string `json:"agent"`
	ExecutorID string `json:"executorId"`
	PID        int    `json:"pid"`
	Error      string `json:"error,omitempty"`
	ExitCode   int    `json:"exitCode"`
	Stopped    bool   `json:"stopped,omitempty"`
	LogTail    string `json:"logTail,omitempty"`
}

// LaunchRequest asks an agent to start an executor (POST /v1/agent/launch).
// The agent adds its own environment, token and data listen address.
type LaunchRequest struct {
	ExecutorID string   `json:"executorId"`
	Args       []string `json:"args"`
}

// LaunchResponse answers a LaunchRequest.
type LaunchResponse struct {
	PID int `json:"pid"`
}

// KillRequest asks an agent to kill an executor (POST /v1/agent/kill).
type KillRequest struct {
	ExecutorID string `json:"executorId"`
}

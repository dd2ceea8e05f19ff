package jobspec

import (
	"bytes"
	"encoding/json"
)

// Limits and defaults.
const (
	// MaxSpecSize is the largest spec document Parse and Load accept.
	MaxSpecSize = 4 << 20
	// MaxParallelismLimit is the largest parallelism of a vertex.
	MaxParallelismLimit = 256
	// MaxKeyGroupsLimit is the largest defaults.maxParallelism (the number of
	// key groups keyed state is split into).
	MaxKeyGroupsLimit = 32768
	// MaxIDLength is the longest vertex id.
	MaxIDLength = 128
	// DefaultParallelism is the parallelism of vertices when neither the
	// vertex nor defaults.parallelism sets one.
	DefaultParallelism = 1
	// DefaultMaxParallelism is the number of key groups when
	// defaults.maxParallelism is not set.
	DefaultMaxParallelism = 128
)

// The partitionings of an edge: how records produced by the subtasks of the
// upstream vertex are distributed over the subtasks of the downstream one.
const (
	// Forward sends subtask i's records to subtask i; both ends need the
	// same parallelism. It is the default.
	Forward = "forward"
	// Hash sends each record to the subtask owning its key's key group.
	Hash = "hash"
	// Rebalance distributes records round-robin over all subtasks.
	Rebalance = "rebalance"
	// Broadcast sends every record to every subtask.
	Broadcast = "broadcast"
)

// Partitionings lists the known partitionings.
func Partitionings() []string { return []string{Forward, Hash, Rebalance, Broadcast} }

// Spec is a job: a name, defaults, and a dataflow graph.
type Spec struct {
	Name     string   `json:"name"`
	Defaults Defaults `json:"defaults"`
	Vertices []Vertex `json:"vertices"`
	Edges    []Edge   `json:"edges"`
	// Checkpointing is off unless an interval is set.
	Checkpointing Checkpointing `json:"checkpointing,omitzero"`
	// Restart says how the job recovers from failures.
	Restart Restart `json:"restart,omitzero"`
}

// Defaults apply to every vertex that does not override them.
type Defaults struct {
	// Parallelism of vertices that do not set one; 0 means
	// DefaultParallelism.
	Parallelism int `json:"parallelism,omitempty"`
	// MaxParallelism is the number of key groups keyed state is split into,
	// and so the largest parallelism a vertex may have; 0 means
	// DefaultMaxParallelism.
	MaxParallelism int `json:"maxParallelism,omitempty"`
}

// Vertex is one operator instance in the graph.
type Vertex struct {
	// ID names the vertex in edges; [A-Za-z0-9_-]+.
	ID string `json:"id"`
	// Operator is the name of a registered operator.
	Operator string `json:"operator"`
	// Config is the operator's configuration, a JSON object (compacted by
	// Parse). It is checked by the operator's Definition.DecodeConfig.
	Config json.RawMessage `json:"config,omitempty"`
	// Parallelism is the number of parallel subtasks; 0 means the default.
	Parallelism int `json:"parallelism,omitempty"`
	// EventTime gives a source's records event times and watermarks.
	EventTime EventTime `json:"eventTime,omitzero"`
}

// Edge connects the output of one vertex to an input of another.
type Edge struct {
	From string `json:"from"`
	To   string `json:"to"`
	// Partitioning is Forward (the default when empty), Hash, Rebalance or
	// Broadcast.
	Partitioning string `json:"partitioning,omitempty"`
	// Key is the partitioning key of a hash edge: a field name or an
	// expression over the record.
	Key string `json:"key,omitempty"`
	// Output names the side output of From that feeds this edge (a window's
	// late records, say); "" is the main output.
	Output string `json:"output,omitempty"`
}

// Normalize fills in defaults: defaults.parallelism and
// defaults.maxParallelism, every vertex's parallelism, and every edge's
// partitioning. It leaves invalid values alone for Validate to report.
func (s *Spec) Normalize() {
	if s.Defaults.Parallelism == 0 {
		s.Defaults.Parallelism = DefaultParallelism
	}
	if s.Defaults.MaxParallelism == 0 {
		s.Defaults.MaxParallelism = DefaultMaxParallelism
	}
	for i := range s.Vertices {
		v := &s.Vertices[i]
		if v.Parallelism == 0 {
			v.Parallelism = s.Defaults.Parallelism
		}
		v.Config = compactJSON(v.Config)
	}
	for i := range s.Edges {
		if s.Edges[i].Partitioning == "" {
			s.Edges[i].Partitioning = Forward
		}
	}
}

// Parallelism returns the effective parallelism of vertex i: its own, or
// the default. It does not need the spec to be normalized.
func (s *Spec) Parallelism(i int) int {
	switch {
	case s.Vertices[i].Parallelism != 0:
		return s.Vertices[i].Parallelism
	case s.Defaults.Parallelism != 0:
		return s.Defaults.Parallelism
	}
	return DefaultParallelism
}

// MaxParallelism returns the effective number of key groups.
func (s *Spec) MaxParallelism() int {
	if s.Defaults.MaxParallelism != 0 {
		return s.Defaults.MaxParallelism
	}
	return DefaultMaxParallelism
}

// PartitioningOf returns the effective partitioning of edge i.
func (s *Spec) PartitioningOf(i int) string {
	if p := s.Edges[i].Partitioning; p != "" {
		return p
	}
	return Forward
}

// VertexIndex returns the index of the vertex with the given id, or -1.
// With duplicate ids (an invalid spec) it returns the first.
func (s *Spec) VertexIndex(id string) int {
	for i := range s.Vertices {
		if s.Vertices[i].ID == id {
			return i
		}
	}
	return -1
}

// Inputs returns the indexes of the edges into vertex id, in spec order.
func (s *Spec) Inputs(id string) []int {
	var in []int
	for i := range s.Edges {
		if s.Edges[i].To == id {
			in = append(in, i)
		}
	}
	return in
}

// Outputs returns the indexes of the edges out of vertex id, in spec order.
func (s *Spec) Outputs(id string) []int {
	var out []int
	for i := range s.Edges {
		if s.Edges[i].From == id {
			out = append(out, i)
		}
	}
	return out
}

// Clone returns a deep copy of s.
func (s *Spec) Clone() *Spec {
	c := *s
	c.Vertices = append([]Vertex(nil), s.Vertices...)
	for i := range c.Vertices {
		if c.Vertices[i].Config != nil {
			c.Vertices[i].Config = append(json.RawMessage(nil), c.Vertices[i].Config...)
		}
	}
	c.Edges = append([]Edge(nil), s.Edges...)
	return &c
}

// compactJSON returns raw without insignificant white space, or raw itself
// when it is not valid JSON (Validate reports that).
func compactJSON(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 {
		return raw
	}
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return raw
	}
	return b.Bytes()
}

package plan

import "github.com/sluicehq/sluice/coordinator/jobspec"

// Plan is how a job runs: its pipelines, the edges between them, and the
// slots their subtasks share.
type Plan struct {
	// Pipelines are in topological order: every edge goes from a pipeline
	// to a later one. A pipeline's ID is its index here.
	Pipelines []Pipeline `json:"pipelines"`
	// Edges are the spec edges that were not chained, in spec order. An
	// edge's ID is its index here.
	Edges []Edge `json:"edges"`
	// Slots is the number of slots the job needs: the largest parallelism
	// of its pipelines.
	Slots int `json:"slots"`
	// MaxParallelism is the number of key groups of keyed state.
	MaxParallelism int `json:"maxParallelism"`
}

// Pipeline is a chain of vertices that run in one goroutine per subtask,
// the head receiving the pipeline's input and each vertex feeding the next.
type Pipeline struct {
	ID int `json:"id"`
	// Vertices are vertex ids, head first.
	Vertices    []string `json:"vertices"`
	Parallelism int      `json:"parallelism"`
	// Inputs and Outputs are indexes into Plan.Edges, ascending. Inputs go
	// into the head; outputs leave the last vertex.
	Inputs  []int `json:"inputs"`
	Outputs []int `json:"outputs"`
}

// Edge carries records between two pipelines.
type Edge struct {
	ID int `json:"id"`
	// SpecEdge is the index of the edge in the spec's edges.
	SpecEdge int `json:"specEdge"`
	// From is the last vertex of pipeline FromPipeline, To the head of
	// ToPipeline.
	From         string `json:"from"`
	To           string `json:"to"`
	FromPipeline int    `json:"fromPipeline"`
	ToPipeline   int    `json:"toPipeline"`
	// Partitioning and Key are the spec edge's (the partitioning with its
	// default filled in).
	Partitioning string `json:"partitioning"`
	Key          string `json:"key,omitempty"`
	// Output is the side output of From that feeds this edge ("" for the
	// main output). Side-output edges are never chained.
	Output string `json:"output,omitempty"`
}

// SubtaskID names one parallel instance of a pipeline.
type SubtaskID struct {
	Pipeline int `json:"pipeline"`
	Index    int `json:"index"`
}

// Subtasks lists every subtask of the job, by pipeline, then index.
func (p *Plan) Subtasks() []SubtaskID {
	var ids []SubtaskID
	for _, pl := range p.Pipelines {
		for i := range pl.Parallelism {
			ids = append(ids, SubtaskID{Pipeline: pl.ID, Index: i})
		}
	}
	return ids
}

// SlotOf returns the slot subtask id runs in: subtask i of every pipeline
// shares slot i.
func (p *Plan) SlotOf(id SubtaskID) int { return id.Index }

// SubtasksInSlot lists the subtasks that run in slot, one per pipeline
// whose parallelism is larger than slot, in pipeline order.
func (p *Plan) SubtasksInSlot(slot int) []SubtaskID {
	var ids []SubtaskID
	for _, pl := range p.Pipelines {
		if slot >= 0 && slot < pl.Parallelism {
			ids = append(ids, SubtaskID{Pipeline: pl.ID, Index: slot})
		}
	}
	return ids
}

// Channels lists the (upstream subtask, downstream subtask) pairs that edge
// connects: i -> i for a forward edge, every pair for the others (hash,
// rebalance and broadcast producers may all send to every consumer). The
// pairs are ordered by upstream, then downstream subtask. It returns nil for
// an edge that does not exist.
func (p *Plan) Channels(edge int) [][2]int {
	if edge < 0 || edge >= len(p.Edges) {
		return nil
	}
	e := p.Edges[edge]
	from := p.Pipelines[e.FromPipeline].Parallelism
	to := p.Pipelines[e.ToPipeline].Parallelism
	if e.Partitioning == jobspec.Forward {
		chans := make([][2]int, min(from, to))
		for i := range chans {
			chans[i] = [2]int{i, i}
		}
		return chans
	}
	chans := make([][2]int, 0, from*to)
	for i := range from {
		for j := range to {
			chans = append(chans, [2]int{i, j})
		}
	}
	return chans
}

// PipelineOf returns the pipeline vertex is in and its position there (0
// for the head), or -1, -1 for an unknown vertex.
func (p *Plan) PipelineOf(vertex string) (pipeline, position int) {
	for _, pl := range p.Pipelines {
		for k, v := range pl.Vertices {
			if v == vertex {
				return pl.ID, k
			}
		}
	}
	return -1, -1
}

package plan

import (
	"container/heap"
	"errors"
	"fmt"

	"github.com/sluicehq/sluice/coordinator/jobspec"
)

// Build plans the spec s, which must be valid (see jobspec.Spec.Validate);
// it need not be normalized. Build does not change s. It fails on the
// problems that would make the plan meaningless (unknown or duplicate
// vertices, forward edges between different parallelisms, cycles), but it
// is no substitute for Validate.
func Build(s *jobspec.Spec) (*Plan, error) {
	g, err := newGraph(s)
	if err != nil {
		return nil, fmt.Errorf("build plan: %w", err)
	}
	chains, err := g.chains()
	if err != nil {
		return nil, fmt.Errorf("build plan: %w", err)
	}
	order, err := g.order(chains)
	if err != nil {
		return nil, fmt.Errorf("build plan: %w", err)
	}
	return g.plan(chains, order), nil
}

// graph is the spec as indexes.
type graph struct {
	s        *jobspec.Spec
	from, to []int // per spec edge: vertex indexes
	par      []int // per vertex: parallelism
	chained  []bool
	next     []int // per vertex: the vertex it is chained to, or -1
	chainIn  []bool
	pipeline []int // per vertex: the chain it is in
}

func newGraph(s *jobspec.Spec) (*graph, error) {
	n := len(s.Vertices)
	if n == 0 {
		return nil, errors.New("the spec has no vertices")
	}
	g := &graph{
		s:        s,
		from:     make([]int, len(s.Edges)),
		to:       make([]int, len(s.Edges)),
		par:      make([]int, n),
		chained:  make([]bool, len(s.Edges)),
		next:     make([]int, n),
		chainIn:  make([]bool, n),
		pipeline: make([]int, n),
	}
	index := make(map[string]int, n)
	for i, v := range s.Vertices {
		if _, dup := index[v.ID]; dup {
			return nil, fmt.Errorf("duplicate vertex id %q", v.ID)
		}
		index[v.ID] = i
		g.par[i] = s.Parallelism(i)
		if g.par[i] < 1 {
			return nil, fmt.Errorf("vertex %q has parallelism %d", v.ID, g.par[i])
		}
		g.next[i] = -1
	}
	ins := make([]int, n)
	outs := make([]int, n)
	for j, e := range s.Edges {
		from, ok1 := index[e.From]
		to, ok2 := index[e.To]
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("edge %d (%s -> %s) names an unknown vertex", j, e.From, e.To)
		}
		if from == to {
			return nil, fmt.Errorf("edge %d is a self loop on %q", j, e.From)
		}
		if s.PartitioningOf(j) == jobspec.Forward && g.par[from] != g.par[to] {
			return nil, fmt.Errorf("forward edge %d (%s -> %s) joins parallelism %d and %d",
				j, e.From, e.To, g.par[from], g.par[to])
		}
		g.from[j], g.to[j] = from, to
		outs[from]++
		ins[to]++
	}
	for j := range s.Edges {
		from, to := g.from[j], g.to[j]
		if s.PartitioningOf(j) == jobspec.Forward && s.Edges[j].Output == "" && g.par[from] == g.par[to] && outs[from] == 1 && ins[to] == 1 {
			g.chained[j] = true
			g.next[from] = to
			g.chainIn[to] = true
		}
	}
	return g, nil
}

// chains returns the chains of vertices, in the order of their heads in the
// spec, and sets g.pipeline to index them.
func (g *graph) chains() ([][]int, error) {
	var chains [][]int
	placed := 0
	for i := range g.s.Vertices {
		if g.chainIn[i] {
			continue
		}
		var chain []int
		for v := i; v >= 0; v = g.next[v] {
			g.pipeline[v] = len(chains)
			chain = append(chain, v)
		}
		chains = append(chains, chain)
		placed += len(chain)
	}
	if placed != len(g.s.Vertices) {
		return nil, errors.New("the graph has a cycle of forward edges")
	}
	return chains, nil
}

// order sorts the chains topologically, breaking ties by the spec order of
// their heads (which is their index in chains).
func (g *graph) order(chains [][]int) ([]int, error) {
	indeg := make([]int, len(chains))
	succ := make([][]int, len(chains))
	for j := range g.s.Edges {
		if g.chained[j] {
			continue
		}
		from, to := g.pipeline[g.from[j]], g.pipeline[g.to[j]]
		if from == to {
			return nil, fmt.Errorf("the graph has a cycle through edge %d", j)
		}
		succ[from] = append(succ[from], to)
		indeg[to]++
	}
	var ready intHeap
	for c := range chains {
		if indeg[c] == 0 {
			heap.Push(&ready, c)
		}
	}
	order := make([]int, 0, len(chains))
	for ready.Len() > 0 {
		c := heap.Pop(&ready).(int)
		order = append(order, c)
		for _, d := range succ[c] {
			if indeg[d]--; indeg[d] == 0 {
				heap.Push(&ready, d)
			}
		}
	}
	if len(order) != len(chains) {
		return nil, errors.New("the graph has a cycle")
	}
	return order, nil
}

// plan assembles the Plan from the chains in topological order.
func (g *graph) plan(chains [][]int, order []int) *Plan {
	p := &Plan{
		Pipelines:      make([]Pipeline, len(order)),
		Edges:          []Edge{},
		MaxParallelism: g.s.MaxParallelism(),
	}
	id := make([]int, len(chains)) // chain -> pipeline id
	for k, c := range order {
		id[c] = k
		head := chains[c][0]
		pl := Pipeline{ID: k, Parallelism: g.par[head], Inputs: []int{}, Outputs: []int{}}
		for _, v := range chains[c] {
			pl.Vertices = append(pl.Vertices, g.s.Vertices[v].ID)
		}
		p.Pipelines[k] = pl
		p.Slots = max(p.Slots, pl.Parallelism)
	}
	for j, se := range g.s.Edges {
		if g.chained[j] {
			continue
		}
		e := Edge{
			ID:           len(p.Edges),
			SpecEdge:     j,
			From:         se.From,
			To:           se.To,
			FromPipeline: id[g.pipeline[g.from[j]]],
			ToPipeline:   id[g.pipeline[g.to[j]]],
			Partitioning: g.s.PartitioningOf(j),
			Key:          se.Key,
			Output:       se.Output,
		}
		p.Edges = append(p.Edges, e)
		p.Pipelines[e.FromPipeline].Outputs = append(p.Pipelines[e.FromPipeline].Outputs, e.ID)
		p.Pipelines[e.ToPipeline].Inputs = append(p.Pipelines[e.ToPipeline].Inputs, e.ID)
	}
	return p
}

// intHeap is a min-heap of ints.
type intHeap []int

func (h intHeap) Len() int           { return len(h) }
func (h intHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h intHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *intHeap) Push(x any)        { *h = append(*h, x.(int)) }
func (h *intHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

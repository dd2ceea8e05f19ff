package plan

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/sluicehq/sluice/coordinator/jobspec"
)

// randomDAG returns a spec whose edges all go from a lower to a higher
// vertex index (so it is acyclic), with random parallelism and
// partitionings; forward edges only join equal parallelisms. Vertices are
// declared in a random order so that spec order is not topological.
func randomDAG(r *rand.Rand) *jobspec.Spec {
	n := 1 + r.IntN(12)
	perm := r.Perm(n) // perm[k] is the spec index of topological vertex k
	s := &jobspec.Spec{Name: "random", Vertices: make([]jobspec.Vertex, n)}
	if r.IntN(2) == 0 {
		s.Defaults.Parallelism = 1 + r.IntN(3)
	}
	for k := range n {
		v := jobspec.Vertex{ID: fmt.Sprintf("v%d", k), Operator: "op"}
		if r.IntN(3) > 0 {
			v.Parallelism = 1 + r.IntN(3)
		}
		s.Vertices[perm[k]] = v
	}
	par := func(k int) int { return s.Parallelism(perm[k]) }
	for a := range n {
		for b := a + 1; b < n; b++ {
			if r.IntN(4) != 0 {
				continue
			}
			e := jobspec.Edge{From: fmt.Sprintf("v%d", a), To: fmt.Sprintf("v%d", b)}
			parts := []string{"", jobspec.Forward, jobspec.Hash, jobspec.Rebalance, jobspec.Broadcast}
			if par(a) != par(b) {
				parts = parts[2:]
			}
			e.Partitioning = parts[r.IntN(len(parts))]
			if e.Partitioning == jobspec.Hash {
				e.Key = "k"
			}
			s.Edges = append(s.Edges, e)
		}
	}
	r.Shuffle(len(s.Edges), func(i, j int) { s.Edges[i], s.Edges[j] = s.Edges[j], s.Edges[i] })
	return s
}

func TestBuildRandomDAGs(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 2000 {
		s := randomDAG(r)
		p, err := Build(s)
		if err != nil {
			t.Fatalf("spec %d: %v\n%+v", i, err, s)
		}
		if !checkInvariants(t, s, p) {
			t.Fatalf("spec %d: %+v\nplan: %+v", i, s, p)
		}
	}
}

// checkInvariants checks what must hold of any plan of s and reports
// whether it does.
func checkInvariants(t *testing.T, s *jobspec.Spec, p *Plan) bool {
	t.Helper()
	ok := true
	fail := func(format string, args ...any) {
		t.Helper()
		t.Errorf(format, args...)
		ok = false
	}

	// every vertex in exactly one pipeline, with its parallelism
	seen := map[string]int{}
	for _, pl := range p.Pipelines {
		if len(pl.Vertices) == 0 {
			fail("pipeline %d is empty", pl.ID)
		}
		for _, v := range pl.Vertices {
			seen[v]++
			if par := s.Parallelism(s.VertexIndex(v)); par != pl.Parallelism {
				fail("vertex %s has parallelism %d in pipeline %d of parallelism %d", v, par, pl.ID, pl.Parallelism)
			}
		}
	}
	for _, v := range s.Vertices {
		if seen[v.ID] != 1 {
			fail("vertex %s is in %d pipelines", v.ID, seen[v.ID])
		}
	}

	// chained edges satisfy the rule, and every edge that satisfies it is
	// chained: consecutive vertices of a pipeline are joined by such an
	// edge, and the other spec edges are plan edges, each once
	chainable := func(j int) bool {
		e := s.Edges[j]
		return s.PartitioningOf(j) == jobspec.Forward &&
			s.Parallelism(s.VertexIndex(e.From)) == s.Parallelism(s.VertexIndex(e.To)) &&
			len(s.Outputs(e.From)) == 1 && len(s.Inputs(e.To)) == 1
	}
	inPlan := map[int]int{}
	for _, e := range p.Edges {
		inPlan[e.SpecEdge]++
	}
	chained := 0
	for j, e := range s.Edges {
		fp, fpos := p.PipelineOf(e.From)
		tp, tpos := p.PipelineOf(e.To)
		sameChain := fp == tp && tpos == fpos+1
		switch {
		case chainable(j) && (!sameChain || inPlan[j] != 0):
			fail("spec edge %d (%s -> %s) should be chained", j, e.From, e.To)
		case !chainable(j) && (sameChain || inPlan[j] != 1):
			fail("spec edge %d (%s -> %s) should be a plan edge, once", j, e.From, e.To)
		}
		if chainable(j) {
			chained++
		}
	}
	links := 0
	for _, pl := range p.Pipelines {
		links += len(pl.Vertices) - 1
	}
	if links != chained {
		fail("pipelines have %d links, spec has %d chainable edges", links, chained)
	}

	// plan edges: consistent, in topological order, tail to head
	for i, e := range p.Edges {
		if e.ID != i {
			fail("edge %d has id %d", i, e.ID)
		}
		se := s.Edges[e.SpecEdge]
		if e.From != se.From || e.To != se.To || e.Partitioning != s.PartitioningOf(e.SpecEdge) || e.Key != se.Key {
			fail("edge %d = %+v does not match spec edge %+v", i, e, se)
		}
		if e.FromPipeline >= e.ToPipeline {
			fail("edge %d goes from pipeline %d to %d: not topological", i, e.FromPipeline, e.ToPipeline)
		}
		from, to := p.Pipelines[e.FromPipeline], p.Pipelines[e.ToPipeline]
		if from.Vertices[len(from.Vertices)-1] != e.From || to.Vertices[0] != e.To {
			fail("edge %d does not go from a tail to a head", i)
		}
		if !slices.Contains(from.Outputs, i) || !slices.Contains(to.Inputs, i) {
			fail("edge %d missing from its pipelines' inputs or outputs", i)
		}
		for _, c := range p.Channels(i) {
			if c[0] < 0 || c[0] >= from.Parallelism || c[1] < 0 || c[1] >= to.Parallelism {
				fail("edge %d has channel %v out of range", i, c)
			}
		}
	}

	// slots
	maxPar := 0
	for _, pl := range p.Pipelines {
		maxPar = max(maxPar, pl.Parallelism)
	}
	if p.Slots != maxPar {
		fail("slots = %d, want %d", p.Slots, maxPar)
	}
	inSlots := 0
	for slot := range p.Slots {
		perPipeline := map[int]bool{}
		for _, id := range p.SubtasksInSlot(slot) {
			if perPipeline[id.Pipeline] {
				fail("slot %d holds two subtasks of pipeline %d", slot, id.Pipeline)
			}
			perPipeline[id.Pipeline] = true
			if p.SlotOf(id) != slot {
				fail("SlotOf(%v) = %d, but SubtasksInSlot(%d) lists it", id, p.SlotOf(id), slot)
			}
			inSlots++
		}
	}
	if n := len(p.Subtasks()); n != inSlots {
		fail("%d subtasks, %d in slots", n, inSlots)
	}
	return ok
}

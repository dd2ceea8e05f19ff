package jobspec

import (
	"fmt"
	"slices"
	"strings"

	"github.com/sluicehq/sluice/executor/operator"
)

// graph checks what depends on the shape of the whole graph: cycles, the
// inputs and outputs each kind of operator needs, and reachability.
func (v *validator) graph() {
	n := len(v.s.Vertices)
	succ := make([][]int, n)
	ins := make([][]int, n) // edge indexes into each vertex (its `to` resolved)
	outs := make([][]int, n)
	for j, e := range v.s.Edges {
		from, fromOK := v.index[e.From]
		to, toOK := v.index[e.To]
		if fromOK && toOK && from == to {
			continue // a self loop is reported on its own
		}
		if toOK {
			ins[to] = append(ins[to], j)
		}
		if fromOK {
			outs[from] = append(outs[from], j)
		}
		if v.graphEdge[j] {
			succ[from] = append(succ[from], to)
		}
	}

	inCycle := make([]bool, n)
	for _, scc := range cyclicComponents(succ) {
		for _, i := range scc {
			inCycle[i] = true
		}
		cycle := findCycle(succ, scc)
		ids := make([]string, len(cycle))
		for k, i := range cycle {
			ids[k] = v.s.Vertices[i].ID
		}
		v.p.add("edges", "the graph has a cycle: "+strings.Join(ids, " -> "))
	}

	for i := range v.s.Vertices {
		if !v.named(i) {
			continue // empty or duplicate id: edges cannot name it
		}
		v.kindRules(i, ins[i], outs[i])
	}
	v.reachability(succ, ins, inCycle)
}

// kindRules checks the inputs and outputs vertex i's kind of operator needs.
func (v *validator) kindRules(i int, ins, outs []int) {
	d := v.defs[i]
	if d == nil {
		return
	}
	path := fmt.Sprintf("vertices[%d]", i)
	id := v.s.Vertices[i].ID
	switch d.Kind {
	case operator.KindSource:
		if len(ins) > 0 {
			v.p.add(path, fmt.Sprintf("source %q cannot have inputs (edges[%d] leads into it)", id, ins[0]))
		}
		if len(outs) == 0 {
			v.p.add(path, fmt.Sprintf("source %q has no outputs", id))
		}
	case operator.KindSink:
		if len(outs) > 0 {
			v.p.add(path, fmt.Sprintf("sink %q cannot have outputs (edges[%d] leads out of it)", id, outs[0]))
		}
	}
	if d.Kind != operator.KindSource && len(ins) == 0 {
		v.p.add(path, fmt.Sprintf("%s %q has no inputs", d.Kind, id))
	}
}

// reachability reports vertices that no source feeds. Vertices whose
// problem is already reported (no inputs, part of a cycle) are not reported
// again, and vertices fed by edges from unknown vertices or with unknown
// operators are given the benefit of the doubt.
func (v *validator) reachability(succ, ins [][]int, inCycle []bool) {
	n := len(v.s.Vertices)
	reached := make([]bool, n)
	var queue []int
	for i := range n {
		d := v.defs[i]
		seed := (d != nil && d.Kind == operator.KindSource) ||
			(d == nil && len(ins[i]) == 0) || v.dangling[i]
		if seed && v.named(i) {
			reached[i] = true
			queue = append(queue, i)
		}
	}
	for len(queue) > 0 {
		i := queue[0]
		queue = queue[1:]
		for _, j := range succ[i] {
			if !reached[j] {
				reached[j] = true
				queue = append(queue, j)
			}
		}
	}
	for i := range n {
		vx := v.s.Vertices[i]
		if reached[i] || inCycle[i] || len(ins[i]) == 0 || !v.named(i) {
			continue
		}
		v.p.add(fmt.Sprintf("vertices[%d]", i), fmt.Sprintf("%q is not reachable from any source", vx.ID))
	}
}

// cyclicComponents returns the strongly connected components of the graph
// that contain a cycle (more than one vertex; self loops are excluded from
// succ), each sorted, ordered by their smallest vertex.
func cyclicComponents(succ [][]int) [][]int {
	n := len(succ)
	index := make([]int, n)
	low := make([]int, n)
	onStack := make([]bool, n)
	for i := range index {
		index[i] = -1
	}
	var (
		stack []int
		comps [][]int
		next  int
	)
	// Iterative Tarjan: frames of (vertex, next successor to visit).
	type frame struct{ v, k int }
	for root := range n {
		if index[root] >= 0 {
			continue
		}
		call := []frame{{root, 0}}
		index[root], low[root] = next, next
		next++
		stack = append(stack, root)
		onStack[root] = true
		for len(call) > 0 {
			f := &call[len(call)-1]
			if f.k < len(succ[f.v]) {
				w := succ[f.v][f.k]
				f.k++
				switch {
				case index[w] < 0:
					index[w], low[w] = next, next
					next++
					stack = append(stack, w)
					onStack[w] = true
					call = append(call, frame{w, 0})
				case onStack[w]:
					low[f.v] = min(low[f.v], index[w])
				}
				continue
			}
			u := f.v
			call = call[:len(call)-1]
			if len(call) > 0 {
				p := call[len(call)-1].v
				low[p] = min(low[p], low[u])
			}
			if low[u] != index[u] {
				continue
			}
			var comp []int
			for {
				w := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				onStack[w] = false
				comp = append(comp, w)
				if w == u {
					break
				}
			}
			if len(comp) > 1 {
				comps = append(comps, comp)
			}
		}
	}
	for _, c := range comps {
		slices.Sort(c)
	}
	slices.SortFunc(comps, func(a, b []int) int { return a[0] - b[0] })
	return comps
}

// findCycle returns a shortest cycle through the smallest vertex of the
// strongly connected component scc, as a list of vertices that starts and
// ends with that vertex.
func findCycle(succ [][]int, scc []int) []int {
	in := map[int]bool{}
	for _, i := range scc {
		in[i] = true
	}
	start := scc[0]
	parent := map[int]int{}
	queue := []int{start}
	for len(queue) > 0 {
		u := queue[0]
		queue = queue[1:]
		for _, w := range succ[u] {
			if !in[w] {
				continue
			}
			if w == start {
				cycle := []int{start}
				for x := u; x != start; x = parent[x] {
					cycle = append(cycle, x)
				}
				cycle = append(cycle, start)
				// built backwards from the end: reverse
				for a, b := 0, len(cycle)-1; a < b; a, b = a+1, b-1 {
					cycle[a], cycle[b] = cycle[b], cycle[a]
				}
				return cycle
			}
			if _, seen := parent[w]; !seen {
				parent[w] = u
				queue = append(queue, w)
			}
		}
	}
	return []int{start, start} // unreachable for a real component
}

package jobspec

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/sluicehq/sluice/executor/expr"
	"github.com/sluicehq/sluice/executor/operator"
)

// Catalog is where Validate looks operators up; *operator.Registry is one.
// If it also has a Names() []string method (as the Registry does), the
// error for an unknown operator lists the known ones.
type Catalog interface {
	// Resolve finds an operator for a vertex that is a source (has no
	// inputs) or not; see operator.Registry.Resolve.
	Resolve(name string, source bool) (operator.Definition, bool)
}

var idPattern = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// Validate checks the spec against the operators in reg and returns nil or
// a *ValidationError listing every problem:
//
//   - defaults: parallelism in 1..MaxParallelismLimit, maxParallelism in
//     1..MaxKeyGroupsLimit;
//   - vertices: at least one; ids non-empty, unique, [A-Za-z0-9_-]+; the
//     operator known; the config accepted by the operator's
//     Definition.DecodeConfig; parallelism in 1..MaxParallelismLimit and at
//     most maxParallelism;
//   - edges: both ends exist; partitioning known; a key on hash edges and
//     only there; equal parallelism at both ends of forward edges; no
//     duplicate edges or self loops; keyed operators only get hash inputs;
//   - the graph: a DAG; sources have no inputs and at least one output;
//     sinks have no outputs; transforms and sinks have at least one input;
//     every vertex is reachable from a source.
//
// Validate works on a spec whether or not it is normalized, and does not
// change it.
func (s *Spec) Validate(reg Catalog) error {
	if reg == nil {
		return errors.New("validate job spec: no operator catalog")
	}
	v := newValidator(s, reg)
	v.checkExpr = expr.Check
	v.defaults()
	v.vertices()
	v.edges()
	v.graph()
	v.validateJobSettings()
	return v.p.err()
}

// validator holds what the checks learn about the spec.
type validator struct {
	s   *Spec
	reg Catalog
	p   problems

	maxPar int                    // effective maxParallelism, 0 if invalid
	defs   []*operator.Definition // per vertex; nil when unknown
	index  map[string]int         // vertex id -> first vertex with it
	// graph edges: resolved, not self loops, not duplicates
	graphEdge []bool
	// per vertex: edges into it whose source is not a known vertex
	dangling []bool
	// checkExpr compiles an expression (keys, timestamps)
	checkExpr func(src string) error
}

func newValidator(s *Spec, reg Catalog) *validator {
	v := &validator{
		s:         s,
		reg:       reg,
		defs:      make([]*operator.Definition, len(s.Vertices)),
		index:     map[string]int{},
		graphEdge: make([]bool, len(s.Edges)),
		dangling:  make([]bool, len(s.Vertices)),
	}
	for i, vx := range s.Vertices {
		if _, dup := v.index[vx.ID]; !dup && vx.ID != "" {
			v.index[vx.ID] = i
		}
	}
	return v
}

// named reports whether edges can name vertex i: its id is not empty and
// no earlier vertex has it.
func (v *validator) named(i int) bool {
	j, ok := v.index[v.s.Vertices[i].ID]
	return ok && j == i
}

func (v *validator) defaults() {
	d := v.s.Defaults
	if d.Parallelism != 0 && (d.Parallelism < 1 || d.Parallelism > MaxParallelismLimit) {
		v.p.add("defaults.parallelism", fmt.Sprintf("must be between 1 and %d, not %d", MaxParallelismLimit, d.Parallelism))
	}
	v.maxPar = v.s.MaxParallelism()
	if d.MaxParallelism != 0 && (d.MaxParallelism < 1 || d.MaxParallelism > MaxKeyGroupsLimit) {
		v.p.add("defaults.maxParallelism", fmt.Sprintf("must be between 1 and %d, not %d", MaxKeyGroupsLimit, d.MaxParallelism))
		v.maxPar = 0
		return
	}
	if d.Parallelism > v.maxPar && d.Parallelism <= MaxParallelismLimit {
		v.p.add("defaults.parallelism", fmt.Sprintf("%d exceeds maxParallelism (%d)", d.Parallelism, v.maxPar))
	}
}

func (v *validator) vertices() {
	if len(v.s.Vertices) == 0 {
		v.p.add("vertices", "at least one vertex is required")
		return
	}
	for i := range v.s.Vertices {
		v.vertex(i)
	}
}

func (v *validator) vertex(i int) {
	vx := v.s.Vertices[i]
	path := fmt.Sprintf("vertices[%d]", i)
	switch {
	case vx.ID == "":
		v.p.add(path+".id", "is required")
	case len(vx.ID) > MaxIDLength:
		v.p.add(path+".id", fmt.Sprintf("is longer than %d characters", MaxIDLength))
	case !idPattern.MatchString(vx.ID):
		v.p.add(path+".id", fmt.Sprintf("%q may contain only letters, digits, '_' and '-'", vx.ID))
	case !v.named(i):
		v.p.add(path+".id", fmt.Sprintf("duplicate id %q (also vertices[%d])", vx.ID, v.index[vx.ID]))
	}

	if vx.Operator == "" {
		v.p.add(path+".operator", "is required")
	} else if def, ok := v.reg.Resolve(vx.Operator, len(v.s.Inputs(vx.ID)) == 0); !ok {
		v.p.add(path+".operator", v.unknownOperator(vx.Operator))
	} else {
		v.defs[i] = &def
		_, errs := def.DecodeConfig(vx.Config)
		for _, fe := range errs {
			p := path + ".config"
			if fe.Field != "" {
				p += "." + fe.Field
			}
			v.p.add(p, fe.Msg)
		}
	}

	if p := vx.Parallelism; p != 0 {
		switch {
		case p < 1 || p > MaxParallelismLimit:
			v.p.add(path+".parallelism", fmt.Sprintf("must be between 1 and %d, not %d", MaxParallelismLimit, p))
		case v.maxPar > 0 && p > v.maxPar:
			v.p.add(path+".parallelism", fmt.Sprintf("%d exceeds maxParallelism (%d)", p, v.maxPar))
		}
	}
}

func (v *validator) unknownOperator(name string) string {
	var known []string
	if n, ok := v.reg.(interface{ Names() []string }); ok {
		known = slices.Sorted(slices.Values(n.Names()))
	}
	var hints []string
	if c := closest(name, known); c != "" {
		hints = append(hints, fmt.Sprintf("did you mean %q?", c))
	}
	if len(known) > 0 {
		hints = append(hints, "known: "+strings.Join(known, ", "))
	}
	msg := fmt.Sprintf("unknown operator %q", name)
	if len(hints) > 0 {
		msg += " (" + strings.Join(hints, "; ") + ")"
	}
	return msg
}

func (v *validator) edges() {
	seen := map[[2]string]int{}
	for j, e := range v.s.Edges {
		path := fmt.Sprintf("edges[%d]", j)
		from, fromOK := v.endpoint(path+".from", e.From)
		to, toOK := v.endpoint(path+".to", e.To)
		if toOK && !fromOK {
			v.dangling[to] = true
		}

		part := v.s.PartitioningOf(j)
		partOK := slices.Contains(Partitionings(), part)
		if !partOK {
			v.p.add(path+".partitioning", fmt.Sprintf("unknown partitioning %q (%sknown: %s)",
				part, hint(closest(part, Partitionings())), strings.Join(Partitionings(), ", ")))
		}
		switch {
		case part == Hash && e.Key == "":
			v.p.add(path+".key", "is required for hash partitioning")
		case part == Hash && v.checkExpr != nil && v.checkExpr(e.Key) != nil:
			v.p.add(path+".key", v.checkExpr(e.Key).Error())
		case partOK && part != Hash && e.Key != "":
			v.p.add(path+".key", fmt.Sprintf("only hash edges take a key, not %s edges", part))
		}

		loop := fromOK && toOK && from == to
		if loop {
			v.p.add(path, fmt.Sprintf("self loop on vertex %q", e.From))
		}
		dup := false
		if fromOK && toOK && !loop {
			k := [2]string{e.From, e.To}
			if first, ok := seen[k]; ok {
				dup = true
				v.p.add(path, fmt.Sprintf("duplicate of edges[%d] (%s -> %s)", first, e.From, e.To))
			} else {
				seen[k] = j
			}
		}
		v.graphEdge[j] = fromOK && toOK && !loop && !dup
		if !fromOK || !toOK || loop {
			continue
		}

		if part == Forward {
			pf, pt := v.s.Parallelism(from), v.s.Parallelism(to)
			if pf != pt && validParallelism(pf) && validParallelism(pt) {
				v.p.add(path+".partitioning", fmt.Sprintf(
					"forward edge needs equal parallelism at both ends (%s: %d, %s: %d); use %q to redistribute records",
					e.From, pf, e.To, pt, Rebalance))
			}
		}
		if d := v.defs[to]; d != nil && d.Keyed && partOK && part != Hash {
			v.p.add(path+".partitioning", fmt.Sprintf(
				"vertex %q runs keyed operator %q, which takes only hash inputs, not %s", e.To, d.Name, part))
		}
	}
}

func validParallelism(p int) bool { return p >= 1 && p <= MaxParallelismLimit }

// hint formats a suggestion for the start of a parenthesis, or "".
func hint(s string) string {
	if s == "" {
		return ""
	}
	return fmt.Sprintf("did you mean %q?; ", s)
}

// endpoint resolves an edge end, reporting a missing or unknown vertex.
func (v *validator) endpoint(path, id string) (int, bool) {
	if id == "" {
		v.p.add(path, "is required")
		return -1, false
	}
	i, ok := v.index[id]
	if !ok {
		v.p.add(path, fmt.Sprintf("unknown vertex %q%s", id, didYouMean(id, sortedKeys(v.index))))
		return -1, false
	}
	return i, true
}

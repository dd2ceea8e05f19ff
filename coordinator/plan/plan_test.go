package plan

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/coordinator/jobspec"
)

// spec builds a spec from "id:parallelism" vertices and "from-to:partitioning"
// edges ("a-b" is a forward edge, "a-b:hash" gets key "k").
func spec(vertices []string, edges ...string) *jobspec.Spec {
	s := &jobspec.Spec{Name: "test", Defaults: jobspec.Defaults{Parallelism: 2}}
	for _, v := range vertices {
		id, par, _ := strings.Cut(v, ":")
		vx := jobspec.Vertex{ID: id, Operator: "op"}
		if par != "" {
			vx.Parallelism = int(par[0] - '0')
		}
		s.Vertices = append(s.Vertices, vx)
	}
	for _, e := range edges {
		ends, part, _ := strings.Cut(e, ":")
		from, to, _ := strings.Cut(ends, "-")
		edge := jobspec.Edge{From: from, To: to, Partitioning: part}
		if part == jobspec.Hash {
			edge.Key = "k"
		}
		s.Edges = append(s.Edges, edge)
	}
	return s
}

func TestBuild(t *testing.T) {
	for _, tc := range []struct {
		name      string
		spec      *jobspec.Spec
		pipelines [][]string
		edges     []Edge
		slots     int
	}{
		{
			name:      "wordcount",
			spec:      spec([]string{"source", "tokenize", "count", "sink"}, "source-tokenize", "tokenize-count:hash", "count-sink"),
			pipelines: [][]string{{"source", "tokenize"}, {"count", "sink"}},
			edges:     []Edge{{SpecEdge: 1, From: "tokenize", To: "count", FromPipeline: 0, ToPipeline: 1, Partitioning: jobspec.Hash, Key: "k"}},
			slots:     2,
		},
		{
			name:      "one chain",
			spec:      spec([]string{"c", "b", "a"}, "c-b", "b-a"),
			pipelines: [][]string{{"c", "b", "a"}},
			edges:     []Edge{},
			slots:     2,
		},
		{
			name:      "parallelism change breaks the chain",
			spec:      spec([]string{"src:1", "map:4", "sink:4"}, "src-map:rebalance", "map-sink"),
			pipelines: [][]string{{"src"}, {"map", "sink"}},
			edges:     []Edge{{SpecEdge: 0, From: "src", To: "map", FromPipeline: 0, ToPipeline: 1, Partitioning: jobspec.Rebalance}},
			slots:     4,
		},
		{
			name:      "fan-out",
			spec:      spec([]string{"src", "a", "b", "sink"}, "src-a", "src-b", "a-sink:rebalance", "b-sink:rebalance"),
			pipelines: [][]string{{"src"}, {"a"}, {"b"}, {"sink"}},
			edges: []Edge{
				{SpecEdge: 0, From: "src", To: "a", FromPipeline: 0, ToPipeline: 1, Partitioning: jobspec.Forward},
				{SpecEdge: 1, From: "src", To: "b", FromPipeline: 0, ToPipeline: 2, Partitioning: jobspec.Forward},
				{SpecEdge: 2, From: "a", To: "sink", FromPipeline: 1, ToPipeline: 3, Partitioning: jobspec.Rebalance},
				{SpecEdge: 3, From: "b", To: "sink", FromPipeline: 2, ToPipeline: 3, Partitioning: jobspec.Rebalance},
			},
			slots: 2,
		},
		{
			name: "fan-in",
			// the sink is declared first; pipelines still come out in
			// topological order
			spec:      spec([]string{"sink", "s1", "s2", "union"}, "s1-union", "s2-union", "union-sink"),
			pipelines: [][]string{{"s1"}, {"s2"}, {"union", "sink"}},
			edges: []Edge{
				{SpecEdge: 0, From: "s1", To: "union", FromPipeline: 0, ToPipeline: 2, Partitioning: jobspec.Forward},
				{SpecEdge: 1, From: "s2", To: "union", FromPipeline: 1, ToPipeline: 2, Partitioning: jobspec.Forward},
			},
			slots: 2,
		},
		{
			name:      "broadcast",
			spec:      spec([]string{"rules:1", "lines:3", "apply:3", "out:1"}, "rules-apply:broadcast", "lines-apply", "apply-out:rebalance"),
			pipelines: [][]string{{"rules"}, {"lines"}, {"apply"}, {"out"}},
			edges: []Edge{
				{SpecEdge: 0, From: "rules", To: "apply", FromPipeline: 0, ToPipeline: 2, Partitioning: jobspec.Broadcast},
				{SpecEdge: 1, From: "lines", To: "apply", FromPipeline: 1, ToPipeline: 2, Partitioning: jobspec.Forward},
				{SpecEdge: 2, From: "apply", To: "out", FromPipeline: 2, ToPipeline: 3, Partitioning: jobspec.Rebalance},
			},
			slots: 3,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := tc.spec.Clone()
			p, err := Build(tc.spec)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(tc.spec, before) {
				t.Error("Build changed the spec")
			}
			var got [][]string
			for i, pl := range p.Pipelines {
				if pl.ID != i {
					t.Errorf("pipeline %d has id %d", i, pl.ID)
				}
				got = append(got, pl.Vertices)
			}
			if !reflect.DeepEqual(got, tc.pipelines) {
				t.Errorf("pipelines = %v, want %v", got, tc.pipelines)
			}
			for i := range tc.edges {
				tc.edges[i].ID = i
			}
			if !reflect.DeepEqual(p.Edges, tc.edges) {
				t.Errorf("edges = %+v\nwant    %+v", p.Edges, tc.edges)
			}
			if p.Slots != tc.slots {
				t.Errorf("slots = %d, want %d", p.Slots, tc.slots)
			}
			if p.MaxParallelism != jobspec.DefaultMaxParallelism {
				t.Errorf("maxParallelism = %d", p.MaxParallelism)
			}
			checkInvariants(t, tc.spec, p)
		})
	}
}

func TestPipelineInputsOutputs(t *testing.T) {
	p, err := Build(spec([]string{"src", "a", "b", "sink"}, "src-a", "src-b", "a-sink:rebalance", "b-sink:rebalance"))
	if err != nil {
		t.Fatal(err)
	}
	want := []struct{ in, out []int }{
		{[]int{}, []int{0, 1}}, {[]int{0}, []int{2}}, {[]int{1}, []int{3}}, {[]int{2, 3}, []int{}},
	}
	for i, w := range want {
		if pl := p.Pipelines[i]; !reflect.DeepEqual(pl.Inputs, w.in) || !reflect.DeepEqual(pl.Outputs, w.out) {
			t.Errorf("pipeline %d: inputs %v outputs %v, want %v %v", i, pl.Inputs, pl.Outputs, w.in, w.out)
		}
	}
}

func TestSubtasksAndSlots(t *testing.T) {
	p, err := Build(spec([]string{"rules:1", "lines:3", "apply:3", "out:1"}, "rules-apply:broadcast", "lines-apply", "apply-out:rebalance"))
	if err != nil {
		t.Fatal(err)
	}
	want := []SubtaskID{{0, 0}, {1, 0}, {1, 1}, {1, 2}, {2, 0}, {2, 1}, {2, 2}, {3, 0}}
	if got := p.Subtasks(); !reflect.DeepEqual(got, want) {
		t.Errorf("Subtasks() = %v, want %v", got, want)
	}
	for _, tc := range []struct {
		slot int
		want []SubtaskID
	}{
		{0, []SubtaskID{{0, 0}, {1, 0}, {2, 0}, {3, 0}}},
		{1, []SubtaskID{{1, 1}, {2, 1}}},
		{2, []SubtaskID{{1, 2}, {2, 2}}},
		{3, nil},
		{-1, nil},
	} {
		if got := p.SubtasksInSlot(tc.slot); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("SubtasksInSlot(%d) = %v, want %v", tc.slot, got, tc.want)
		}
	}
	if got := p.SlotOf(SubtaskID{Pipeline: 2, Index: 1}); got != 1 {
		t.Errorf("SlotOf = %d, want 1", got)
	}
}

func TestChannels(t *testing.T) {
	p, err := Build(spec([]string{"rules:1", "lines:3", "apply:3", "out:2"}, "rules-apply:broadcast", "lines-apply", "apply-out:hash"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		edge int
		want [][2]int
	}{
		{0, [][2]int{{0, 0}, {0, 1}, {0, 2}}},
		{1, [][2]int{{0, 0}, {1, 1}, {2, 2}}},
		{2, [][2]int{{0, 0}, {0, 1}, {1, 0}, {1, 1}, {2, 0}, {2, 1}}},
		{3, nil},
		{-1, nil},
	} {
		if got := p.Channels(tc.edge); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Channels(%d) = %v, want %v", tc.edge, got, tc.want)
		}
	}
}

func TestPipelineOf(t *testing.T) {
	p, err := Build(spec([]string{"source", "tokenize", "count", "sink"}, "source-tokenize", "tokenize-count:hash", "count-sink"))
	if err != nil {
		t.Fatal(err)
	}
	for v, want := range map[string][2]int{
		"source": {0, 0}, "tokenize": {0, 1}, "count": {1, 0}, "sink": {1, 1}, "nope": {-1, -1},
	} {
		if pl, pos := p.PipelineOf(v); pl != want[0] || pos != want[1] {
			t.Errorf("PipelineOf(%s) = %d, %d, want %v", v, pl, pos, want)
		}
	}
}

func TestBuildIsDeterministicAndSerialisable(t *testing.T) {
	s := spec([]string{"sink", "s1", "s2", "union", "x:3", "y:3"}, "s1-union", "s2-union", "union-sink", "s2-x:rebalance", "x-y")
	p1, err := Build(s)
	if err != nil {
		t.Fatal(err)
	}
	p2, err := Build(s.Clone())
	if err != nil {
		t.Fatal(err)
	}
	j1, err := json.Marshal(p1)
	if err != nil {
		t.Fatal(err)
	}
	j2, _ := json.Marshal(p2)
	if string(j1) != string(j2) {
		t.Errorf("two builds differ:\n%s\n%s", j1, j2)
	}
	var back Plan
	if err := json.Unmarshal(j1, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&back, p1) {
		t.Errorf("JSON round trip changed the plan:\n%+v\n%+v", p1, &back)
	}
}

func TestBuildNormalizedSpec(t *testing.T) {
	s := spec([]string{"source", "tokenize", "count", "sink"}, "source-tokenize", "tokenize-count:hash", "count-sink")
	want, err := Build(s)
	if err != nil {
		t.Fatal(err)
	}
	s.Normalize()
	got, err := Build(s)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("normalizing changed the plan:\n%+v\n%+v", got, want)
	}
}

func TestBuildErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		spec *jobspec.Spec
		want string
	}{
		{"empty", spec(nil), "no vertices"},
		{"unknown vertex", spec([]string{"a"}, "a-b"), "unknown vertex"},
		{"duplicate vertex", spec([]string{"a", "a"}), "duplicate vertex"},
		{"self loop", spec([]string{"a"}, "a-a:rebalance"), "self loop"},
		{"forward between parallelisms", spec([]string{"a:1", "b:2"}, "a-b"), "joins parallelism 1 and 2"},
		{"cycle of forward edges", spec([]string{"a", "b"}, "a-b", "b-a"), "cycle"},
		{"cycle", spec([]string{"s", "a", "b"}, "s-a", "a-b:rebalance", "b-a:rebalance"), "cycle"},
		{"cycle within a chain", spec([]string{"a", "b", "c"}, "a-b", "b-c", "c-a:rebalance"), "cycle"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Build(tc.spec)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Build error = %v, want %q", err, tc.want)
			}
		})
	}
}

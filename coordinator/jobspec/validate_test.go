package jobspec

import (
	"encoding/json"
	"reflect"
	"testing"
)

// wordcount is a valid spec: lines -> words -(hash)-> counts -(rebalance)-> out.
func wordcount() *Spec {
	return &Spec{
		Name:     "wordcount",
		Defaults: Defaults{Parallelism: 2},
		Vertices: []Vertex{
			{ID: "lines", Operator: "gen", Config: json.RawMessage(`{"count":1}`)},
			{ID: "words", Operator: "tokenize"},
			{ID: "counts", Operator: "count", Config: json.RawMessage(`{"key":"word"}`), Parallelism: 4},
			{ID: "out", Operator: "print", Parallelism: 1},
		},
		Edges: []Edge{
			{From: "lines", To: "words"},
			{From: "words", To: "counts", Partitioning: Hash, Key: "word"},
			{From: "counts", To: "out", Partitioning: Rebalance},
		},
	}
}

func TestValidate(t *testing.T) {
	addVertex := func(s *Spec, v Vertex) { s.Vertices = append(s.Vertices, v) }
	addEdge := func(s *Spec, e Edge) { s.Edges = append(s.Edges, e) }
	for _, tc := range []struct {
		name   string
		mutate func(s *Spec)
		want   []string
	}{
		{"valid", func(*Spec) {}, nil},
		{"valid normalized", func(s *Spec) { s.Normalize() }, nil},
		{"valid with broadcast and fan-in", func(s *Spec) {
			addVertex(s, Vertex{ID: "rules", Operator: "gen"})
			addVertex(s, Vertex{ID: "apply", Operator: "map", Config: json.RawMessage(`{"expr":"x"}`)})
			addEdge(s, Edge{From: "rules", To: "apply", Partitioning: Broadcast})
			addEdge(s, Edge{From: "lines", To: "apply", Partitioning: Rebalance})
			addEdge(s, Edge{From: "apply", To: "out", Partitioning: Rebalance})
		}, nil},

		// defaults
		{"defaults.parallelism out of range", func(s *Spec) { s.Defaults.Parallelism = 1000 }, []string{
			"defaults.parallelism: must be between 1 and 256, not 1000"}},
		{"defaults.parallelism over maxParallelism", func(s *Spec) {
			s.Defaults = Defaults{Parallelism: 8, MaxParallelism: 4}
			s.Vertices[0].Parallelism, s.Vertices[1].Parallelism = 4, 4
		}, []string{"defaults.parallelism: 8 exceeds maxParallelism (4)"}},
		{"defaults.maxParallelism out of range", func(s *Spec) { s.Defaults.MaxParallelism = 40000 }, []string{
			"defaults.maxParallelism: must be between 1 and 32768, not 40000"}},

		// vertices
		{"no vertices", func(s *Spec) { s.Vertices, s.Edges = nil, nil }, []string{
			"vertices: at least one vertex is required"}},
		{"empty id", func(s *Spec) { addVertex(s, Vertex{Operator: "gen"}) }, []string{
			"vertices[4].id: is required"}},
		{"bad id", func(s *Spec) {
			s.Vertices[3].ID = "o/t"
			s.Edges[2].To = "o/t"
		}, []string{`vertices[3].id: "o/t" may contain only letters, digits, '_' and '-'`}},
		{"duplicate id", func(s *Spec) { addVertex(s, Vertex{ID: "out", Operator: "print"}) }, []string{
			`vertices[4].id: duplicate id "out" (also vertices[3])`}},
		{"missing operator", func(s *Spec) { s.Vertices[1].Operator = "" }, []string{
			"vertices[1].operator: is required"}},
		{"unknown operator", func(s *Spec) { s.Vertices[1].Operator = "mapp" }, []string{
			`vertices[1].operator: unknown operator "mapp" (did you mean "map"?; known: count, gen, map, print, tokenize)`}},
		{"unknown operator without suggestion", func(s *Spec) { s.Vertices[1].Operator = "zzzzzz" }, []string{
			`vertices[1].operator: unknown operator "zzzzzz" (known: count, gen, map, print, tokenize)`}},
		{"unknown config field", func(s *Spec) { s.Vertices[2].Config = json.RawMessage(`{"kye":"word"}`) }, []string{
			`vertices[2].config.kye: unknown field "kye" (did you mean "key"?)`}},
		{"config type error", func(s *Spec) { s.Vertices[0].Config = json.RawMessage(`{"count":"ten"}`) }, []string{
			`vertices[0].config.count: must be an integer, not string`}},
		{"config Validate error", func(s *Spec) {
			addVertex(s, Vertex{ID: "m", Operator: "map", Config: json.RawMessage(`{}`)})
			addEdge(s, Edge{From: "counts", To: "m", Partitioning: Rebalance})
			addEdge(s, Edge{From: "m", To: "out", Partitioning: Rebalance})
		}, []string{`vertices[4].config.expr: is required`}},
		{"config for an operator without config", func(s *Spec) { s.Vertices[1].Config = json.RawMessage(`{"x":1}`) }, []string{
			`vertices[1].config: operator "tokenize" takes no config`}},
		{"parallelism out of range", func(s *Spec) { s.Vertices[2].Parallelism = 300 }, []string{
			"vertices[2].parallelism: must be between 1 and 256, not 300"}},
		{"negative parallelism", func(s *Spec) { s.Vertices[3].Parallelism = -1 }, []string{
			"vertices[3].parallelism: must be between 1 and 256, not -1"}},
		{"parallelism over maxParallelism", func(s *Spec) { s.Defaults.MaxParallelism = 3 }, []string{
			"vertices[2].parallelism: 4 exceeds maxParallelism (3)"}},

		// edges
		{"edge from unknown vertex", func(s *Spec) { addEdge(s, Edge{From: "nope", To: "out", Partitioning: Rebalance}) }, []string{
			`edges[3].from: unknown vertex "nope"`}},
		{"edge to misspelt vertex", func(s *Spec) { addEdge(s, Edge{From: "lines", To: "wrods"}) }, []string{
			`edges[3].to: unknown vertex "wrods" (did you mean "words"?)`}},
		{"edge without ends", func(s *Spec) { addEdge(s, Edge{}) }, []string{
			"edges[3].from: is required", "edges[3].to: is required"}},
		{"unknown partitioning", func(s *Spec) { s.Edges[1].Partitioning = "hsh" }, []string{
			`edges[1].partitioning: unknown partitioning "hsh" (did you mean "hash"?; known: forward, hash, rebalance, broadcast)`}},
		{"hash without key", func(s *Spec) { s.Edges[1].Key = "" }, []string{
			"edges[1].key: is required for hash partitioning"}},
		{"key on a rebalance edge", func(s *Spec) { s.Edges[2].Key = "word" }, []string{
			"edges[2].key: only hash edges take a key, not rebalance edges"}},
		{"key on a default edge", func(s *Spec) { s.Edges[0].Key = "word" }, []string{
			"edges[0].key: only hash edges take a key, not forward edges"}},
		{"forward with unequal parallelism", func(s *Spec) { s.Edges[2].Partitioning = Forward }, []string{
			`edges[2].partitioning: forward edge needs equal parallelism at both ends (counts: 4, out: 1); use "rebalance" to redistribute records`}},
		{"keyed operator with a rebalance input", func(s *Spec) { s.Edges[1] = Edge{From: "words", To: "counts", Partitioning: Rebalance} }, []string{
			`edges[1].partitioning: vertex "counts" runs keyed operator "count", which takes only hash inputs, not rebalance`}},
		{"duplicate edge", func(s *Spec) { addEdge(s, s.Edges[2]) }, []string{
			"edges[3]: duplicate of edges[2] (counts -> out)"}},
		{"self loop", func(s *Spec) { addEdge(s, Edge{From: "words", To: "words"}) }, []string{
			`edges[3]: self loop on vertex "words"`}},

		// graph
		{"cycle", func(s *Spec) { addEdge(s, Edge{From: "counts", To: "words", Partitioning: Rebalance}) }, []string{
			"edges: the graph has a cycle: words -> counts -> words"}},
		{"longer cycle", func(s *Spec) {
			addVertex(s, Vertex{ID: "a", Operator: "tokenize"})
			addVertex(s, Vertex{ID: "b", Operator: "tokenize"})
			addVertex(s, Vertex{ID: "c", Operator: "tokenize"})
			addEdge(s, Edge{From: "a", To: "b"})
			addEdge(s, Edge{From: "b", To: "c"})
			addEdge(s, Edge{From: "c", To: "a"})
			addEdge(s, Edge{From: "c", To: "out", Partitioning: Rebalance})
		}, []string{"edges: the graph has a cycle: a -> b -> c -> a"}},
		{"source with an input", func(s *Spec) {
			addVertex(s, Vertex{ID: "src2", Operator: "gen"})
			addEdge(s, Edge{From: "lines", To: "src2"})
			addEdge(s, Edge{From: "src2", To: "out", Partitioning: Rebalance})
		}, []string{`vertices[4]: source "src2" cannot have inputs (edges[3] leads into it)`}},
		{"source without outputs", func(s *Spec) { addVertex(s, Vertex{ID: "idle", Operator: "gen"}) }, []string{
			`vertices[4]: source "idle" has no outputs`}},
		{"sink with an output", func(s *Spec) {
			addVertex(s, Vertex{ID: "out2", Operator: "print", Parallelism: 1})
			addEdge(s, Edge{From: "out", To: "out2"})
		}, []string{`vertices[3]: sink "out" cannot have outputs (edges[3] leads out of it)`}},
		{"transform without inputs", func(s *Spec) {
			addVertex(s, Vertex{ID: "orphan", Operator: "tokenize"})
			addEdge(s, Edge{From: "orphan", To: "out", Partitioning: Rebalance})
		}, []string{`vertices[4]: transform "orphan" has no inputs`}},
		{"sink without inputs", func(s *Spec) { addVertex(s, Vertex{ID: "out2", Operator: "print"}) }, []string{
			`vertices[4]: sink "out2" has no inputs`}},
		{"unreachable from a source", func(s *Spec) {
			addVertex(s, Vertex{ID: "t1", Operator: "tokenize"})
			addVertex(s, Vertex{ID: "t2", Operator: "tokenize"})
			addEdge(s, Edge{From: "t1", To: "t2"})
			addEdge(s, Edge{From: "t2", To: "out", Partitioning: Rebalance})
		}, []string{
			`vertices[4]: transform "t1" has no inputs`,
			`vertices[5]: "t2" is not reachable from any source`,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := wordcount()
			tc.mutate(s)
			before := s.Clone()
			err := s.Validate(testCatalog())
			if !reflect.DeepEqual(s, before) {
				t.Errorf("Validate changed the spec")
			}
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			checkErrors(t, err, tc.want)
		})
	}
}

func TestValidateReportsEveryMistake(t *testing.T) {
	s := wordcount()
	s.Vertices[2].Config = json.RawMessage(`{"kye":"word"}`)
	s.Edges[1].Partitioning = "hsh"
	s.Vertices[3].Parallelism = 300
	err := s.Validate(testCatalog())
	checkErrors(t, err, []string{
		`vertices[2].config.kye: unknown field "kye" (did you mean "key"?)`,
		`vertices[3].parallelism: must be between 1 and 256, not 300`,
		`edges[1].partitioning: unknown partitioning "hsh" (did you mean "hash"?; known: forward, hash, rebalance, broadcast)`,
	})
	ve := err.(*ValidationError)
	paths := []string{}
	for _, fe := range ve.Errors {
		paths = append(paths, fe.Path)
	}
	if want := []string{"vertices[2].config.kye", "vertices[3].parallelism", "edges[1].partitioning"}; !reflect.DeepEqual(paths, want) {
		t.Errorf("paths = %q, want %q", paths, want)
	}
}

func TestValidateParsedSpec(t *testing.T) {
	s := mustParse(t, wordcountYAML, "")
	if err := s.Validate(testCatalog()); err != nil {
		t.Fatalf("Validate: %v", err)
	}
}

func TestNormalize(t *testing.T) {
	s := wordcount()
	s.Defaults = Defaults{}
	s.Vertices[0].Config = json.RawMessage(" {\"count\" : 1 }\n")
	s.Normalize()
	if s.Defaults != (Defaults{Parallelism: DefaultParallelism, MaxParallelism: DefaultMaxParallelism}) {
		t.Errorf("defaults = %+v", s.Defaults)
	}
	for i, want := range []int{1, 1, 4, 1} {
		if s.Vertices[i].Parallelism != want {
			t.Errorf("vertices[%d].parallelism = %d, want %d", i, s.Vertices[i].Parallelism, want)
		}
	}
	for i, want := range []string{Forward, Hash, Rebalance} {
		if s.Edges[i].Partitioning != want {
			t.Errorf("edges[%d].partitioning = %q, want %q", i, s.Edges[i].Partitioning, want)
		}
	}
	if got := string(s.Vertices[0].Config); got != `{"count":1}` {
		t.Errorf("config = %s", got)
	}
	again := s.Clone()
	again.Normalize()
	if !reflect.DeepEqual(again, s) {
		t.Errorf("Normalize is not idempotent")
	}
}

func TestHelpers(t *testing.T) {
	s := wordcount()
	if got := s.VertexIndex("counts"); got != 2 {
		t.Errorf("VertexIndex(counts) = %d", got)
	}
	if got := s.VertexIndex("nope"); got != -1 {
		t.Errorf("VertexIndex(nope) = %d", got)
	}
	if got := s.Inputs("counts"); !reflect.DeepEqual(got, []int{1}) {
		t.Errorf("Inputs(counts) = %v", got)
	}
	if got := s.Outputs("counts"); !reflect.DeepEqual(got, []int{2}) {
		t.Errorf("Outputs(counts) = %v", got)
	}
	if got := s.Inputs("lines"); got != nil {
		t.Errorf("Inputs(lines) = %v", got)
	}
	if got := s.Parallelism(0); got != 2 {
		t.Errorf("Parallelism(0) = %d", got)
	}
	if got := s.MaxParallelism(); got != DefaultMaxParallelism {
		t.Errorf("MaxParallelism() = %d", got)
	}
	if got := s.PartitioningOf(0); got != Forward {
		t.Errorf("PartitioningOf(0) = %q", got)
	}
}

func TestDecodedConfigs(t *testing.T) {
	cfgs, err := wordcount().DecodedConfigs(testCatalog())
	if err != nil {
		t.Fatal(err)
	}
	if c, ok := cfgs["counts"].(*countConfig); !ok || c.Key != "word" {
		t.Errorf("counts config = %#v", cfgs["counts"])
	}
	if c, ok := cfgs["words"]; !ok || c != nil {
		t.Errorf("words config = %#v, %v", c, ok)
	}
	s := wordcount()
	s.Vertices[2].Config = json.RawMessage(`{"kye":"word"}`)
	_, err = s.DecodedConfigs(testCatalog())
	checkErrors(t, err, []string{`vertices[2].config.kye: unknown field "kye" (did you mean "key"?)`})
}

func TestEditDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"abc", "", 3}, {"kye", "key", 1}, {"partioning", "partitioning", 2},
		{"mapp", "map", 1}, {"hsh", "hash", 1}, {"kitten", "sitting", 3},
	} {
		if got := editDistance(tc.a, tc.b); got != tc.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

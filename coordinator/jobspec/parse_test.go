package jobspec

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

const wordcountJSON = `{
  "name": "wordcount",
  "defaults": {"parallelism": 2, "maxParallelism": 64},
  "vertices": [
    {"id": "lines", "operator": "gen", "config": {"bucket": "corpus", "count": 10}},
    {"id": "words", "operator": "tokenize"},
    {"id": "counts", "operator": "count", "config": {"key": "word"}, "parallelism": 4},
    {"id": "out", "operator": "print", "parallelism": 1}
  ],
  "edges": [
    {"from": "lines", "to": "words"},
    {"from": "words", "to": "counts", "partitioning": "hash", "key": "word"},
    {"from": "counts", "to": "out", "partitioning": "rebalance"}
  ]
}`

const wordcountYAML = `
# the same job as wordcountJSON
name: wordcount
defaults:
  parallelism: 2
  maxParallelism: 64
vertices:
  - id: lines
    operator: gen
    config:
      bucket: corpus
      count: 10
  - {id: words, operator: tokenize}
  - id: counts
    operator: count
    config: {key: word}
    parallelism: 4
  - id: out
    operator: print
    parallelism: 1
edges:
  - {from: lines, to: words}
  - from: words
    to: counts
    partitioning: hash
    key: word
  - {from: counts, to: out, partitioning: rebalance}
`

func mustParse(t *testing.T, doc, format string) *Spec {
	t.Helper()
	s, err := Parse([]byte(doc), format)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return s
}

func TestParseJSONAndYAMLAgree(t *testing.T) {
	want := &Spec{
		Name:     "wordcount",
		Defaults: Defaults{Parallelism: 2, MaxParallelism: 64},
		Vertices: []Vertex{
			{ID: "lines", Operator: "gen", Config: json.RawMessage(`{"bucket":"corpus","count":10}`)},
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
	for _, tc := range []struct{ name, doc, format string }{
		{"json", wordcountJSON, FormatJSON},
		{"json sniffed", wordcountJSON, ""},
		{"yaml", wordcountYAML, FormatYAML},
		{"yaml sniffed", wordcountYAML, ""},
		{"yml", wordcountYAML, "yml"},
		{"json as yaml", wordcountJSON, FormatYAML},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := mustParse(t, tc.doc, tc.format)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestParseReportsEveryUnknownField(t *testing.T) {
	doc := `{
  "name": "x",
  "nmae": "y",
  "defaults": {"paralelism": 2},
  "vertices": [
    {"id": "a", "operator": "gen", "config": {"anything": "goes here"}},
    {"id": "b", "operator": "print", "Parallelism": 2}
  ],
  "edges": [
    {"from": "a", "to": "b"},
    {"from": "a", "to": "b", "partioning": "hash"}
  ]
}`
	for _, format := range []string{FormatJSON, FormatYAML} {
		_, err := Parse([]byte(doc), format)
		want := []string{
			`nmae: unknown field "nmae" (did you mean "name"?)`,
			`defaults.paralelism: unknown field "paralelism" (did you mean "parallelism"?)`,
			`vertices[1].Parallelism: unknown field "Parallelism" (did you mean "parallelism"?)`,
			`edges[1].partioning: unknown field "partioning" (did you mean "partitioning"?)`,
		}
		checkErrors(t, err, want)
	}
}

func TestParseTypeErrors(t *testing.T) {
	doc := `{"name": 3, "defaults": [], "vertices": [{"id": "a", "parallelism": "two"}, 7], "edges": {}}`
	_, err := Parse([]byte(doc), "")
	checkErrors(t, err, []string{
		"name: must be a string, not number",
		"defaults: must be an object, not a list",
		"vertices[0].parallelism: must be an integer, not string",
		"vertices[1]: must be an object, not a number",
		"edges: must be a list, not an object",
	})
}

func TestParseSyntaxErrors(t *testing.T) {
	for _, tc := range []struct {
		name, doc, format, want string
	}{
		{"json", "{\n  \"name\": \"x\",\n  \"vertices\": [}\n}", "", "json: line 3, column 16: invalid character '}'"},
		{"json trailing data", `{"name": "x"} {}`, FormatJSON, "json: line 1, column 15: invalid character '{' after top-level value"},
		{"yaml", "name: x\nvertices:\n  - id: a\n   operator: [\n", FormatYAML, "yaml: line 4"},
		{"yaml duplicate key", "name: x\nname: y\n", FormatYAML, `yaml: line 2, column 1: mapping key "name" already defined`},
		{"not an object", "[1, 2]", FormatYAML, "the spec must be an object, not a list"},
		{"empty", "", "", "the spec must be an object, not null"},
		{"unknown format", "{}", "toml", `unknown format "toml"`},
		{"too large", "name: " + strings.Repeat("x", MaxSpecSize), "", "over the limit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.doc), tc.format)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Parse error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestParseYAMLAliasBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 12; i++ {
		prev := "*a" + string(rune('0'+i-1))
		if i > 9 {
			prev = "*a" + string(rune('a'+i-10))
		}
		name := string(rune('0' + i))
		if i > 9 {
			name = string(rune('a' + i - 10))
		}
		b.WriteString("a" + name + ": &a" + name + " [" + strings.Repeat(prev+", ", 9) + prev + "]\n")
	}
	_, err := Parse([]byte(b.String()), FormatYAML)
	if err == nil || !strings.Contains(err.Error(), "expands to more than") {
		t.Fatalf("Parse error = %v, want the expansion limit", err)
	}
}

func TestParseConfigAnyShape(t *testing.T) {
	// Parse leaves configs to the operators: any JSON value is accepted.
	s := mustParse(t, "vertices:\n  - {id: a, config: [1, {b: true}, null, 1.5, \"<&>\"]}\n  - {id: b, config: null}\n", "")
	if got := string(s.Vertices[0].Config); got != `[1,{"b":true},null,1.5,"<&>"]` {
		t.Errorf("config = %s", got)
	}
	if s.Vertices[1].Config != nil {
		t.Errorf("null config = %q, want nil", s.Vertices[1].Config)
	}
}

func TestLoadResolvesBuckets(t *testing.T) {
	dir := t.TempDir()
	spec := `{
  "vertices": [
    {"id": "rel", "operator": "gen", "config": {"count": 1, "bucket": "corpus/en", "path": "keep"}},
    {"id": "abs", "operator": "gen", "config": {"bucket": "/data/x"}},
    {"id": "url", "operator": "gen", "config": {"bucket": "s3://b/p?region=x"}},
    {"id": "file", "operator": "gen", "config": {"bucket": "file:///elsewhere"}},
    {"id": "empty", "operator": "gen", "config": {"bucket": ""}},
    {"id": "nested", "operator": "gen", "config": {"inner": {"bucket": "x"}}},
    {"id": "none", "operator": "print"}
  ]
}`
	path := filepath.Join(dir, "job.json")
	if err := os.WriteFile(path, []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`{"count":1,"bucket":"file://` + filepath.ToSlash(dir) + `/corpus/en","path":"keep"}`,
		`{"bucket":"file:///data/x"}`,
		`{"bucket":"s3://b/p?region=x"}`,
		`{"bucket":"file:///elsewhere"}`,
		`{"bucket":""}`,
		`{"inner":{"bucket":"x"}}`,
		``,
	}
	for i, w := range want {
		if got := string(s.Vertices[i].Config); got != w {
			t.Errorf("vertices[%d].config = %s, want %s", i, got, w)
		}
	}
}

func TestLoadFormatByExtension(t *testing.T) {
	dir := t.TempDir()
	for name, doc := range map[string]string{
		"job.yaml": wordcountYAML, "job.yml": wordcountYAML, "job.json": wordcountJSON, "job.spec": wordcountJSON,
	} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		s, err := Load(path)
		if err != nil {
			t.Errorf("Load(%s): %v", name, err)
			continue
		}
		if s.Name != "wordcount" || len(s.Vertices) != 4 {
			t.Errorf("Load(%s) = %+v", name, s)
		}
	}
	// a JSON file is not parsed as YAML
	path := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(path, []byte("name: x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), "json: line 1, column 2") {
		t.Errorf("Load(bad.json) error = %v", err)
	}
	if _, err := Load(filepath.Join(dir, "missing.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load(missing) error = %v, want ErrNotExist", err)
	}
}

// checkErrors checks that err is a *ValidationError with exactly the given
// lines.
func checkErrors(t *testing.T, err error, want []string) {
	t.Helper()
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("error = %v (%T), want a *ValidationError", err, err)
	}
	got := strings.Split(ve.Error(), "\n")
	if !reflect.DeepEqual(got, want) {
		t.Errorf("errors:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

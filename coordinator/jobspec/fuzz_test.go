package jobspec

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
)

// FuzzParse checks that Parse never panics, and that a spec it accepts
// survives a JSON round trip unchanged.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		wordcountJSON, wordcountYAML, "", "{}", "[]", "null", "name: x", "a: &a [*a]",
		`{"vertices": [{"id": "a", "config": {"bucket": "x"}}], "edges": [{"from": "a"}]}`,
		"vertices:\n  - id: a\n    config: !!binary aGVsbG8=\n", "x: 2001-12-14t21:59:43.10-05:00\n",
		"? [a]\n: b\n", "{\"name\": \"\\u00e9<&>\"}",
	} {
		f.Add([]byte(seed), "")
		f.Add([]byte(seed), FormatYAML)
	}
	f.Fuzz(func(t *testing.T, data []byte, format string) {
		s, err := Parse(data, format)
		if err != nil {
			return
		}
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(s); err != nil {
			t.Fatalf("marshal %+v: %v", s, err)
		}
		again, err := Parse(b.Bytes(), FormatJSON)
		if err != nil {
			t.Fatalf("re-parse %s: %v", b.Bytes(), err)
		}
		if !reflect.DeepEqual(again, s) {
			t.Fatalf("round trip changed the spec:\n%+v\n%+v", s, again)
		}
	})
}

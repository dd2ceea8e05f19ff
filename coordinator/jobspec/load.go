package jobspec

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// Load reads the spec at path (JSON for a .json file, YAML for .yaml or
// .yml, guessed otherwise), then resolves relative bucket paths in vertex
// configs against the file's directory (see ResolveBuckets), so that a spec
// can name data next to it.
func Load(path string) (*Spec, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load job spec: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxSpecSize+1))
	if err != nil {
		return nil, fmt.Errorf("load job spec: %w", err)
	}
	var format string
	switch strings.ToLower(filepath.Ext(path)) {
	case ".json":
		format = FormatJSON
	case ".yaml", ".yml":
		format = FormatYAML
	}
	s, err := Parse(data, format)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", path, err)
	}
	dir, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", path, err)
	}
	s.ResolveBuckets(dir)
	return s, nil
}

// urlScheme matches the start of a URL ("s3://", "file:///", "mem://").
var urlScheme = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*://`)

// ResolveBuckets rewrites the "bucket" key of every vertex config object
// that is a plain path rather than a URL: a relative path is resolved
// against dir, and the result becomes a file:/// URL ("corpus" in a spec in
// /jobs becomes "file:///jobs/corpus"). URLs, empty strings, other keys and
// configs that are not objects are left alone.
func (s *Spec) ResolveBuckets(dir string) {
	for i := range s.Vertices {
		v := &s.Vertices[i]
		if firstToken(v.Config) != '{' {
			continue
		}
		if c, ok := resolveBucket(v.Config, dir); ok {
			v.Config = c
		}
	}
}

// resolveBucket returns config with its bucket resolved, keeping the order
// of keys, and whether it changed anything.
func resolveBucket(config json.RawMessage, dir string) (json.RawMessage, bool) {
	var (
		out     bytes.Buffer
		changed bool
		n       int
	)
	out.WriteByte('{')
	err := eachMember(config, func(name string, value json.RawMessage) {
		if n > 0 {
			out.WriteByte(',')
		}
		n++
		k, _ := json.Marshal(name)
		out.Write(k)
		out.WriteByte(':')
		var bucket string
		if name == "bucket" && json.Unmarshal(value, &bucket) == nil && bucket != "" && !urlScheme.MatchString(bucket) {
			p := bucket
			if !filepath.IsAbs(p) {
				p = filepath.Join(dir, p)
			}
			u := url.URL{Scheme: "file", Path: filepath.ToSlash(filepath.Clean(p))}
			value, _ = json.Marshal(u.String())
			changed = true
		}
		out.Write(value)
	})
	if err != nil || !changed {
		return config, false
	}
	out.WriteByte('}')
	return compactJSON(out.Bytes()), true
}

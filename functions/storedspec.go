package functions

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"
)

// A stored spec is a job spec kept in the bucket, e.g. specs/wordcount.json,
// with ${name} placeholders that the submit trigger fills from the request's
// parameters: {"specPath": "specs/wordcount.json", "parameters": {"input":
// "corpus/2026-11-27/"}}. Values are inserted as JSON string contents, so a
// parameter cannot change the spec's structure.

// maxStoredSpec bounds a stored spec's size (as the coordinator does).
const maxStoredSpec = 4 << 20

var placeholder = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// loadStoredSpec reads specPath from b and fills its placeholders.
func loadStoredSpec(ctx context.Context, b *blob.Bucket, specPath string, params map[string]string) ([]byte, error) {
	if specPath == "" || strings.Contains(specPath, "..") || strings.HasPrefix(specPath, "/") {
		return nil, fmt.Errorf(`field "specPath": %q is not a path in the bucket`, specPath)
	}
	attrs, err := b.Attributes(ctx, specPath)
	if gcerrors.Code(err) == gcerrors.NotFound {
		return nil, fmt.Errorf(`field "specPath": no object %q in the bucket`, specPath)
	}
	if err != nil {
		return nil, fmt.Errorf(`field "specPath": %v`, err)
	}
	if attrs.Size > maxStoredSpec {
		return nil, fmt.Errorf(`field "specPath": %q is larger than %d bytes`, specPath, maxStoredSpec)
	}
	data, err := b.ReadAll(ctx, specPath)
	if err != nil {
		return nil, fmt.Errorf(`field "specPath": read %q: %v`, specPath, err)
	}
	var missing []string
	used := map[string]bool{}
	out := placeholder.ReplaceAllFunc(data, func(m []byte) []byte {
		name := string(placeholder.FindSubmatch(m)[1])
		v, ok := params[name]
		if !ok {
			missing = append(missing, name)
			return m
		}
		used[name] = true
		q, _ := json.Marshal(v)
		return q[1 : len(q)-1] // the string's contents, escaped for JSON
	})
	if len(missing) > 0 {
		sort.Strings(missing)
		return nil, fmt.Errorf(`field "parameters": %s needs %s`, specPath, strings.Join(missing, ", "))
	}
	var unused []string
	for name := range params {
		if !used[name] {
			unused = append(unused, name)
		}
	}
	if len(unused) > 0 {
		sort.Strings(unused)
		return nil, fmt.Errorf(`field "parameters": %s has no placeholder for %s`, specPath, strings.Join(unused, ", "))
	}
	return out, nil
}

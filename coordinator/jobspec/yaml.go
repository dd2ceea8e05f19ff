package jobspec

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/goccy/go-yaml"
)

const (
	// maxYAMLJSONSize bounds the JSON a YAML document expands to: aliases
	// can make it exponentially larger than the document.
	maxYAMLJSONSize = 2 * MaxSpecSize
	// maxYAMLDepth bounds the nesting of YAML collections.
	maxYAMLDepth = 100
)

var errYAMLTooLarge = fmt.Errorf("yaml: the document expands to more than %d bytes of JSON", maxYAMLJSONSize)

// yamlToJSON converts a YAML document to JSON, keeping the order of mapping
// keys.
func yamlToJSON(data []byte) (out []byte, err error) {
	defer func() {
		// The YAML parser is large and fed untrusted input: do not let a bug
		// in it take the coordinator down.
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("yaml: cannot parse the document: %v", r)
		}
	}()
	var v any
	if err := yaml.UnmarshalWithOptions(data, &v, yaml.UseOrderedMap()); err != nil {
		return nil, yamlError(err)
	}
	w := jsonWriter{limit: maxYAMLJSONSize}
	if err := w.value(v, 0); err != nil {
		return nil, err
	}
	return w.buf.Bytes(), nil
}

// yamlError rewrites a go-yaml error as "yaml: line L, column C: message",
// without go-yaml's multi-line source excerpt.
func yamlError(err error) error {
	var ye yaml.Error
	if errors.As(err, &ye) {
		if tok := ye.GetToken(); tok != nil && tok.Position != nil {
			return fmt.Errorf("yaml: line %d, column %d: %s", tok.Position.Line, tok.Position.Column, ye.GetMessage())
		}
		return fmt.Errorf("yaml: %s", ye.GetMessage())
	}
	return fmt.Errorf("yaml: %w", err)
}

// jsonWriter writes decoded YAML values as JSON, within a size limit.
type jsonWriter struct {
	buf   bytes.Buffer
	limit int
}

func (w *jsonWriter) write(b []byte) error {
	if w.buf.Len()+len(b) > w.limit {
		return errYAMLTooLarge
	}
	w.buf.Write(b)
	return nil
}

func (w *jsonWriter) writeString(s string) error {
	if w.buf.Len()+len(s) > w.limit {
		return errYAMLTooLarge
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		return fmt.Errorf("yaml: %w", err)
	}
	return w.write(bytes.TrimSuffix(b.Bytes(), []byte("\n")))
}

func (w *jsonWriter) value(v any, depth int) error {
	if depth > maxYAMLDepth {
		return fmt.Errorf("yaml: nested deeper than %d levels", maxYAMLDepth)
	}
	switch v := v.(type) {
	case nil:
		return w.write([]byte("null"))
	case bool:
		return w.write(strconv.AppendBool(nil, v))
	case string:
		return w.writeString(v)
	case int:
		return w.write(strconv.AppendInt(nil, int64(v), 10))
	case int64:
		return w.write(strconv.AppendInt(nil, v, 10))
	case uint64:
		return w.write(strconv.AppendUint(nil, v, 10))
	case float64:
		if math.IsInf(v, 0) || math.IsNaN(v) {
			return fmt.Errorf("yaml: %v cannot be represented in JSON", v)
		}
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("yaml: %w", err)
		}
		return w.write(b)
	case time.Time:
		return w.writeString(v.Format(time.RFC3339Nano))
	case []byte:
		return w.writeString(base64.StdEncoding.EncodeToString(v))
	case []any:
		return w.list(v, depth)
	case yaml.MapSlice:
		return w.mapping(v, depth)
	case map[string]any:
		keys := sortedKeys(v)
		ms := make(yaml.MapSlice, len(keys))
		for i, k := range keys {
			ms[i] = yaml.MapItem{Key: k, Value: v[k]}
		}
		return w.mapping(ms, depth)
	}
	return fmt.Errorf("yaml: unsupported value of type %T", v)
}

func (w *jsonWriter) list(l []any, depth int) error {
	if err := w.write([]byte("[")); err != nil {
		return err
	}
	for i, e := range l {
		if i > 0 {
			if err := w.write([]byte(",")); err != nil {
				return err
			}
		}
		if err := w.value(e, depth+1); err != nil {
			return err
		}
	}
	return w.write([]byte("]"))
}

func (w *jsonWriter) mapping(m yaml.MapSlice, depth int) error {
	if err := w.write([]byte("{")); err != nil {
		return err
	}
	for i, item := range m {
		if i > 0 {
			if err := w.write([]byte(",")); err != nil {
				return err
			}
		}
		k, err := mapKey(item.Key)
		if err != nil {
			return err
		}
		if err := w.writeString(k); err != nil {
			return err
		}
		if err := w.write([]byte(":")); err != nil {
			return err
		}
		if err := w.value(item.Value, depth+1); err != nil {
			return err
		}
	}
	return w.write([]byte("}"))
}

// mapKey turns a scalar mapping key into a JSON object key.
func mapKey(k any) (string, error) {
	switch k := k.(type) {
	case string:
		return k, nil
	case nil:
		return "null", nil
	case bool, int, int64, uint64, float64:
		return fmt.Sprint(k), nil
	}
	return "", fmt.Errorf("yaml: mapping key of type %T: keys must be scalars", k)
}

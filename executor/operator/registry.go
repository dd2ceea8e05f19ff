package operator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"time"
)

// Kind says where an operator may stand in a job graph.
type Kind int

// The kinds of operators.
const (
	KindSource    Kind = iota + 1 // no inputs; emits records read from splits
	KindTransform                 // inputs and outputs
	KindSink                      // inputs only
)

func (k Kind) String() string {
	switch k {
	case KindSource:
		return "source"
	case KindTransform:
		return "transform"
	case KindSink:
		return "sink"
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Definition describes an operator to the registry: its name in job specs,
// its configuration and how to build it.
type Definition struct {
	Name string
	Kind Kind
	Doc  string
	// Keyed operators keep state per key and need every input edge to be a
	// hash edge.
	Keyed bool
	// NewConfig returns a pointer to a fresh config struct with its defaults
	// set; the vertex's config JSON is decoded into it (json tags name the
	// fields). If the struct implements Validator, Validate runs after
	// decoding. Nil means the operator takes no config.
	NewConfig func() any
	// NewOperator builds a transform or sink from its decoded config.
	NewOperator func(cfg any) (Operator, error)
	// NewSource builds a source reader from its decoded config.
	NewSource func(cfg any) (Source, error)
	// Splits runs on the coordinator when a job is submitted and returns the
	// source's input splits; an error (a missing input, say) rejects the job.
	Splits func(ctx context.Context, env EnumerateEnv, cfg any) ([]Split, error)
	// NewCombiner optionally returns an operator that pre-aggregates records
	// before a hash shuffle into this keyed operator (combining partial
	// counts, for instance). ok is false when the config does not allow it.
	NewCombiner func(cfg any) (op Operator, ok bool)
	// Discover optionally makes a source continuous: it returns how often
	// the coordinator looks for new splits (0 for a bounded configuration).
	// A continuous source's subtasks wait for new splits instead of ending.
	Discover func(cfg any) time.Duration
	// Staging optionally names the staging area of an exactly-once sink (a
	// Committer) for a job; the sink stages every object under
	// StagingArea.AttemptDir(Context.Attempt()). The coordinator then
	// deletes staged objects that will never be committed (see
	// StagingArea). Nothing else may be stored in the area.
	Staging func(cfg any, job string) StagingArea
}

// Validator is implemented by config structs that check themselves. Return
// FieldErrors (joined with errors.Join for several) to name the fields.
type Validator interface {
	Validate() error
}

// FieldError is a problem with one config field. Field is a dotted path
// relative to the config ("expr", "fields[1]").
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string {
	if e.Field == "" {
		return e.Msg
	}
	return e.Field + ": " + e.Msg
}

// Errorf returns a *FieldError for field.
func Errorf(field, format string, args ...any) error {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// Registry is the set of operators a sluice binary knows. Build one with
// NewRegistry, add builtins (builtin.Register) and your own. A source and a
// transform or sink may share a name (the files source and the files sink
// are both "files"): a vertex without inputs gets the source.
type Registry struct {
	sources map[string]Definition
	defs    map[string]Definition // transforms and sinks
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{sources: map[string]Definition{}, defs: map[string]Definition{}}
}

// Register adds d. It fails on a duplicate name or an incomplete definition.
func (r *Registry) Register(d Definition) error {
	if d.Name == "" {
		return errors.New("register operator: empty name")
	}
	m := r.defs
	if d.Kind == KindSource {
		m = r.sources
	}
	if _, dup := m[d.Name]; dup {
		return fmt.Errorf("register %s %q: already registered", d.Kind, d.Name)
	}
	switch d.Kind {
	case KindSource:
		if d.NewSource == nil || d.Splits == nil {
			return fmt.Errorf("register source %q: NewSource and Splits are required", d.Name)
		}
	case KindTransform, KindSink:
		if d.NewOperator == nil {
			return fmt.Errorf("register %s %q: NewOperator is required", d.Kind, d.Name)
		}
	default:
		return fmt.Errorf("register operator %q: unknown kind %d", d.Name, d.Kind)
	}
	m[d.Name] = d
	return nil
}

// MustRegister is Register for program set-up; it panics on error.
func (r *Registry) MustRegister(ds ...Definition) {
	for _, d := range ds {
		if err := r.Register(d); err != nil {
			panic(err)
		}
	}
}

// Resolve returns the definition of the named operator for a vertex that is
// a source (it has no inputs) or not. When the name exists only in the other
// role, that definition is returned, so that the caller can report the
// misplaced operator by its kind.
func (r *Registry) Resolve(name string, source bool) (Definition, bool) {
	first, second := r.defs, r.sources
	if source {
		first, second = second, first
	}
	if d, ok := first[name]; ok {
		return d, true
	}
	d, ok := second[name]
	return d, ok
}

// Lookup returns the named operator, preferring a transform or sink over a
// source of the same name.
func (r *Registry) Lookup(name string) (Definition, bool) { return r.Resolve(name, false) }

// Names lists the registered operator names, sorted.
func (r *Registry) Names() []string {
	set := map[string]struct{}{}
	for n := range r.defs {
		set[n] = struct{}{}
	}
	for n := range r.sources {
		set[n] = struct{}{}
	}
	names := make([]string, 0, len(set))
	for n := range set {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// DecodeConfig decodes raw (a JSON object, or empty) into the definition's
// config and validates it. It reports every problem it finds, each naming its
// field: unknown fields, wrong types, and what Validate returns.
func (d Definition) DecodeConfig(raw json.RawMessage) (any, []*FieldError) {
	raw = bytes.TrimSpace(raw)
	empty := len(raw) == 0 || bytes.Equal(raw, []byte("null"))
	if d.NewConfig == nil {
		if empty || bytes.Equal(raw, []byte("{}")) {
			return nil, nil
		}
		return nil, []*FieldError{{Msg: fmt.Sprintf("operator %q takes no config", d.Name)}}
	}
	cfg := d.NewConfig()
	var errs []*FieldError
	if !empty {
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(raw, &fields); err != nil {
			return nil, []*FieldError{{Msg: "must be an object: " + err.Error()}}
		}
		known := jsonFieldNames(reflect.TypeOf(cfg))
		names := make([]string, 0, len(fields))
		for n := range fields {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			if _, ok := known[n]; !ok {
				errs = append(errs, &FieldError{Field: n, Msg: fmt.Sprintf("unknown field %q%s", n, suggest(n, known))})
				continue
			}
			// decode field by field so that every type error is reported
			one, _ := json.Marshal(map[string]json.RawMessage{n: fields[n]})
			if err := json.Unmarshal(one, cfg); err != nil {
				errs = append(errs, &FieldError{Field: n, Msg: typeErrorMsg(err)})
			}
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	if v, ok := cfg.(Validator); ok {
		if err := v.Validate(); err != nil {
			errs = append(errs, flattenFieldErrors(err)...)
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return cfg, nil
}

func flattenFieldErrors(err error) []*FieldError {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []*FieldError
		for _, e := range j.Unwrap() {
			out = append(out, flattenFieldErrors(e)...)
		}
		return out
	}
	var fe *FieldError
	if errors.As(err, &fe) {
		return []*FieldError{fe}
	}
	return []*FieldError{{Msg: err.Error()}}
}

func typeErrorMsg(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("must be %s, not %s", kindName(te.Type), te.Value)
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

func kindName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return t.String()
}

// jsonFieldNames returns the JSON names of a struct type's fields.
func jsonFieldNames(t reflect.Type) map[string]struct{} {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	names := map[string]struct{}{}
	if t.Kind() != reflect.Struct {
		return names
	}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("json")
		name, _, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if f.Anonymous && name == "" {
			for n := range jsonFieldNames(f.Type) {
				names[n] = struct{}{}
			}
			continue
		}
		if name == "" {
			name = f.Name
		}
		names[name] = struct{}{}
	}
	return names
}

// suggest proposes the closest known field name for a typo.
func suggest(n string, known map[string]struct{}) string {
	best, bestD := "", 3
	for k := range known {
		if d := editDistance(n, k); d < bestD || (d == bestD && k < best) {
			best, bestD = k, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := 1
			if a[i-1] == b[j-1] {
				c = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+c)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

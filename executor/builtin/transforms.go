package builtin

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"

	"github.com/sluicehq/sluice/executor/expr"
	"github.com/sluicehq/sluice/executor/operator"
	"github.com/sluicehq/sluice/executor/record"
)

// MapConfig configures map. Exactly one of Expr and Set is given.
type MapConfig struct {
	// Expr returns a map that becomes the output record (fields ordered by
	// name).
	Expr string `json:"expr"`
	// Set maps field names to expressions: the output is a copy of the input
	// with those fields set (added in name order). Every expression sees the
	// input record, not the other set fields.
	Set map[string]string `json:"set"`
}

// Validate implements operator.Validator.
func (c *MapConfig) Validate() error {
	switch {
	case c.Expr == "" && len(c.Set) == 0:
		return operator.Errorf("expr", "one of expr and set is required")
	case c.Expr != "" && len(c.Set) > 0:
		return operator.Errorf("set", "expr and set are mutually exclusive")
	case c.Expr != "":
		return checkExpr("expr", c.Expr)
	}
	var errs []error
	for _, name := range sortedKeys(c.Set) {
		if name == "" {
			errs = append(errs, operator.Errorf("set", "empty field name"))
			continue
		}
		errs = append(errs, checkExpr("set."+name, c.Set[name]))
	}
	return errors.Join(errs...)
}

func mapDef() operator.Definition {
	return operator.Definition{
		Name: Map,
		Kind: operator.KindTransform,
		Doc: "Computes a new record per input record: expr returns a map that becomes the record, " +
			"or set gives expressions for fields to set on a copy of the input.",
		NewConfig:   func() any { return &MapConfig{} },
		NewOperator: newMap,
	}
}

type setField struct {
	name string
	prog *expr.Program
}

type mapOp struct {
	nopOperator
	prog  *expr.Program // expr form
	set   []setField    // set form, ordered by name
	out   operator.Emitter
	rec   record.Record
	names []string
}

func newMap(cfg any) (operator.Operator, error) {
	c, err := configAs(Map, cfg, func() *MapConfig { return &MapConfig{} })
	if err != nil {
		return nil, err
	}
	op := &mapOp{}
	if c.Expr != "" {
		if op.prog, err = expr.Compile(c.Expr); err != nil {
			return nil, fmt.Errorf("map: expr: %w", err)
		}
		return op, nil
	}
	for _, name := range sortedKeys(c.Set) {
		p, err := expr.Compile(c.Set[name])
		if err != nil {
			return nil, fmt.Errorf("map: set.%s: %w", name, err)
		}
		op.set = append(op.set, setField{name, p})
	}
	return op, nil
}

func (m *mapOp) Open(_ context.Context, _ operator.Context, out operator.Emitter) error {
	m.out = out
	return nil
}

func (m *mapOp) Process(r *record.Record) error {
	if m.prog != nil {
		res, err := m.prog.Eval(r)
		if err != nil {
			return fmt.Errorf("map: %w", err)
		}
		mm, ok := res.(map[string]any)
		if !ok {
			return fmt.Errorf("map: expression %q returned %s, want a map", m.prog.Source(), expr.TypeName(res))
		}
		if m.names, err = recordFromMap(&m.rec, mm, m.names); err != nil {
			return fmt.Errorf("map: expression %q: %w", m.prog.Source(), err)
		}
		m.rec.Time, m.rec.Timed = r.Time, r.Timed
		return m.out.Emit(&m.rec)
	}
	m.rec.Fields = append(m.rec.Fields[:0], r.Fields...)
	m.rec.Time, m.rec.Timed = r.Time, r.Timed
	for _, f := range m.set {
		v, err := f.prog.EvalValue(r)
		if err != nil {
			return fmt.Errorf("map: set.%s: %w", f.name, err)
		}
		m.rec.Set(f.name, v)
	}
	return m.out.Emit(&m.rec)
}

// FilterConfig configures filter.
type FilterConfig struct {
	// Expr must return a bool: true keeps the record.
	Expr string `json:"expr"`
}

// Validate implements operator.Validator.
func (c *FilterConfig) Validate() error { return checkExpr("expr", c.Expr) }

func filterDef() operator.Definition {
	return operator.Definition{
		Name:        Filter,
		Kind:        operator.KindTransform,
		Doc:         "Keeps the records for which expr is true.",
		NewConfig:   func() any { return &FilterConfig{} },
		NewOperator: newFilter,
	}
}

type filterOp struct {
	nopOperator
	prog *expr.Program
	out  operator.Emitter
}

func newFilter(cfg any) (operator.Operator, error) {
	c, err := configAs(Filter, cfg, func() *FilterConfig { return &FilterConfig{} })
	if err != nil {
		return nil, err
	}
	p, err := expr.Compile(c.Expr)
	if err != nil {
		return nil, fmt.Errorf("filter: expr: %w", err)
	}
	return &filterOp{prog: p}, nil
}

func (f *filterOp) Open(_ context.Context, _ operator.Context, out operator.Emitter) error {
	f.out = out
	return nil
}

func (f *filterOp) Process(r *record.Record) error {
	ok, err := f.prog.EvalBool(r)
	if err != nil {
		return fmt.Errorf("filter: %w", err)
	}
	if !ok {
		return nil
	}
	return f.out.Emit(r)
}

// FlatmapConfig configures flatmap.
type FlatmapConfig struct {
	// Expr returns a list (nil counts as empty). Each element that is a map
	// becomes a record; any other element becomes the record {<As>: element}.
	Expr string `json:"expr"`
	As   string `json:"as"`
}

// Validate implements operator.Validator.
func (c *FlatmapConfig) Validate() error {
	return errors.Join(checkExpr("expr", c.Expr), required("as", c.As))
}

func flatmapDef() operator.Definition {
	return operator.Definition{
		Name:        Flatmap,
		Kind:        operator.KindTransform,
		Doc:         "Emits a record per element of the list that expr returns.",
		NewConfig:   func() any { return &FlatmapConfig{As: "value"} },
		NewOperator: newFlatmap,
	}
}

type flatmapOp struct {
	nopOperator
	prog  *expr.Program
	as    string
	out   operator.Emitter
	rec   record.Record
	names []string
	time  int64 // the input's event time, given to every output
	timed bool
}

func newFlatmap(cfg any) (operator.Operator, error) {
	c, err := configAs(Flatmap, cfg, func() *FlatmapConfig { return &FlatmapConfig{As: "value"} })
	if err != nil {
		return nil, err
	}
	p, err := expr.Compile(c.Expr)
	if err != nil {
		return nil, fmt.Errorf("flatmap: expr: %w", err)
	}
	return &flatmapOp{prog: p, as: c.As}, nil
}

func (f *flatmapOp) Open(_ context.Context, _ operator.Context, out operator.Emitter) error {
	f.out = out
	return nil
}

func (f *flatmapOp) Process(r *record.Record) error {
	f.time, f.timed = r.Time, r.Timed
	res, err := f.prog.Eval(r)
	if err != nil {
		return fmt.Errorf("flatmap: %w", err)
	}
	switch l := res.(type) {
	case nil:
		return nil
	case []any:
		for i, e := range l {
			if err := f.emit(i, e); err != nil {
				return err
			}
		}
		return nil
	case []string:
		for _, e := range l {
			f.rec.Reset()
			f.rec.Fields = append(f.rec.Fields, record.Field{Name: f.as, Value: record.Str(e)})
			f.rec.Time, f.rec.Timed = f.time, f.timed
			if err := f.out.Emit(&f.rec); err != nil {
				return err
			}
		}
		return nil
	}
	rv := reflect.ValueOf(res)
	if k := rv.Kind(); k != reflect.Slice && k != reflect.Array {
		return fmt.Errorf("flatmap: expression %q returned %s, want a list", f.prog.Source(), expr.TypeName(res))
	}
	for i := range rv.Len() {
		if err := f.emit(i, rv.Index(i).Interface()); err != nil {
			return err
		}
	}
	return nil
}

func (f *flatmapOp) emit(i int, e any) error {
	if m, ok := e.(map[string]any); ok {
		var err error
		if f.names, err = recordFromMap(&f.rec, m, f.names); err != nil {
			return fmt.Errorf("flatmap: expression %q: element %d: %w", f.prog.Source(), i, err)
		}
	} else {
		v, err := expr.ToValue(e)
		if err != nil {
			return fmt.Errorf("flatmap: expression %q: element %d: %w", f.prog.Source(), i, err)
		}
		f.rec.Reset()
		f.rec.Fields = append(f.rec.Fields, record.Field{Name: f.as, Value: v})
	}
	f.rec.Time, f.rec.Timed = f.time, f.timed
	return f.out.Emit(&f.rec)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

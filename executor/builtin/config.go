package builtin

import (
	"fmt"
	"slices"

	"github.com/sluicehq/sluice/executor/expr"
	"github.com/sluicehq/sluice/executor/operator"
	"github.com/sluicehq/sluice/executor/record"
)

// configAs returns cfg as a *T: the runtime passes what NewConfig returned,
// decoded and validated. A T value or nil (the defaults) is accepted too, for
// programs that build configs in Go; those are validated here.
func configAs[T any](name string, cfg any, newConfig func() *T) (*T, error) {
	var c *T
	switch x := cfg.(type) {
	case *T:
		c = x
	case T:
		c = &x
	case nil:
	default:
		return nil, fmt.Errorf("%s: config is %T, want *%T", name, cfg, *new(T))
	}
	if c == nil {
		c = newConfig()
	}
	if v, ok := any(c).(operator.Validator); ok {
		if err := v.Validate(); err != nil {
			return nil, fmt.Errorf("%s: invalid config: %w", name, err)
		}
	}
	return c, nil
}

// checkExpr reports an expression that does not compile as a field error.
func checkExpr(field, src string) error {
	if src == "" {
		return operator.Errorf(field, "required")
	}
	if err := expr.Check(src); err != nil {
		return operator.Errorf(field, "%v", err)
	}
	return nil
}

func required(field, v string) error {
	if v == "" {
		return operator.Errorf(field, "required")
	}
	return nil
}

// Values of the emit field of keyed operators.
const (
	emitFinal = "final"
	emitEvery = "every"
)

func checkEmit(v string) error {
	if v != emitFinal && v != emitEvery {
		return operator.Errorf("emit", "must be %q or %q, not %q", emitFinal, emitEvery, v)
	}
	return nil
}

// bucketName names a bucket URL for messages.
func bucketName(url string) string {
	if url == "" {
		return "the job's default bucket"
	}
	return fmt.Sprintf("bucket %q", url)
}

// recordFromMap sets r to the fields of m, ordered by name, reusing r and
// names (a scratch slice it returns for the next call).
func recordFromMap(r *record.Record, m map[string]any, names []string) ([]string, error) {
	names = names[:0]
	for k := range m {
		names = append(names, k)
	}
	slices.Sort(names)
	r.Reset()
	for _, k := range names {
		v, err := expr.ToValue(m[k])
		if err != nil {
			return names, fmt.Errorf("field %q: %w", k, err)
		}
		r.Fields = append(r.Fields, record.Field{Name: k, Value: v})
	}
	return names, nil
}

// jsonValue renders v as JSON, for messages.
func jsonValue(v record.Value) string { return string(v.AppendJSON(nil)) }

// nopOperator implements the parts of operator.Operator that most
// operators do not need.
type nopOperator struct{}

func (nopOperator) EndInput() error { return nil }
func (nopOperator) Close() error    { return nil }

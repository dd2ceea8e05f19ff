package task

import (
	"fmt"
	"regexp"

	"github.com/sluicehq/sluice/executor/expr"
	"github.com/sluicehq/sluice/executor/record"
)

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// keySelector extracts a hash edge's key from records: a field lookup when
// the key is a field name, an expression otherwise.
type keySelector struct {
	src   string
	field string
	prog  *expr.Program
}

func newKeySelector(src string) (*keySelector, error) {
	if identRE.MatchString(src) {
		return &keySelector{src: src, field: src}, nil
	}
	p, err := expr.Compile(src)
	if err != nil {
		return nil, fmt.Errorf("key %q: %w", src, err)
	}
	return &keySelector{src: src, prog: p}, nil
}

// name is the field under which keyed operators output the key.
func (k *keySelector) name() string {
	if k.field != "" {
		return k.field
	}
	return "key"
}

func (k *keySelector) key(r *record.Record) (record.Key, error) {
	var v record.Value
	if k.field != "" {
		var ok bool
		v, ok = r.Get(k.field)
		if !ok {
			return record.Key{}, fmt.Errorf("record has no key field %q: %s", k.field, r)
		}
	} else {
		var err error
		v, err = k.prog.EvalValue(r)
		if err != nil {
			return record.Key{}, fmt.Errorf("key %q: %w", k.src, err)
		}
	}
	key, err := record.KeyOf(v)
	if err != nil {
		return record.Key{}, fmt.Errorf("key %q: %w", k.src, err)
	}
	return key, nil
}

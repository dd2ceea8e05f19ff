package expr

import (
	"fmt"
	"reflect"
	"time"

	"github.com/sluicehq/sluice/executor/record"
)

// ToAny converts a record value to what expressions see: nil, string, int,
// float64, bool or []any.
func ToAny(v record.Value) any {
	switch v.Kind() {
	case record.String:
		return v.Str()
	case record.Int:
		return int(v.Int())
	case record.Float:
		return v.Float()
	case record.Bool:
		return v.Bool()
	case record.List:
		l := v.List()
		out := make([]any, len(l))
		for i, e := range l {
			out[i] = ToAny(e)
		}
		return out
	}
	return nil
}

// ToValue converts an expression result to a record value. Any integer type
// becomes an Int, floats a Float, slices a List, a time.Time an RFC 3339
// string and a time.Duration its string form. Maps are not values: an
// operator that accepts maps (map, flatmap) turns them into records itself.
func ToValue(x any) (record.Value, error) {
	switch t := x.(type) {
	case nil:
		return record.Value{}, nil
	case string:
		return record.Str(t), nil
	case int:
		return record.IntV(int64(t)), nil
	case int64:
		return record.IntV(t), nil
	case float64:
		return record.FloatV(t), nil
	case bool:
		return record.BoolV(t), nil
	case record.Value:
		return t, nil
	case []any:
		l := make([]record.Value, len(t))
		for i, e := range t {
			v, err := ToValue(e)
			if err != nil {
				return record.Value{}, fmt.Errorf("[%d]: %w", i, err)
			}
			l[i] = v
		}
		return record.ListV(l...), nil
	case time.Time:
		return record.Str(t.Format(time.RFC3339Nano)), nil
	case time.Duration:
		return record.Str(t.String()), nil
	case map[string]any:
		return record.Value{}, fmt.Errorf("a map cannot be a field value")
	}
	if v, err := record.FromAny(x); err == nil {
		return v, nil
	}
	rv := reflect.ValueOf(x)
	switch rv.Kind() {
	case reflect.Slice, reflect.Array:
		l := make([]record.Value, rv.Len())
		for i := range l {
			v, err := ToValue(rv.Index(i).Interface())
			if err != nil {
				return record.Value{}, fmt.Errorf("[%d]: %w", i, err)
			}
			l[i] = v
		}
		return record.ListV(l...), nil
	case reflect.Map:
		return record.Value{}, fmt.Errorf("a map cannot be a field value")
	case reflect.Pointer:
		if rv.IsNil() {
			return record.Value{}, nil
		}
		return ToValue(rv.Elem().Interface())
	}
	return record.Value{}, fmt.Errorf("unsupported value type %s", TypeName(x))
}

// TypeName names the type of an expression value for error messages.
func TypeName(x any) string {
	switch x.(type) {
	case nil:
		return "nil"
	case string:
		return "a string"
	case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		return "an int"
	case float32, float64:
		return "a float"
	case bool:
		return "a bool"
	case map[string]any:
		return "a map"
	}
	switch reflect.ValueOf(x).Kind() {
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Map:
		return "a map"
	}
	return fmt.Sprintf("a %T", x)
}

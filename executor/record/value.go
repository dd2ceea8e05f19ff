// Package record is Sluice's data model: a Record is an ordered set of named
// fields whose values are strings, 64-bit integers, floats, booleans, lists or
// null. Records cross process boundaries in the compact binary encoding of
// codec.go and reach people as JSON.
package record

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Kind is the type of a Value.
type Kind uint8

// The kinds of values.
const (
	Null Kind = iota
	String
	Int
	Float
	Bool
	List
)

func (k Kind) String() string {
	switch k {
	case Null:
		return "null"
	case String:
		return "string"
	case Int:
		return "int"
	case Float:
		return "float"
	case Bool:
		return "bool"
	case List:
		return "list"
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Value is one field value. The zero Value is null. Values are immutable and
// cheap to copy.
type Value struct {
	kind Kind
	s    string
	n    uint64 // int bits, float bits or bool
	l    []Value
}

// Str returns a string value.
func Str(s string) Value { return Value{kind: String, s: s} }

// IntV returns an integer value.
func IntV(i int64) Value { return Value{kind: Int, n: uint64(i)} }

// FloatV returns a float value.
func FloatV(f float64) Value { return Value{kind: Float, n: math.Float64bits(f)} }

// BoolV returns a boolean value.
func BoolV(b bool) Value {
	if b {
		return Value{kind: Bool, n: 1}
	}
	return Value{kind: Bool}
}

// ListV returns a list value holding vs (not copied).
func ListV(vs ...Value) Value { return Value{kind: List, l: vs} }

// Kind reports the value's type.
func (v Value) Kind() Kind { return v.kind }

// IsNull reports whether v is null.
func (v Value) IsNull() bool { return v.kind == Null }

// Str returns the string of a String value, or "" for other kinds.
func (v Value) Str() string { return v.s }

// Int returns the integer of an Int value, the truncated float of a Float
// value, and 0 otherwise.
func (v Value) Int() int64 {
	switch v.kind {
	case Int:
		return int64(v.n)
	case Float:
		return int64(math.Float64frombits(v.n))
	case Bool:
		return int64(v.n)
	}
	return 0
}

// Float returns the number of an Int or Float value as a float64, 0 otherwise.
func (v Value) Float() float64 {
	switch v.kind {
	case Int:
		return float64(int64(v.n))
	case Float:
		return math.Float64frombits(v.n)
	}
	return 0
}

// Bool returns the boolean of a Bool value, false otherwise.
func (v Value) Bool() bool { return v.kind == Bool && v.n != 0 }

// List returns the elements of a List value (not copied), nil otherwise.
func (v Value) List() []Value { return v.l }

// IsNumber reports whether v is an Int or a Float.
func (v Value) IsNumber() bool { return v.kind == Int || v.kind == Float }

// Equal reports whether v and o have the same kind and contents. Floats are
// compared bitwise, so NaN equals the same NaN.
func (v Value) Equal(o Value) bool {
	if v.kind != o.kind || v.s != o.s || v.n != o.n || len(v.l) != len(o.l) {
		return false
	}
	for i := range v.l {
		if !v.l[i].Equal(o.l[i]) {
			return false
		}
	}
	return true
}

// Compare orders values: numbers numerically (ints and floats together),
// strings lexically, false before true; values of different kinds by kind.
func (v Value) Compare(o Value) int {
	if v.IsNumber() && o.IsNumber() {
		if v.kind == Int && o.kind == Int {
			a, b := int64(v.n), int64(o.n)
			switch {
			case a < b:
				return -1
			case a > b:
				return 1
			}
			return 0
		}
		a, b := v.Float(), o.Float()
		switch {
		case a < b:
			return -1
		case a > b:
			return 1
		}
		return 0
	}
	if v.kind != o.kind {
		if v.kind < o.kind {
			return -1
		}
		return 1
	}
	switch v.kind {
	case String:
		return strings.Compare(v.s, o.s)
	case Bool:
		return int(v.n) - int(o.n)
	case List:
		for i := 0; i < len(v.l) && i < len(o.l); i++ {
			if c := v.l[i].Compare(o.l[i]); c != 0 {
				return c
			}
		}
		return len(v.l) - len(o.l)
	}
	return 0
}

// Any returns v as a plain Go value: nil, string, int64, float64, bool or
// []any.
func (v Value) Any() any {
	switch v.kind {
	case String:
		return v.s
	case Int:
		return int64(v.n)
	case Float:
		return math.Float64frombits(v.n)
	case Bool:
		return v.n != 0
	case List:
		out := make([]any, len(v.l))
		for i, e := range v.l {
			out[i] = e.Any()
		}
		return out
	}
	return nil
}

// FromAny converts a plain Go value (as produced by JSON decoding or an
// expression) into a Value.
func FromAny(x any) (Value, error) {
	switch t := x.(type) {
	case nil:
		return Value{}, nil
	case Value:
		return t, nil
	case string:
		return Str(t), nil
	case bool:
		return BoolV(t), nil
	case int:
		return IntV(int64(t)), nil
	case int8:
		return IntV(int64(t)), nil
	case int16:
		return IntV(int64(t)), nil
	case int32:
		return IntV(int64(t)), nil
	case int64:
		return IntV(t), nil
	case uint:
		return IntV(int64(t)), nil
	case uint8:
		return IntV(int64(t)), nil
	case uint16:
		return IntV(int64(t)), nil
	case uint32:
		return IntV(int64(t)), nil
	case uint64:
		if t > math.MaxInt64 {
			return FloatV(float64(t)), nil
		}
		return IntV(int64(t)), nil
	case float32:
		return FloatV(float64(t)), nil
	case float64:
		return FloatV(t), nil
	case json.Number:
		if i, err := t.Int64(); err == nil {
			return IntV(i), nil
		}
		f, err := t.Float64()
		if err != nil {
			return Value{}, fmt.Errorf("number %q: %w", t, err)
		}
		return FloatV(f), nil
	case []Value:
		return ListV(t...), nil
	case []string:
		l := make([]Value, len(t))
		for i, s := range t {
			l[i] = Str(s)
		}
		return ListV(l...), nil
	case []any:
		l := make([]Value, len(t))
		for i, e := range t {
			v, err := FromAny(e)
			if err != nil {
				return Value{}, fmt.Errorf("[%d]: %w", i, err)
			}
			l[i] = v
		}
		return ListV(l...), nil
	}
	return Value{}, fmt.Errorf("unsupported value type %T", x)
}

// String renders v for people: strings bare, lists in brackets.
func (v Value) String() string {
	switch v.kind {
	case Null:
		return "null"
	case String:
		return v.s
	case Int:
		return strconv.FormatInt(int64(v.n), 10)
	case Float:
		return strconv.FormatFloat(math.Float64frombits(v.n), 'g', -1, 64)
	case Bool:
		return strconv.FormatBool(v.n != 0)
	case List:
		var b strings.Builder
		b.WriteByte('[')
		for i, e := range v.l {
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(e.String())
		}
		b.WriteByte(']')
		return b.String()
	}
	return ""
}

// AppendJSON appends v as JSON to dst.
func (v Value) AppendJSON(dst []byte) []byte {
	switch v.kind {
	case String:
		b, _ := json.Marshal(v.s)
		return append(dst, b...)
	case Int:
		return strconv.AppendInt(dst, int64(v.n), 10)
	case Float:
		f := math.Float64frombits(v.n)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return append(dst, "null"...)
		}
		return strconv.AppendFloat(dst, f, 'g', -1, 64)
	case Bool:
		return strconv.AppendBool(dst, v.n != 0)
	case List:
		dst = append(dst, '[')
		for i, e := range v.l {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = e.AppendJSON(dst)
		}
		return append(dst, ']')
	}
	return append(dst, "null"...)
}

// MarshalJSON implements json.Marshaler.
func (v Value) MarshalJSON() ([]byte, error) { return v.AppendJSON(nil), nil }

// UnmarshalJSON implements json.Unmarshaler; whole numbers become Int.
func (v *Value) UnmarshalJSON(b []byte) error {
	d := json.NewDecoder(strings.NewReader(string(b)))
	d.UseNumber()
	var x any
	if err := d.Decode(&x); err != nil {
		return err
	}
	nv, err := FromAny(x)
	if err != nil {
		return err
	}
	*v = nv
	return nil
}

package jobspec

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
)

var rawMessageType = reflect.TypeFor[json.RawMessage]()

// decodeStrict decodes the JSON object data into the struct *dst, exactly
// matching the json tags of dst's fields. Unlike encoding/json it does not
// stop at the first problem: it returns every unknown or duplicate field and
// every value of the wrong type, each with its path. data must be valid
// JSON.
func decodeStrict(data []byte, dst any) []FieldError {
	var d strictDecoder
	v := reflect.ValueOf(dst).Elem()
	if t := firstToken(data); t != '{' {
		return []FieldError{{Msg: "the spec must be an object, not " + jsonKind(t)}}
	}
	d.decode("", data, v)
	return d.errs
}

type strictDecoder struct {
	errs []FieldError
}

func (d *strictDecoder) fail(path, format string, args ...any) {
	d.errs = append(d.errs, FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
}

// decode decodes raw into v, which is addressable.
func (d *strictDecoder) decode(path string, raw json.RawMessage, v reflect.Value) {
	t := v.Type()
	switch {
	case t == rawMessageType:
		if bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
			v.SetBytes(nil)
			return
		}
		v.SetBytes(compactJSON(raw))
	case t.Kind() == reflect.Struct:
		d.decodeStruct(path, raw, v)
	case t.Kind() == reflect.Slice:
		d.decodeSlice(path, raw, v)
	default:
		if err := json.Unmarshal(raw, v.Addr().Interface()); err != nil {
			d.fail(path, "%s", typeErrorMsg(err, t))
		}
	}
}

func (d *strictDecoder) decodeStruct(path string, raw json.RawMessage, v reflect.Value) {
	switch tok := firstToken(raw); tok {
	case 'n':
		return
	case '{':
	default:
		d.fail(path, "must be an object, not %s", jsonKind(tok))
		return
	}
	fields := structFields(v.Type())
	seen := map[string]bool{}
	err := eachMember(raw, func(name string, value json.RawMessage) {
		p := joinPath(path, name)
		if seen[name] {
			d.fail(p, "duplicate field %q", name)
			return
		}
		seen[name] = true
		idx, ok := fields[name]
		if !ok {
			d.fail(p, "unknown field %q%s", name, didYouMean(name, sortedKeys(fields)))
			return
		}
		d.decode(p, value, v.Field(idx))
	})
	if err != nil {
		d.fail(path, "%v", err)
	}
}

func (d *strictDecoder) decodeSlice(path string, raw json.RawMessage, v reflect.Value) {
	switch tok := firstToken(raw); tok {
	case 'n':
		v.SetZero()
		return
	case '[':
	default:
		d.fail(path, "must be a list, not %s", jsonKind(tok))
		return
	}
	var elems []json.RawMessage
	if err := json.Unmarshal(raw, &elems); err != nil {
		d.fail(path, "%v", err)
		return
	}
	s := reflect.MakeSlice(v.Type(), len(elems), len(elems))
	for i, e := range elems {
		d.decode(fmt.Sprintf("%s[%d]", path, i), e, s.Index(i))
	}
	v.Set(s)
}

// eachMember calls f for each member of the JSON object raw, in document
// order.
func eachMember(raw json.RawMessage, f func(name string, value json.RawMessage)) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.Token(); err != nil { // '{'
		return err
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		name, ok := tok.(string)
		if !ok {
			return fmt.Errorf("object key %v is not a string", tok)
		}
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return err
		}
		f(name, value)
	}
	if _, err := dec.Token(); err != nil && !errors.Is(err, io.EOF) { // '}'
		return err
	}
	return nil
}

// structFields maps the json names of t's exported fields to their indexes.
func structFields(t reflect.Type) map[string]int {
	fields := map[string]int{}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		fields[name] = i
	}
	return fields
}

func joinPath(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// firstToken returns the first non-space byte of raw, or 0.
func firstToken(raw []byte) byte {
	raw = bytes.TrimLeft(raw, " \t\r\n")
	if len(raw) == 0 {
		return 0
	}
	return raw[0]
}

// jsonKind names the kind of JSON value starting with byte c.
func jsonKind(c byte) string {
	switch c {
	case '{':
		return "an object"
	case '[':
		return "a list"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	case 0:
		return "nothing"
	}
	return "a number"
}

func typeErrorMsg(err error, t reflect.Type) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("must be %s, not %s", typeName(t), te.Value)
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

func typeName(t reflect.Type) string {
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
	}
	return t.String()
}

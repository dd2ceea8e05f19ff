package record

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// The binary encoding of a record, used wherever records cross a process
// boundary (data plane buffers, state snapshots):
//
//	record := uvarint(nfields<<1 | timed) [varint(time) if timed] field*
//	field  := uvarint(len(name)) name value
//	value  := kind:byte payload
//	payload: null -> nothing; string -> uvarint(len) bytes; int -> zigzag varint;
//	         float -> 8 bytes little endian; bool -> 1 byte; list -> uvarint(n) value*
//
// Records are concatenated in a buffer without separators; DecodeRecord reports
// how many bytes it consumed.

// Limits that protect decoders from hostile or corrupt input.
const (
	maxFields   = 1 << 16
	maxListLen  = 1 << 24
	maxDepth    = 32
	maxStrBytes = 1 << 30
)

// ErrCorrupt reports undecodable bytes.
var ErrCorrupt = errors.New("corrupt record encoding")

// AppendRecord appends the binary encoding of r to dst.
func AppendRecord(dst []byte, r *Record) []byte {
	h := uint64(len(r.Fields)) << 1
	if r.Timed {
		h |= 1
	}
	dst = binary.AppendUvarint(dst, h)
	if r.Timed {
		dst = binary.AppendVarint(dst, r.Time)
	}
	for i := range r.Fields {
		f := &r.Fields[i]
		dst = binary.AppendUvarint(dst, uint64(len(f.Name)))
		dst = append(dst, f.Name...)
		dst = AppendValue(dst, f.Value)
	}
	return dst
}

// AppendValue appends the binary encoding of v to dst.
func AppendValue(dst []byte, v Value) []byte {
	dst = append(dst, byte(v.kind))
	switch v.kind {
	case String:
		dst = binary.AppendUvarint(dst, uint64(len(v.s)))
		dst = append(dst, v.s...)
	case Int:
		dst = binary.AppendVarint(dst, int64(v.n))
	case Float:
		dst = binary.LittleEndian.AppendUint64(dst, v.n)
	case Bool:
		dst = append(dst, byte(v.n))
	case List:
		dst = binary.AppendUvarint(dst, uint64(len(v.l)))
		for _, e := range v.l {
			dst = AppendValue(dst, e)
		}
	}
	return dst
}

// DecodeRecord decodes one record from the start of src into r, reusing r's
// field slice and, where a field name repeats the one already in that
// position, its name string. It returns the number of bytes consumed.
func DecodeRecord(src []byte, r *Record) (int, error) {
	h, k := binary.Uvarint(src)
	n := h >> 1
	if k <= 0 || n > maxFields {
		return 0, fmt.Errorf("%w: field count", ErrCorrupt)
	}
	pos := k
	r.Time, r.Timed = 0, h&1 == 1
	if r.Timed {
		t, k := binary.Varint(src[pos:])
		if k <= 0 {
			return 0, fmt.Errorf("%w: event time", ErrCorrupt)
		}
		r.Time = t
		pos += k
	}
	old := r.Fields
	r.Fields = r.Fields[:0]
	for i := 0; i < int(n); i++ {
		l, k := binary.Uvarint(src[pos:])
		if k <= 0 || l > uint64(len(src)-pos-k) {
			return 0, fmt.Errorf("%w: field %d name", ErrCorrupt, i)
		}
		pos += k
		nb := src[pos : pos+int(l)]
		pos += int(l)
		var name string
		if i < len(old) && old[i].Name == string(nb) {
			name = old[i].Name
		} else {
			name = string(nb)
		}
		v, k2, err := decodeValue(src[pos:], 0)
		if err != nil {
			return 0, fmt.Errorf("field %q: %w", name, err)
		}
		pos += k2
		r.Fields = append(r.Fields, Field{Name: name, Value: v})
	}
	return pos, nil
}

// DecodeValue decodes one value from the start of src.
func DecodeValue(src []byte) (Value, int, error) { return decodeValue(src, 0) }

func decodeValue(src []byte, depth int) (Value, int, error) {
	if len(src) == 0 {
		return Value{}, 0, fmt.Errorf("%w: missing value", ErrCorrupt)
	}
	kind := Kind(src[0])
	pos := 1
	switch kind {
	case Null:
		return Value{}, pos, nil
	case String:
		l, k := binary.Uvarint(src[pos:])
		if k <= 0 || l > maxStrBytes || l > uint64(len(src)-pos-k) {
			return Value{}, 0, fmt.Errorf("%w: string length", ErrCorrupt)
		}
		pos += k
		return Str(string(src[pos : pos+int(l)])), pos + int(l), nil
	case Int:
		i, k := binary.Varint(src[pos:])
		if k <= 0 {
			return Value{}, 0, fmt.Errorf("%w: int", ErrCorrupt)
		}
		return IntV(i), pos + k, nil
	case Float:
		if len(src) < pos+8 {
			return Value{}, 0, fmt.Errorf("%w: float", ErrCorrupt)
		}
		return FloatV(math.Float64frombits(binary.LittleEndian.Uint64(src[pos:]))), pos + 8, nil
	case Bool:
		if len(src) < pos+1 || src[pos] > 1 {
			return Value{}, 0, fmt.Errorf("%w: bool", ErrCorrupt)
		}
		return BoolV(src[pos] == 1), pos + 1, nil
	case List:
		if depth >= maxDepth {
			return Value{}, 0, fmt.Errorf("%w: lists nested deeper than %d", ErrCorrupt, maxDepth)
		}
		n, k := binary.Uvarint(src[pos:])
		// every element takes at least one byte, which bounds n by the input
		if k <= 0 || n > maxListLen || n > uint64(len(src)-pos-k) {
			return Value{}, 0, fmt.Errorf("%w: list length", ErrCorrupt)
		}
		pos += k
		l := make([]Value, n)
		for i := range l {
			v, k, err := decodeValue(src[pos:], depth+1)
			if err != nil {
				return Value{}, 0, err
			}
			l[i] = v
			pos += k
		}
		return ListV(l...), pos, nil
	}
	return Value{}, 0, fmt.Errorf("%w: unknown kind %d", ErrCorrupt, kind)
}

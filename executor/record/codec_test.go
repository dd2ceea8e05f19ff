package record

import (
	"math"
	"testing"
)

func sampleRecords() []*Record {
	return []*Record{
		{},
		{Fields: []Field{{"word", Str("hello")}, {"count", IntV(42)}}},
		{Fields: []Field{{"t", Str("timed")}}, Time: -1234567, Timed: true},
		{Fields: []Field{{"f", FloatV(math.Pi)}, {"neg", IntV(-1 << 62)}, {"b", BoolV(true)}, {"n", Value{}}}},
		{Fields: []Field{{"l", ListV(Str("a"), IntV(1), ListV(BoolV(false)))}, {"utf8", Str("日本語 café")}}},
	}
}

func TestRoundTrip(t *testing.T) {
	var buf []byte
	for _, r := range sampleRecords() {
		buf = AppendRecord(buf, r)
	}
	var got Record
	pos := 0
	for i, want := range sampleRecords() {
		n, err := DecodeRecord(buf[pos:], &got)
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		pos += n
		if got.Timed != want.Timed || got.Time != want.Time {
			t.Fatalf("record %d: time %v/%d, want %v/%d", i, got.Timed, got.Time, want.Timed, want.Time)
		}
		if len(got.Fields) != len(want.Fields) {
			t.Fatalf("record %d: %d fields, want %d", i, len(got.Fields), len(want.Fields))
		}
		for j, f := range want.Fields {
			if got.Fields[j].Name != f.Name || !got.Fields[j].Value.Equal(f.Value) {
				t.Errorf("record %d field %d: %v=%v, want %v=%v", i, j, got.Fields[j].Name, got.Fields[j].Value, f.Name, f.Value)
			}
		}
	}
	if pos != len(buf) {
		t.Fatalf("consumed %d of %d bytes", pos, len(buf))
	}
}

func TestJSON(t *testing.T) {
	r := sampleRecords()[4]
	if got, want := r.String(), `{"l":["a",1,[false]],"utf8":"日本語 café"}`; got != want {
		t.Fatalf("JSON %s, want %s", got, want)
	}
}

func TestKeyGroupsCoverSubtasks(t *testing.T) {
	for _, p := range []int{1, 2, 3, 4, 7, 128} {
		seen := map[int]bool{}
		for kg := 0; kg < 128; kg++ {
			s := SubtaskForKeyGroup(kg, 128, p)
			if s < 0 || s >= p {
				t.Fatalf("p=%d: key group %d -> subtask %d", p, kg, s)
			}
			seen[s] = true
		}
		if len(seen) != p {
			t.Fatalf("p=%d: only %d subtasks own key groups", p, len(seen))
		}
	}
	k1, _ := KeyOf(Str("1"))
	k2, _ := KeyOf(IntV(1))
	if k1 == k2 || k1.Hash() == k2.Hash() {
		t.Fatal("string and int keys collide")
	}
	if _, err := KeyOf(ListV()); err == nil {
		t.Fatal("a list key was accepted")
	}
}

func FuzzDecodeRecord(f *testing.F) {
	for _, r := range sampleRecords() {
		f.Add(AppendRecord(nil, r))
	}
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, data []byte) {
		var r Record
		n, err := DecodeRecord(data, &r)
		if err != nil {
			return
		}
		if n > len(data) {
			t.Fatalf("consumed %d of %d bytes", n, len(data))
		}
		// what decodes re-encodes to a record that decodes the same
		again := AppendRecord(nil, &r)
		var r2 Record
		if _, err := DecodeRecord(again, &r2); err != nil {
			t.Fatalf("re-encoded record does not decode: %v", err)
		}
		if len(r2.Fields) != len(r.Fields) {
			t.Fatal("round trip changed the field count")
		}
	})
}

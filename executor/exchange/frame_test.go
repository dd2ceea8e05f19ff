package exchange

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"
)

func sampleFrames() [][]byte {
	data := appendHeader(nil, frameData, 5)
	data = append(data, "hello"...)
	return [][]byte{
		appendHello(nil, hello{version: protocolVersion, token: "tok", id: ChannelID{Job: "j", Attempt: 2, Edge: 3, From: 4, To: 5}}),
		appendHelloOK(nil, 4, 32<<10),
		appendError(nil, "authentication failed"),
		appendEvent(nil, Event{Kind: 7, Payload: []byte{1, 2, 3}}),
		appendEvent(nil, Event{Kind: EventEndOfPartition}),
		appendCredit(nil, 3),
		appendEndAck(nil),
		data,
	}
}

func decodeAll(b []byte, maxData int) ([]frame, error) {
	fr := newFrameReader(bytes.NewReader(b), 16, maxData, newBufferPool(maxData))
	var out []frame
	for {
		f, err := fr.read()
		if err != nil {
			return out, err
		}
		out = append(out, f)
	}
}

func TestFrameRoundTrip(t *testing.T) {
	var all []byte
	for _, b := range sampleFrames() {
		all = append(all, b...)
	}
	got, err := decodeAll(all, 64)
	if err != io.EOF {
		t.Fatalf("decode: %v", err)
	}
	if len(got) != len(sampleFrames()) {
		t.Fatalf("decoded %d frames", len(got))
	}
	h := got[0].hello
	if h.token != "tok" || h.id != (ChannelID{Job: "j", Attempt: 2, Edge: 3, From: 4, To: 5}) {
		t.Fatalf("hello %+v", h)
	}
	if got[1].credits != 4 || got[1].maxBuf != 32<<10 || got[2].msg != "authentication failed" ||
		got[3].event.Kind != 7 || !bytes.Equal(got[3].event.Payload, []byte{1, 2, 3}) ||
		got[4].event.Kind != EventEndOfPartition || got[5].credits != 3 || got[6].typ != frameEndAck ||
		string(got[7].data) != "hello" {
		t.Fatalf("frames %+v", got)
	}
}

func TestFrameLimits(t *testing.T) {
	cases := map[string][]byte{
		"huge data":        appendHeader(nil, frameData, 1<<31),
		"data over max":    appendHeader(nil, frameData, 65),
		"huge hello":       appendHeader(nil, frameHello, maxControlBody+1),
		"bad credit len":   appendHeader(nil, frameCredit, 8),
		"zero credit":      appendCredit(nil, 0),
		"empty event":      appendHeader(nil, frameEvent, 0),
		"unknown type":     appendHeader(nil, 99, 0),
		"truncated body":   appendHello(nil, hello{version: protocolVersion, token: "t"})[:10],
		"bad hello string": append(appendHeader(nil, frameHello, 3), protocolVersion, 0xff, 0xff),
		"hello trailing":   append(appendHello(nil, hello{version: protocolVersion})[:headerLen], 0),
	}
	for name, b := range cases {
		_, err := decodeAll(b, 64)
		if err == nil || err == io.EOF {
			t.Errorf("%s: got %v, want error", name, err)
		}
	}
	if _, err := decodeAll(appendHeader(nil, frameData, 1<<31), 64); !errors.Is(err, errFrameTooLarge) {
		t.Errorf("huge data: %v", err)
	}
	// A DATA frame is rejected where none is expected (producer side).
	if _, err := decodeAll(sampleFrames()[7], 0); err == nil || err == io.EOF {
		t.Errorf("DATA accepted with maxData 0: %v", err)
	}
}

// FuzzDecodeFrame feeds arbitrary bytes to the frame decoder: it must not
// panic or over-allocate, and every decoded frame must re-encode to bytes
// that decode to the same frame.
func FuzzDecodeFrame(f *testing.F) {
	var all []byte
	for _, b := range sampleFrames() {
		f.Add(b)
		all = append(all, b...)
	}
	f.Add(all)
	f.Add(appendHeader(nil, frameData, 1<<31))
	f.Add([]byte{byte(frameHello), 0, 0, 0, 2, 1})
	const maxData = 64
	f.Fuzz(func(t *testing.T, b []byte) {
		frames, err := decodeAll(b, maxData)
		if err == nil {
			t.Fatal("decodeAll ended without error")
		}
		for _, fr := range frames {
			var enc []byte
			switch fr.typ {
			case frameHello:
				enc = appendHello(nil, fr.hello)
			case frameHelloOK:
				enc = appendHelloOK(nil, int(fr.credits), int(fr.maxBuf))
			case frameError:
				enc = appendError(nil, fr.msg)
			case frameEvent:
				enc = appendEvent(nil, fr.event)
			case frameCredit:
				enc = appendCredit(nil, int(fr.credits))
			case frameEndAck:
				enc = appendEndAck(nil)
			case frameData:
				if len(fr.data) > maxData {
					t.Fatalf("DATA of %d bytes exceeds %d", len(fr.data), maxData)
				}
				enc = append(appendHeader(nil, frameData, len(fr.data)), fr.data...)
			default:
				t.Fatalf("decoded unknown type %d", fr.typ)
			}
			again, err := decodeAll(enc, maxData)
			if err != io.EOF || len(again) != 1 {
				t.Fatalf("re-decode %s: %d frames, %v", fr.typ, len(again), err)
			}
			g := again[0]
			if fr.typ == frameData {
				if !bytes.Equal(g.data, fr.data) {
					t.Fatal("DATA round trip mismatch")
				}
				continue
			}
			if !reflect.DeepEqual(g, fr) {
				t.Fatalf("round trip mismatch:\n%+v\n%+v", fr, g)
			}
		}
	})
}

package exchange

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

// Wire format: every frame is a 5-byte header followed by a body.
//
//	header: type uint8 | body length uint32 (big endian)
//
// Bodies (all integers big endian):
//
//	HELLO     version u8 | tokenLen u16 | token | jobLen u16 | job |
//	          attempt u32 | edge u32 | from u32 | to u32
//	HELLO_OK  version u8 | credits u32 | maxBuffer u32
//	ERROR     UTF-8 message
//	DATA      opaque buffer bytes
//	EVENT     kind u8 | payload
//	CREDIT    n u32 (n >= 1)
//	END_ACK   empty
//
// Lengths are validated against per-type limits before any allocation.

type frameType uint8

const (
	frameHello   frameType = 1 // producer -> consumer, first frame
	frameHelloOK frameType = 2 // consumer -> producer, handshake accepted
	frameError   frameType = 3 // consumer -> producer, refusal; then close
	frameData    frameType = 4 // producer -> consumer, needs one credit
	frameEvent   frameType = 5 // producer -> consumer, no credit
	frameCredit  frameType = 6 // consumer -> producer, grants n buffers
	frameEndAck  frameType = 7 // consumer -> producer, END_OF_PARTITION received
)

func (t frameType) String() string {
	switch t {
	case frameHello:
		return "HELLO"
	case frameHelloOK:
		return "HELLO_OK"
	case frameError:
		return "ERROR"
	case frameData:
		return "DATA"
	case frameEvent:
		return "EVENT"
	case frameCredit:
		return "CREDIT"
	case frameEndAck:
		return "END_ACK"
	}
	return fmt.Sprintf("frame(%d)", uint8(t))
}

const (
	protocolVersion = 1
	headerLen       = 5
	helloOKLen      = 9
	creditLen       = 4

	// maxControlBody bounds HELLO, ERROR and EVENT bodies.
	maxControlBody = 64 << 10
	// MaxEventPayload is the largest Event.Payload accepted.
	MaxEventPayload = maxControlBody - 1
	maxTokenLen     = 1024
	maxJobLen       = 1024
	// maxBufferSize bounds Config.BufferSize and therefore DATA bodies.
	maxBufferSize = 64 << 20
)

// Event is a small control message that travels in order with the data
// of a channel but does not need credit.
type Event struct {
	Kind    uint8
	Payload []byte
}

// Event kinds. Kinds >= 128 are free for callers (e.g. checkpoint barriers).
const (
	// EventEndOfPartition marks the end of a channel. It is sent by
	// Output.Finish; callers must not send it with SendEvent.
	EventEndOfPartition uint8 = 1
)

var (
	errFrameTooLarge = errors.New("frame body exceeds limit")
	errBadFrame      = errors.New("malformed frame")
	errBadVersion    = errors.New("unsupported protocol version")
)

// hello is the decoded HELLO body.
type hello struct {
	version uint8
	token   string
	id      ChannelID
}

// frame is one decoded frame. Only the fields of its type are set.
type frame struct {
	typ     frameType
	hello   hello
	credits uint32 // HELLO_OK, CREDIT
	maxBuf  uint32 // HELLO_OK
	msg     string // ERROR
	event   Event  // EVENT; Payload is a fresh copy
	data    []byte // DATA; from the reader's pool, owned by the caller
}

// frameReader decodes frames from a stream. Not safe for concurrent use.
type frameReader struct {
	r       *bufio.Reader
	hdr     [headerLen]byte
	ctl     []byte      // reused for control bodies
	maxData int         // largest DATA body accepted; 0 rejects DATA
	pool    *bufferPool // DATA bodies are read into buffers from here
}

func newFrameReader(r io.Reader, size, maxData int, pool *bufferPool) *frameReader {
	return &frameReader{r: bufio.NewReaderSize(r, size), maxData: maxData, pool: pool}
}

// limit returns the allowed body length range for t.
func (fr *frameReader) limit(t frameType) (lo, hi int, ok bool) {
	switch t {
	case frameHello, frameError:
		return 0, maxControlBody, true
	case frameHelloOK:
		return helloOKLen, helloOKLen, true
	case frameData:
		return 0, fr.maxData, fr.maxData > 0
	case frameEvent:
		return 1, maxControlBody, true
	case frameCredit:
		return creditLen, creditLen, true
	case frameEndAck:
		return 0, 0, true
	}
	return 0, 0, false
}

// next reads and validates one frame header.
func (fr *frameReader) next() (frameType, int, error) {
	if _, err := io.ReadFull(fr.r, fr.hdr[:]); err != nil {
		return 0, 0, err
	}
	t := frameType(fr.hdr[0])
	n := binary.BigEndian.Uint32(fr.hdr[1:])
	lo, hi, ok := fr.limit(t)
	if !ok {
		return 0, 0, fmt.Errorf("%w: unexpected frame type %d", errBadFrame, fr.hdr[0])
	}
	if uint64(n) > uint64(hi) {
		return 0, 0, fmt.Errorf("%w: %s body of %d bytes, limit %d", errFrameTooLarge, t, n, hi)
	}
	if int(n) < lo {
		return 0, 0, fmt.Errorf("%w: %s body of %d bytes, need %d", errBadFrame, t, n, lo)
	}
	return t, int(n), nil
}

// body reads a control body of n bytes into a reused buffer; the result
// is valid until the next call.
func (fr *frameReader) body(n int) ([]byte, error) {
	if cap(fr.ctl) < n {
		fr.ctl = make([]byte, n)
	}
	b := fr.ctl[:n]
	if _, err := io.ReadFull(fr.r, b); err != nil {
		return nil, noEOF(err)
	}
	return b, nil
}

// read reads and decodes one complete frame.
func (fr *frameReader) read() (frame, error) {
	t, n, err := fr.next()
	if err != nil {
		return frame{}, err
	}
	f := frame{typ: t}
	if t == frameData {
		buf := fr.pool.get()
		if cap(buf) < n {
			buf = make([]byte, 0, n)
		}
		buf = buf[:n]
		if _, err := io.ReadFull(fr.r, buf); err != nil {
			fr.pool.put(buf)
			return frame{}, noEOF(err)
		}
		f.data = buf
		return f, nil
	}
	b, err := fr.body(n)
	if err != nil {
		return frame{}, err
	}
	switch t {
	case frameHello:
		f.hello, err = decodeHello(b)
	case frameHelloOK:
		if b[0] != protocolVersion {
			return frame{}, fmt.Errorf("%w: %d", errBadVersion, b[0])
		}
		f.credits = binary.BigEndian.Uint32(b[1:])
		f.maxBuf = binary.BigEndian.Uint32(b[5:])
		if f.credits == 0 || f.maxBuf == 0 {
			err = fmt.Errorf("%w: HELLO_OK with zero credits or buffer size", errBadFrame)
		}
	case frameError:
		f.msg = string(b)
	case frameEvent:
		f.event = Event{Kind: b[0], Payload: append([]byte(nil), b[1:]...)}
	case frameCredit:
		f.credits = binary.BigEndian.Uint32(b)
		if f.credits == 0 {
			err = fmt.Errorf("%w: zero CREDIT", errBadFrame)
		}
	}
	if err != nil {
		return frame{}, err
	}
	return f, nil
}

// noEOF turns an EOF inside a frame into io.ErrUnexpectedEOF, so that a
// clean io.EOF only ever means "closed between frames".
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

func decodeHello(b []byte) (hello, error) {
	var h hello
	if len(b) < 1 {
		return h, fmt.Errorf("%w: empty HELLO", errBadFrame)
	}
	h.version = b[0]
	if h.version != protocolVersion {
		return h, fmt.Errorf("%w: %d (want %d)", errBadVersion, h.version, protocolVersion)
	}
	b = b[1:]
	tok, b, ok := readString(b, maxTokenLen)
	if !ok {
		return h, fmt.Errorf("%w: HELLO token", errBadFrame)
	}
	job, b, ok := readString(b, maxJobLen)
	if !ok || len(b) != 16 {
		return h, fmt.Errorf("%w: HELLO channel id", errBadFrame)
	}
	h.token = tok
	h.id = ChannelID{
		Job:     job,
		Attempt: int(binary.BigEndian.Uint32(b[0:])),
		Edge:    int(binary.BigEndian.Uint32(b[4:])),
		From:    int(binary.BigEndian.Uint32(b[8:])),
		To:      int(binary.BigEndian.Uint32(b[12:])),
	}
	return h, nil
}

func readString(b []byte, limit int) (string, []byte, bool) {
	if len(b) < 2 {
		return "", nil, false
	}
	n := int(binary.BigEndian.Uint16(b))
	b = b[2:]
	if n > limit || n > len(b) {
		return "", nil, false
	}
	return string(b[:n]), b[n:], true
}

// Encoders append a complete frame (header and body) to dst.

func appendHeader(dst []byte, t frameType, n int) []byte {
	dst = append(dst, byte(t))
	return binary.BigEndian.AppendUint32(dst, uint32(n))
}

func appendHello(dst []byte, h hello) []byte {
	n := 1 + 2 + len(h.token) + 2 + len(h.id.Job) + 16
	dst = appendHeader(dst, frameHello, n)
	dst = append(dst, h.version)
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(h.token)))
	dst = append(dst, h.token...)
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(h.id.Job)))
	dst = append(dst, h.id.Job...)
	for _, v := range [...]int{h.id.Attempt, h.id.Edge, h.id.From, h.id.To} {
		dst = binary.BigEndian.AppendUint32(dst, uint32(v))
	}
	return dst
}

func appendHelloOK(dst []byte, credits, maxBuf int) []byte {
	dst = appendHeader(dst, frameHelloOK, helloOKLen)
	dst = append(dst, protocolVersion)
	dst = binary.BigEndian.AppendUint32(dst, uint32(credits))
	return binary.BigEndian.AppendUint32(dst, uint32(maxBuf))
}

func appendError(dst []byte, msg string) []byte {
	if len(msg) > maxControlBody {
		msg = msg[:maxControlBody]
	}
	dst = appendHeader(dst, frameError, len(msg))
	return append(dst, msg...)
}

func appendEvent(dst []byte, ev Event) []byte {
	dst = appendHeader(dst, frameEvent, 1+len(ev.Payload))
	dst = append(dst, ev.Kind)
	return append(dst, ev.Payload...)
}

func appendCredit(dst []byte, n int) []byte {
	dst = appendHeader(dst, frameCredit, creditLen)
	return binary.BigEndian.AppendUint32(dst, uint32(n))
}

func appendEndAck(dst []byte) []byte {
	return appendHeader(dst, frameEndAck, 0)
}

// validate checks that id can be encoded in a HELLO frame.
func (id ChannelID) validate() error {
	if len(id.Job) > maxJobLen {
		return fmt.Errorf("channel %v: job name longer than %d bytes", id, maxJobLen)
	}
	for _, v := range [...]int{id.Attempt, id.Edge, id.From, id.To} {
		if v < 0 || v > math.MaxUint32 {
			return fmt.Errorf("channel %v: field out of range [0, 2^32)", id)
		}
	}
	return nil
}

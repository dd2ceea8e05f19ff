package task

import (
	"encoding/binary"
	"errors"
	"math"

	"github.com/sluicehq/sluice/executor/exchange"
)

// Stream events that travel with the records (exchange event kinds >= 128
// are the caller's).
const (
	// eventBarrier carries checkpoint n: uvarint(n), then the target
	// directory of a savepoint ("" for a regular checkpoint).
	eventBarrier uint8 = 128
	// eventWatermark carries a watermark: varint(ms).
	eventWatermark uint8 = 129
	// eventIdle carries a source's idleness: 1 idle, 0 active again.
	eventIdle uint8 = 130
)

// Barrier is a checkpoint barrier: checkpoint id, and the directory a
// savepoint is written to ("" for regular checkpoints).
type Barrier struct {
	ID     int64
	Target string
}

func encodeBarrier(b Barrier) exchange.Event {
	p := binary.AppendUvarint(nil, uint64(b.ID))
	p = append(p, b.Target...)
	return exchange.Event{Kind: eventBarrier, Payload: p}
}

func decodeBarrier(p []byte) (Barrier, error) {
	id, n := binary.Uvarint(p)
	if n <= 0 || id > math.MaxInt64 {
		return Barrier{}, errors.New("malformed checkpoint barrier")
	}
	return Barrier{ID: int64(id), Target: string(p[n:])}, nil
}

func encodeWatermark(wm int64) exchange.Event {
	return exchange.Event{Kind: eventWatermark, Payload: binary.AppendVarint(nil, wm)}
}

func decodeWatermark(p []byte) (int64, error) {
	wm, n := binary.Varint(p)
	if n <= 0 {
		return 0, errors.New("malformed watermark")
	}
	return wm, nil
}

func encodeIdle(idle bool) exchange.Event {
	b := byte(0)
	if idle {
		b = 1
	}
	return exchange.Event{Kind: eventIdle, Payload: []byte{b}}
}

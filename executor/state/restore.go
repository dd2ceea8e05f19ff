package state

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	"github.com/sluicehq/sluice/executor/record"
)

// ErrCorrupt reports a key group block that does not decode.
var ErrCorrupt = errors.New("corrupt state snapshot")

// RestoreGroup merges one key group's block, as Snapshot wrote it (the
// bytes of its GroupExtent), into the backend; entries of the same keys are
// replaced, so restoring a block twice is harmless. A block that fails any
// check (version, checksum, group, a key of another group, the encoding)
// is an error wrapping ErrCorrupt, and nothing of it is merged. Restore
// before the operator opens: pointers from Value.Ref are invalid after it.
func (b *Backend) RestoreGroup(group int, data []byte) error {
	if group < 0 || group >= b.maxPar {
		return fmt.Errorf("restore key group %d: out of range [0, %d)", group, b.maxPar)
	}
	tmp, err := b.decodeGroup(group, data)
	if err != nil {
		return fmt.Errorf("restore key group %d: %w", group, err)
	}
	for id, s := range tmp.states {
		b.state(id.kind, id.name).merge(s)
	}
	return nil
}

// decodeGroup checks and decodes a block into a new backend.
func (b *Backend) decodeGroup(group int, data []byte) (*Backend, error) {
	if len(data) < 1+4 {
		return nil, fmt.Errorf("%w: %d bytes", ErrCorrupt, len(data))
	}
	if data[0] != formatVersion {
		return nil, fmt.Errorf("%w: unknown format version %d", ErrCorrupt, data[0])
	}
	body, sum := data[:len(data)-4], binary.LittleEndian.Uint32(data[len(data)-4:])
	if crc32.Checksum(body, crcTable) != sum {
		return nil, fmt.Errorf("%w: checksum mismatch", ErrCorrupt)
	}
	return b.decodeBody(group, body[1:])
}

// decodeBody decodes a block after its version byte, without its checksum.
func (b *Backend) decodeBody(group int, src []byte) (*Backend, error) {
	g, pos := binary.Uvarint(src)
	if pos <= 0 || g != uint64(group) {
		return nil, fmt.Errorf("%w: block of key group %d, not %d", ErrCorrupt, g, group)
	}
	nstates, k, err := decodeCount(src[pos:], 3) // a state takes at least 3 bytes
	if err != nil {
		return nil, fmt.Errorf("state count: %w", err)
	}
	pos += k
	tmp := NewBackend(b.maxPar)
	for range nstates {
		l, k := binary.Uvarint(src[pos:])
		if k <= 0 || l > uint64(len(src)-pos-k) {
			return nil, fmt.Errorf("%w: state name length", ErrCorrupt)
		}
		pos += k
		name := string(src[pos : pos+int(l)])
		pos += int(l)
		if pos >= len(src) {
			return nil, fmt.Errorf("state %q: %w: missing kind", name, ErrCorrupt)
		}
		kind := stateKind(src[pos])
		pos++
		if kind < kindValue || kind > kindList {
			return nil, fmt.Errorf("state %q: %w: unknown kind %d", name, ErrCorrupt, kind)
		}
		if _, dup := tmp.states[stateID{kind, name}]; dup {
			return nil, fmt.Errorf("state %q: %w: appears twice", name, ErrCorrupt)
		}
		s := tmp.state(kind, name)
		n, err := tmp.decodeEntries(s, group, src[pos:])
		if err != nil {
			return nil, fmt.Errorf("%s state %q: %w", kind, name, err)
		}
		pos += n
	}
	if pos != len(src) {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrCorrupt, len(src)-pos)
	}
	return tmp, nil
}

// decodeEntries decodes a state's key count and entries into s.
func (b *Backend) decodeEntries(s keyedState, group int, src []byte) (int, error) {
	nkeys, pos, err := decodeCount(src, 2) // an entry takes at least 2 bytes
	if err != nil {
		return 0, fmt.Errorf("key count: %w", err)
	}
	s.reserve(nkeys)
	for range nkeys {
		kv, n, err := record.DecodeValue(src[pos:])
		if err != nil {
			return 0, fmt.Errorf("key: %w", err)
		}
		pos += n
		k, err := record.KeyOf(kv)
		if err != nil {
			return 0, fmt.Errorf("%w: key %s: %v", ErrCorrupt, kv, err)
		}
		if kg := b.KeyGroup(k); kg != group {
			return 0, fmt.Errorf("%w: key %s belongs to key group %d, not %d (another max parallelism?)", ErrCorrupt, kv, kg, group)
		}
		before := s.Len()
		n, err = s.decodeEntry(k, src[pos:])
		if err != nil {
			return 0, fmt.Errorf("key %s: %w", kv, err)
		}
		if s.Len() == before {
			return 0, fmt.Errorf("%w: key %s appears twice", ErrCorrupt, kv)
		}
		pos += n
	}
	return pos, nil
}

// decodeCount decodes a uvarint count of items that take at least minSize
// bytes each, bounding it by the bytes left.
func decodeCount(src []byte, minSize int) (n, size int, err error) {
	c, k := binary.Uvarint(src)
	if k <= 0 || c > uint64(len(src)-k)/uint64(minSize) {
		return 0, 0, fmt.Errorf("%w: count", ErrCorrupt)
	}
	return int(c), k, nil
}

package state

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
)

// formatVersion is the version byte of a key group block.
const formatVersion = 1

// crcTable is the Castagnoli table of the block checksums.
var crcTable = crc32.MakeTable(crc32.Castagnoli)

// GroupExtent locates one key group's block in a snapshot: bytes
// [Offset, Offset+Length) of what Snapshot wrote.
type GroupExtent struct {
	Group  int   `json:"group"`
	Offset int64 `json:"offset"`
	Length int64 `json:"length"`
}

// Snapshot writes every non-empty key group of the backend to w, one block
// per group in increasing group order, and returns where each block is.
// A backend without entries writes nothing. It runs on the subtask's
// goroutine: the state must not change during the call.
func (b *Backend) Snapshot(w io.Writer) ([]GroupExtent, error) {
	ids, sts := b.sortedStates()
	// encode every state's entries into per-group buffers in one pass
	bufs := make([][][]byte, len(sts))
	counts := make([][]int, len(sts))
	for i, s := range sts {
		if s.Len() == 0 {
			continue
		}
		bufs[i], counts[i] = make([][]byte, b.maxPar), make([]int, b.maxPar)
		s.encode(b.KeyGroup, bufs[i], counts[i])
	}
	var (
		extents []GroupExtent
		off     int64
		block   []byte
	)
	for g := range b.maxPar {
		nstates := 0
		for i := range sts {
			if counts[i] != nil && counts[i][g] > 0 {
				nstates++
			}
		}
		if nstates == 0 {
			continue
		}
		block = append(block[:0], formatVersion)
		block = binary.AppendUvarint(block, uint64(g))
		block = binary.AppendUvarint(block, uint64(nstates))
		for i := range sts {
			if counts[i] == nil || counts[i][g] == 0 {
				continue
			}
			block = binary.AppendUvarint(block, uint64(len(ids[i].name)))
			block = append(block, ids[i].name...)
			block = append(block, byte(ids[i].kind))
			block = binary.AppendUvarint(block, uint64(counts[i][g]))
			block = append(block, bufs[i][g]...)
			bufs[i][g] = nil
		}
		block = binary.LittleEndian.AppendUint32(block, crc32.Checksum(block, crcTable))
		if _, err := w.Write(block); err != nil {
			return nil, fmt.Errorf("write key group %d: %w", g, err)
		}
		extents = append(extents, GroupExtent{Group: g, Offset: off, Length: int64(len(block))})
		off += int64(len(block))
	}
	return extents, nil
}

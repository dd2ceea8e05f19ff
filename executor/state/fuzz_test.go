package state

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/sluicehq/sluice/executor/record"
)

// binaryCRC appends the checksum of body to a copy of it.
func binaryCRC(body []byte) []byte {
	return binary.LittleEndian.AppendUint32(slices.Clone(body), crc32.Checksum(body, crcTable))
}

// FuzzRestoreGroup feeds arbitrary block bodies (with a valid checksum, so
// that the decoder itself is exercised) to RestoreGroup: it must fail
// cleanly or restore something that snapshots back to the same entries.
func FuzzRestoreGroup(f *testing.F) {
	src := NewBackend(4)
	fill(src, rand.New(rand.NewPCG(1, 1)), 50)
	data, ext := snapshot(f, src)
	for _, e := range ext {
		block := data[e.Offset : e.Offset+e.Length]
		f.Add(uint8(e.Group), block[:len(block)-4])
	}
	f.Add(uint8(0), []byte{1, 0, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, group uint8, body []byte) {
		g := int(group % 4)
		b := NewBackend(4)
		if err := b.RestoreGroup(g, binaryCRC(body)); err != nil {
			if !b.Empty() {
				t.Fatal("a failed restore left entries")
			}
			return
		}
		var buf bytes.Buffer
		ext, err := b.Snapshot(&buf)
		if err != nil {
			t.Fatal(err)
		}
		if b.Empty() {
			return // a block whose states have no keys
		}
		if len(ext) != 1 || ext[0].Group != g {
			t.Fatalf("restored group %d snapshots as %+v", g, ext)
		}
		again := NewBackend(4)
		if err := again.RestoreGroup(g, buf.Bytes()); err != nil {
			t.Fatalf("re-snapshot does not restore: %v", err)
		}
		if !slices.Equal(dump(again), dump(b)) {
			t.Fatal("round trip changed the entries")
		}
	})
}

// FuzzRestoreGroupRaw also covers the checksum and version checks.
func FuzzRestoreGroupRaw(f *testing.F) {
	src := NewBackend(2)
	src.Value("v").Set(key("a"), record.IntV(1))
	data, _ := snapshot(f, src)
	f.Add(data)
	f.Fuzz(func(t *testing.T, data []byte) {
		b := NewBackend(2)
		for g := range 2 {
			_ = b.RestoreGroup(g, data)
		}
	})
}

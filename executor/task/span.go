package task

import (
	"encoding/binary"
	"fmt"

	"github.com/sluicehq/sluice/executor/record"
)

// spanDecoder turns one channel's buffers back into records. Records are
// length-prefixed; a record larger than a buffer starts a fresh buffer and
// continues into the following ones of the same channel.
type spanDecoder struct {
	carry []byte // bytes of a record spanning buffers
	need  int    // bytes still missing from carry
	rec   record.Record
}

// decode calls fn for every complete record in buf. Records passed to fn are
// reused after fn returns.
func (d *spanDecoder) decode(buf []byte, fn func(*record.Record) error) error {
	pos := 0
	if d.need > 0 {
		n := min(d.need, len(buf))
		d.carry = append(d.carry, buf[:n]...)
		d.need -= n
		pos = n
		if d.need > 0 {
			return nil
		}
		if _, err := record.DecodeRecord(d.carry, &d.rec); err != nil {
			return fmt.Errorf("decode spanning record: %w", err)
		}
		d.carry = d.carry[:0]
		if err := fn(&d.rec); err != nil {
			return err
		}
	}
	for pos < len(buf) {
		l, k := binary.Uvarint(buf[pos:])
		if k <= 0 || l > 1<<31 {
			return fmt.Errorf("decode record length at byte %d: %w", pos, record.ErrCorrupt)
		}
		pos += k
		if rest := len(buf) - pos; int(l) > rest {
			d.carry = append(d.carry[:0], buf[pos:]...)
			d.need = int(l) - rest
			return nil
		}
		n, err := record.DecodeRecord(buf[pos:pos+int(l)], &d.rec)
		if err != nil {
			return err
		}
		if n != int(l) {
			return fmt.Errorf("record of %d bytes decoded as %d: %w", l, n, record.ErrCorrupt)
		}
		pos += int(l)
		if err := fn(&d.rec); err != nil {
			return err
		}
	}
	return nil
}

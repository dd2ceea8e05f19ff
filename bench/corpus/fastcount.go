package corpus

import (
	"bufio"
	"io"
	"unicode"
	"unicode/utf8"
)

// FastCount is the hand-written single-process word count the benchmark
// measures Sluice against: a large bufio reader, a byte scanner with an ASCII
// fast path, one reused token buffer, and a map of counters whose lookups do
// not allocate for words already seen. It adds exactly what Count counts to
// counts.
func FastCount(r io.Reader, counts map[string]int64) (words int64, err error) {
	idx := map[string]*int64{}
	words, err = fastCount(r, idx)
	for w, n := range idx {
		counts[w] += *n
	}
	return words, err
}

func fastCount(r io.Reader, idx map[string]*int64) (words int64, err error) {
	count := func(tok []byte) {
		if p, ok := idx[string(tok)]; ok {
			*p++
			return
		}
		n := int64(1)
		idx[string(tok)] = &n
	}
	br := bufio.NewReaderSize(r, 1<<20)
	tok := make([]byte, 0, 64)
	var carry []byte // a multi-byte character cut by the end of a read
	var buf [utf8.UTFMax]byte
	for {
		line, rerr := br.ReadSlice('\n')
		if len(carry) > 0 {
			line = append(carry, line...)
			carry = nil
		}
		for i := 0; i < len(line); {
			c := line[i]
			if c < utf8.RuneSelf {
				switch {
				case c >= 'a' && c <= 'z' || c >= '0' && c <= '9':
					tok = append(tok, c)
				case c >= 'A' && c <= 'Z':
					tok = append(tok, c+('a'-'A'))
				default:
					if len(tok) > 0 {
						count(tok)
						words++
						tok = tok[:0]
					}
				}
				i++
				continue
			}
			if !utf8.FullRune(line[i:]) && rerr == bufio.ErrBufferFull {
				carry = append([]byte(nil), line[i:]...)
				break
			}
			rn, n := utf8.DecodeRune(line[i:])
			i += n
			if unicode.IsLetter(rn) || unicode.IsDigit(rn) {
				k := utf8.EncodeRune(buf[:], unicode.ToLower(rn))
				tok = append(tok, buf[:k]...)
			} else if len(tok) > 0 {
				count(tok)
				words++
				tok = tok[:0]
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil && rerr != bufio.ErrBufferFull {
			return words, rerr
		}
	}
	if len(tok) > 0 {
		count(tok)
		words++
	}
	return words, nil
}

// Package corpus generates deterministic text for word counts: lines of
// words drawn from a Zipf-distributed vocabulary (so a few words are very
// common and most are rare, as in real text), with capitals, punctuation,
// numbers and some multi-byte UTF-8 words. The same seed and size always give
// the same bytes. It also holds the reference word count that tests and the
// benchmark compare Sluice's output with.
package corpus

import (
	"bufio"
	"io"
	"math/rand/v2"
	"strings"
	"unicode"
)

// Options shape a corpus.
type Options struct {
	Seed  uint64
	Bytes int64 // approximate size; the last line is completed
	// Vocabulary is the number of distinct base words; default 50,000.
	Vocabulary int
	// CRLF ends lines with \r\n instead of \n.
	CRLF bool
}

var syllables = []string{
	"ka", "lo", "mi", "ne", "ru", "sa", "te", "vi", "do", "fa", "gu", "ha", "ji", "ko", "la", "me",
	"ni", "po", "qua", "re", "si", "tu", "wa", "xe", "yo", "ze", "an", "el", "in", "on", "ur", "st",
	"ber", "cor", "dan", "fel", "gor", "hil", "mar", "nor", "pel", "ros", "sol", "tar", "ven", "wil",
}

var multibyte = []string{"café", "naïve", "straße", "über", "señor", "crème", "façade", "smörgås", "日本", "東京", "κόσμος", "мир", "żółw", "ångström"}

// Generate writes a corpus to w.
func Generate(w io.Writer, o Options) error {
	if o.Vocabulary == 0 {
		o.Vocabulary = 50_000
	}
	rng := rand.New(rand.NewPCG(o.Seed, o.Seed^0x9e3779b97f4a7c15))
	vocab := make([]string, o.Vocabulary)
	for i := range vocab {
		if i%97 == 13 {
			vocab[i] = multibyte[i%len(multibyte)]
			continue
		}
		n := 1 + rng.IntN(4)
		var b strings.Builder
		for j := 0; j < n; j++ {
			b.WriteString(syllables[rng.IntN(len(syllables))])
		}
		vocab[i] = b.String()
	}
	zipf := rand.NewZipf(rng, 1.1, 1, uint64(len(vocab)-1))
	bw := bufio.NewWriterSize(w, 1<<16)
	eol := "\n"
	if o.CRLF {
		eol = "\r\n"
	}
	var written int64
	for written < o.Bytes {
		words := 4 + rng.IntN(14)
		var line strings.Builder
		for i := 0; i < words; i++ {
			if i > 0 {
				switch rng.IntN(12) {
				case 0:
					line.WriteString(", ")
				case 1:
					line.WriteString(" - ")
				default:
					line.WriteByte(' ')
				}
			}
			wd := vocab[zipf.Uint64()]
			switch rng.IntN(20) {
			case 0:
				wd = strings.ToUpper(wd[:1]) + wd[1:]
			case 1:
				wd = "\"" + wd + "\""
			case 2:
				wd = wd + "'s"
			}
			if rng.IntN(50) == 0 {
				wd = wd + " " + itoa(rng.IntN(2000))
			}
			line.WriteString(wd)
		}
		line.WriteString(".")
		line.WriteString(eol)
		n, err := bw.WriteString(line.String())
		if err != nil {
			return err
		}
		written += int64(n)
	}
	return bw.Flush()
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}

// Tokens splits text as the tokenize operator does with its defaults: runs of
// letters and digits, lower-cased. This is the plain reference that tests
// and the benchmark compare with.
func Tokens(line string) []string {
	f := strings.FieldsFunc(line, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
	for i := range f {
		f[i] = strings.ToLower(f[i])
	}
	return f
}

// Count is the reference word count of r: a single-threaded bufio scan and a
// map, the practical limit of one core.
func Count(r io.Reader) (map[string]int64, error) {
	counts := map[string]int64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<30)
	for sc.Scan() {
		for _, t := range Tokens(sc.Text()) {
			counts[t]++
		}
	}
	return counts, sc.Err()
}

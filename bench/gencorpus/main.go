// Command gencorpus writes a deterministic word-count corpus (see
// bench/corpus). examples/corpus was made with:
//
//	go run ./bench/gencorpus -out examples/corpus
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/sluicehq/sluice/bench/corpus"
)

func main() {
	out := flag.String("out", "examples/corpus", "output directory")
	files := flag.Int("files", 4, "number of files")
	size := flag.Int64("bytes", 3<<20, "total size in bytes")
	seed := flag.Uint64("seed", 1, "seed")
	flag.Parse()
	if err := run(*out, *files, *size, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "gencorpus:", err)
		os.Exit(1)
	}
}

func run(dir string, files int, size int64, seed uint64) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for i := 0; i < files; i++ {
		// uneven sizes, and one file with CRLF line ends
		share := size * int64(files-i) / int64(files*(files+1)/2)
		name := filepath.Join(dir, fmt.Sprintf("part-%02d.txt", i))
		f, err := os.Create(name)
		if err != nil {
			return err
		}
		err = corpus.Generate(f, corpus.Options{Seed: seed + uint64(i), Bytes: share, CRLF: i == files-1})
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
	}
	return nil
}

// Command blob is the blob storage benchmark: in one run it writes and then
// reads 100 MB of objects, as 100 x 1 MB and as 1000 x 100 KB, to a file://
// bucket and to Azurite, and prints write and read throughput in MB/s
// (10^6 bytes) with the ratio of Azurite to file://.
//
// Objects go through the *blob.Bucket that operators use (the files source
// and sink), with -concurrency objects in flight, as several subtasks would
// have; a third shape writes 1 MB checkpoint pieces one at a time through
// blobstate (checksummed, synced to disk on file://), as a subtask's
// snapshot upload does. Every object read back is compared with what was
// written. The median of -runs runs is reported.
//
// It uses the Azurite of SLUICE_TEST_AZURITE (make test's), or starts its
// own from node_modules/.bin (run `npm ci` first).
//
//	go run ./bench/blob [-mb 100] [-concurrency 4] [-runs 3]
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/sluicehq/sluice/blobstate"
	"github.com/sluicehq/sluice/blobstate/blobstatetest"
)

func main() {
	mb := flag.Int("mb", 100, "megabytes (10^6 bytes) per shape")
	conc := flag.Int("concurrency", 4, "objects in flight")
	runs := flag.Int("runs", 3, "runs per measurement (the median is reported)")
	dir := flag.String("dir", ".sluice/bench/blob", "work directory for the file:// bucket")
	flag.Parse()
	if err := run(context.Background(), *mb, *conc, *runs, *dir); err != nil {
		fmt.Fprintln(os.Stderr, "bench/blob:", err)
		os.Exit(1)
	}
}

// shape is a number of objects of one size, written by some writers at
// once; pieces are written one at a time through blobstate.
type shape struct {
	name   string
	n      int
	size   int
	pieces bool
}

type result struct {
	backend, shape string
	write, read    float64 // MB/s
}

func run(ctx context.Context, mb, conc, runs int, dir string) error {
	total := mb * 1_000_000
	shapes := []shape{
		{name: fmt.Sprintf("%d x 1 MB", total/1_000_000), n: total / 1_000_000, size: 1_000_000},
		{name: fmt.Sprintf("%d x 100 KB", total/100_000), n: total / 100_000, size: 100_000},
		{name: fmt.Sprintf("%d x 1 MB pieces, 1 at a time", total/1_000_000), n: total / 1_000_000, size: 1_000_000, pieces: true},
	}
	data := make([]byte, 1_000_000)
	if _, err := rand.Read(data); err != nil {
		return err
	}

	fileBucket, cleanFile, err := openFile(ctx, dir)
	if err != nil {
		return err
	}
	defer cleanFile()
	azBucket, cleanAz, err := blobstatetest.OpenContainer(ctx, "bench")
	if err != nil {
		return err
	}
	defer cleanAz()

	var results []result
	for _, be := range []struct {
		name string
		b    *blobstate.Bucket
	}{{"file://", fileBucket}, {"azurite", azBucket}} {
		for _, sh := range shapes {
			var ws, rs []float64
			for r := range runs {
				prefix := fmt.Sprintf("bench/%d/%d-%d/", time.Now().UnixNano(), sh.n, r)
				w, rd, err := measure(ctx, be.b, prefix, sh, conc, data)
				if err != nil {
					return fmt.Errorf("%s %s: %w", be.name, sh.name, err)
				}
				ws, rs = append(ws, mbps(sh, w)), append(rs, mbps(sh, rd))
				if err := deletePrefix(ctx, be.b, prefix); err != nil {
					return err
				}
			}
			results = append(results, result{be.name, sh.name, median(ws), median(rs)})
			fmt.Fprintf(os.Stderr, "%s %s: write %.0f MB/s, read %.0f MB/s\n", be.name, sh.name, median(ws), median(rs))
		}
	}
	report(results, shapes, conc, runs)
	return nil
}

// measure writes the shape's objects under prefix, then reads and checks
// them, and returns the time each took.
func measure(ctx context.Context, b *blobstate.Bucket, prefix string, sh shape, conc int, data []byte) (w, r time.Duration, err error) {
	key := func(i int) string { return fmt.Sprintf("%s%06d", prefix, i) }
	obj := func(i int) []byte { // each object a different slice of the random data
		off := (i * 7919) % (len(data) - sh.size + 1)
		return data[off : off+sh.size]
	}
	if sh.pieces {
		d := blobstate.NewCheckpoints(b, "bench").Dir(1)
		pieces := make([]blobstate.Piece, sh.n)
		start := time.Now()
		for i := range sh.n {
			if pieces[i], err = d.WritePiece(ctx, fmt.Sprintf("%s%06d", prefix, i), obj(i)); err != nil {
				return 0, 0, err
			}
		}
		w = time.Since(start)
		start = time.Now()
		for i := range sh.n {
			got, err := d.ReadPiece(ctx, pieces[i])
			if err != nil {
				return 0, 0, err
			}
			if !bytes.Equal(got, obj(i)) {
				return 0, 0, fmt.Errorf("piece %d read back differs", i)
			}
		}
		r = time.Since(start)
		return w, r, deletePrefix(ctx, b, d.Prefix())
	}
	bb := b.Blob()
	start := time.Now()
	if err := parallel(sh.n, conc, func(i int) error { return bb.WriteAll(ctx, key(i), obj(i), nil) }); err != nil {
		return 0, 0, err
	}
	w = time.Since(start)
	start = time.Now()
	err = parallel(sh.n, conc, func(i int) error {
		got, err := bb.ReadAll(ctx, key(i))
		if err != nil {
			return err
		}
		if !bytes.Equal(got, obj(i)) {
			return fmt.Errorf("%s read back differs", key(i))
		}
		return nil
	})
	return w, time.Since(start), err
}

// parallel runs f(0..n-1) on conc goroutines and returns the first error.
func parallel(n, conc int, f func(i int) error) error {
	next := make(chan int)
	errs := make(chan error, conc)
	var wg sync.WaitGroup
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := f(i); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	var err error
feed:
	for i := range n {
		select {
		case next <- i:
		case err = <-errs:
			break feed
		}
	}
	close(next)
	wg.Wait()
	if err == nil {
		select {
		case err = <-errs:
		default:
		}
	}
	return err
}

func deletePrefix(ctx context.Context, b *blobstate.Bucket, prefix string) error {
	objs, err := b.List(ctx, prefix, "")
	if err != nil {
		return err
	}
	return parallel(len(objs), 8, func(i int) error { return b.Delete(ctx, objs[i].Key) })
}

func openFile(ctx context.Context, dir string) (*blobstate.Bucket, func(), error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, err
	}
	tmp, err := os.MkdirTemp(dir, "bucket-")
	if err != nil {
		return nil, nil, err
	}
	abs, _ := filepath.Abs(tmp)
	b, err := blobstate.OpenBucket(ctx, abs, blobstate.Options{})
	if err != nil {
		return nil, nil, err
	}
	return b, func() { b.Close(); os.RemoveAll(abs) }, nil
}

func mbps(sh shape, d time.Duration) float64 {
	return float64(sh.n*sh.size) / 1e6 / d.Seconds()
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[len(s)/2]
}

func report(results []result, shapes []shape, conc, runs int) {
	by := map[[2]string]result{}
	for _, r := range results {
		by[[2]string{r.backend, r.shape}] = r
	}
	fmt.Printf("\nblob throughput, median of %d runs; %d objects in flight except pieces\n\n", runs, conc)
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "objects\tfile:// write\tazurite write\tratio\tfile:// read\tazurite read\tratio\t")
	for _, sh := range shapes {
		f, a := by[[2]string{"file://", sh.name}], by[[2]string{"azurite", sh.name}]
		fmt.Fprintf(tw, "%s\t%.0f MB/s\t%.0f MB/s\t%.2fx\t%.0f MB/s\t%.0f MB/s\t%.2fx\t\n",
			sh.name, f.write, a.write, a.write/f.write, f.read, a.read, a.read/f.read)
	}
	tw.Flush()
	fmt.Println("\nratio = azurite / file://")
}

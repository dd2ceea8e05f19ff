// Command azurite runs a local Azurite (the Azure Storage emulator, from
// node_modules: run `npm ci` first) for trying Sluice with azblob://
// buckets: it creates the containers named by -container, uploads local
// directories into them, prints the environment and bucket URLs to use, and
// stops Azurite on Ctrl-C. Data persists in -dir between runs.
//
//	go run ./scripts/azurite -container data -upload examples/corpus=corpus/
package main

import (
	"context"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/sluicehq/sluice/blobstate"
	"github.com/sluicehq/sluice/blobstate/blobstatetest"
)

type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(s string) error { *l = append(*l, s); return nil }

func main() {
	port := flag.Int("port", 10000, "blob service port on 127.0.0.1")
	dir := flag.String("dir", ".sluice/azurite", "Azurite's data directory")
	var containers, uploads list
	flag.Var(&containers, "container", "container to create (repeatable); default data")
	flag.Var(&uploads, "upload", "DIR=PREFIX: upload the files under DIR to PREFIX in the first container (repeatable)")
	flag.Parse()
	if len(containers) == 0 {
		containers = list{"data"}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *port, *dir, containers, uploads); err != nil {
		fmt.Fprintln(os.Stderr, "azurite:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, port int, dir string, containers, uploads []string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	az, err := blobstatetest.Start(ctx, blobstatetest.Config{Dir: dir, Port: port})
	if err != nil {
		return err
	}
	defer az.Stop()
	for _, c := range containers {
		if err := blobstatetest.CreateContainer(ctx, blobstatetest.URL(az.Endpoint, c)); err != nil {
			return err
		}
	}
	for _, up := range uploads {
		local, prefix, _ := strings.Cut(up, "=")
		n, err := upload(ctx, blobstatetest.URL(az.Endpoint, containers[0]), local, prefix)
		if err != nil {
			return err
		}
		fmt.Printf("uploaded %d files from %s to %s in %s\n", n, local, prefix, containers[0])
	}
	fmt.Printf("Azurite listens on %s (data in %s); in another shell:\n\n", az.Endpoint, dir)
	for _, kv := range blobstatetest.Env() {
		k, v, _ := strings.Cut(kv, "=")
		fmt.Printf("export %s='%s'\n", k, v)
	}
	for _, c := range containers {
		fmt.Printf("# bucket URL: 'azblob://%s?protocol=http&domain=127.0.0.1:%d&localemu=true'\n", c, az.Port)
	}
	fmt.Println("\nCtrl-C stops Azurite.")
	<-ctx.Done()
	return nil
}

func upload(ctx context.Context, url, local, prefix string) (int, error) {
	b, err := blobstate.OpenBucket(ctx, url, blobstate.Options{Getenv: blobstatetest.Getenv})
	if err != nil {
		return 0, err
	}
	defer b.Close()
	n := 0
	err = filepath.WalkDir(local, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(local, p)
		if err != nil {
			return err
		}
		n++
		return b.Write(ctx, prefix+filepath.ToSlash(rel), data)
	})
	return n, err
}

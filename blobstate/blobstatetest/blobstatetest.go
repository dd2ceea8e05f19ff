// Package blobstatetest runs Azurite, the Azure Storage emulator, for tests
// and benchmarks, and opens buckets on it.
//
// `make test` installs Azurite from npm (package.json at the module root),
// starts one azurite-blob for the whole run and sets SLUICE_TEST_AZURITE to
// its blob endpoint; tests that need Azurite call NewContainer, which skips
// them when that is not set. Tests that must stop and restart Azurite start
// their own with Start.
package blobstatetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/sluicehq/sluice/blobstate"
)

// Azurite's well-known development account.
const (
	Account = "devstoreaccount1"
	Key     = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

// Environment variables.
const (
	// EnvEndpoint is the blob endpoint of a running Azurite,
	// http://127.0.0.1:PORT/devstoreaccount1; make test sets it.
	EnvEndpoint = "SLUICE_TEST_AZURITE"
	// EnvBin is the azurite-blob executable; default
	// node_modules/.bin/azurite-blob in the module root.
	EnvBin = "SLUICE_AZURITE_BIN"
)

// skipMessage says how to run a skipped test.
const skipMessage = "needs Azurite: run `make test` (installs and starts it), or start azurite-blob and set " +
	EnvEndpoint + "=http://127.0.0.1:PORT/" + Account

// Env returns the environment entries that give azblob:// URLs the
// development account's shared key.
func Env() []string {
	return []string{"AZURE_STORAGE_ACCOUNT=" + Account, "AZURE_STORAGE_KEY=" + Key}
}

// Getenv is a blobstate.Options.Getenv with the development account's
// shared key and nothing else.
func Getenv(k string) string {
	switch k {
	case "AZURE_STORAGE_ACCOUNT":
		return Account
	case "AZURE_STORAGE_KEY":
		return Key
	}
	return ""
}

// Endpoint returns the endpoint in SLUICE_TEST_AZURITE, or skips t.
func Endpoint(t testing.TB) string {
	t.Helper()
	ep := os.Getenv(EnvEndpoint)
	if ep == "" {
		t.Skip(skipMessage)
	}
	return ep
}

// URL returns the azblob:// URL of a container on the Azurite at endpoint
// (http://HOST:PORT/ACCOUNT). Credentials come from the environment (Env)
// or Options.Getenv (Getenv).
func URL(endpoint, container string) string {
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" {
		panic(fmt.Sprintf("blobstatetest: bad Azurite endpoint %q", endpoint))
	}
	account := strings.Trim(u.Path, "/")
	if account == "" {
		account = Account
	}
	q := url.Values{"protocol": {"http"}, "domain": {u.Host}, "localemu": {"true"}, "storage_account": {account}}
	return "azblob://" + container + "?" + q.Encode()
}

// NewContainer creates a new container on the Azurite of
// SLUICE_TEST_AZURITE (skipping t if there is none), deletes it when t
// ends, and returns its URL.
func NewContainer(t testing.TB) string {
	t.Helper()
	ep := Endpoint(t)
	u := URL(ep, ContainerName(t.Name()))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := CreateContainer(ctx, u); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := DeleteContainer(ctx, u); err != nil {
			t.Logf("delete container: %v", err)
		}
	})
	return u
}

// CreateContainer creates the container of an azblob:// URL on Azurite.
func CreateContainer(ctx context.Context, u string) error {
	b, err := blobstate.OpenBucket(ctx, u, blobstate.Options{CreateContainer: true, Getenv: Getenv})
	if err != nil {
		return err
	}
	return b.Close()
}

// DeleteContainer deletes the container of an azblob:// URL on Azurite.
func DeleteContainer(ctx context.Context, u string) error {
	b, err := blobstate.OpenBucket(ctx, u, blobstate.Options{Getenv: Getenv})
	if err != nil {
		return err
	}
	defer b.Close()
	var cc *container.Client
	if !b.Blob().As(&cc) {
		return fmt.Errorf("%s is not an azblob bucket", u)
	}
	_, err = cc.Delete(ctx, nil)
	return err
}

// ContainerName makes a valid, unique container name (3-63 lowercase
// letters, digits and single hyphens) from a test name.
func ContainerName(base string) string {
	var sb strings.Builder
	dash := true
	for _, r := range strings.ToLower(base) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			sb.WriteRune(r)
			dash = false
		} else if !dash {
			sb.WriteByte('-')
			dash = true
		}
	}
	name := strings.Trim(sb.String(), "-")
	if len(name) > 45 {
		name = strings.Trim(name[:45], "-")
	}
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	if name == "" {
		name = "t"
	}
	return name + "-" + hex.EncodeToString(rnd[:])
}

// OpenContainer opens a new container named after base on make test's
// Azurite (SLUICE_TEST_AZURITE), or on an Azurite of its own started from
// node_modules, for programs such as the benchmarks. The returned function
// deletes the container and stops what it started.
func OpenContainer(ctx context.Context, base string) (*blobstate.Bucket, func(), error) {
	endpoint := os.Getenv(EnvEndpoint)
	stop := func() {}
	if endpoint == "" {
		az, err := Start(ctx, Config{})
		if err != nil {
			return nil, nil, fmt.Errorf("start Azurite (run `npm ci` first, or set %s): %w", EnvEndpoint, err)
		}
		fmt.Fprintf(os.Stderr, "started Azurite at %s\n", az.Endpoint)
		endpoint, stop = az.Endpoint, func() { az.Close() }
	}
	u := URL(endpoint, ContainerName(base))
	if err := CreateContainer(ctx, u); err != nil {
		stop()
		return nil, nil, err
	}
	b, err := blobstate.OpenBucket(ctx, u, blobstate.Options{Getenv: Getenv})
	if err != nil {
		stop()
		return nil, nil, err
	}
	return b, func() {
		b.Close()
		_ = DeleteContainer(context.Background(), u)
		stop()
	}, nil
}

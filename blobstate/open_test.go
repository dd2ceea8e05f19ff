package blobstate_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"

	"github.com/sluicehq/sluice/blobstate"
	"github.com/sluicehq/sluice/blobstate/blobstatetest"
)

func TestNormalize(t *testing.T) {
	wd, _ := os.Getwd()
	for _, tc := range []struct{ in, want, err string }{
		{in: "/data/bucket", want: "file:///data/bucket"},
		{in: "rel/dir", want: "file://" + filepath.ToSlash(filepath.Join(wd, "rel/dir"))},
		{in: "file:///x", want: "file:///x"},
		{in: "azblob://c?domain=d", want: "azblob://c?domain=d"},
		{in: "mem://", want: "mem://"},
		{in: "", err: "empty"},
		{in: "s3://bucket", err: `unsupported scheme "s3"`},
		{in: "file:///x#frag", err: "fragment"},
	} {
		got, err := blobstate.Normalize(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("Normalize(%q) = %q, %v; want an error with %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("Normalize(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	env := func(vars map[string]string) func(string) string { return func(k string) string { return vars[k] } }
	for _, tc := range []struct {
		url  string
		env  func(string) string
		want string
	}{
		{url: filepath.Join(dir, "missing"), want: "no such file"},
		{url: file, want: "not a directory"},
		{url: "file://" + dir + "?create_dir=1", want: `unknown parameter "create_dir"`},
		{url: "file://" + dir + "?metadata=yes", want: "metadata"},
		{url: "mem://?x=1", want: "no parameters"},
		{url: "azblob://?localemu=true", want: "no container"},
		{url: "azblob://c?protocol=http&domain=127.0.0.1:1&localemu=true&foo=1", env: blobstatetest.Getenv, want: `unknown parameter "foo"`},
		{url: "azblob://c?protocol=http&domain=127.0.0.1:1&localemu=true", env: env(nil), want: "no storage account"},
		{url: "azblob://c?protocol=http&domain=example.com&localemu=true", env: blobstatetest.Getenv, want: "local emulator domain"},
		{url: "azblob://c?protocol=http&domain=127.0.0.1:1", env: blobstatetest.Getenv, want: "only allowed when IsLocalEmulator"},
		{url: "azblob://c?domain=127.0.0.1:1", env: env(map[string]string{"AZURE_STORAGE_CONNECTION_STRING": "AccountName=a;AccountKey=aGVsbG8="}),
			want: "conflicts with the endpoint of AZURE_STORAGE_CONNECTION_STRING"},
	} {
		_, err := blobstate.OpenBucket(context.Background(), tc.url, blobstate.Options{Getenv: tc.env})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("open %s: %v; want an error with %q", tc.url, err, tc.want)
		}
	}
}

func TestMissingContainerIsNamed(t *testing.T) {
	ep := blobstatetest.Endpoint(t)
	u := blobstatetest.URL(ep, "no-such-container")
	_, err := blobstate.OpenBucket(context.Background(), u, blobstate.Options{Getenv: blobstatetest.Getenv})
	if err == nil || !strings.Contains(err.Error(), `container "no-such-container" does not exist`) {
		t.Fatalf("open a missing container: %v; want an error naming it", err)
	}
	t.Log(err)
	// a wrong key is an error at open, not at the first write
	u = blobstatetest.NewContainer(t)
	_, err = blobstate.OpenBucket(context.Background(), u, blobstate.Options{Getenv: func(k string) string {
		if k == "AZURE_STORAGE_KEY" {
			return "d3Jvbmc="
		}
		return blobstatetest.Getenv(k)
	}})
	if err == nil || !strings.Contains(err.Error(), "403") {
		t.Fatalf("open with a wrong key: %v; want a 403", err)
	}
}

// TestCredentials opens the same Azurite container with each kind of
// credential the README documents (DefaultAzureCredential needs https,
// which Azurite does not serve here) and uses it.
func TestCredentials(t *testing.T) {
	ep := blobstatetest.Endpoint(t)
	u := blobstatetest.NewContainer(t)
	container := strings.TrimPrefix(u[:strings.Index(u, "?")], "azblob://")

	cred, err := azblob.NewSharedKeyCredential(blobstatetest.Account, blobstatetest.Key)
	if err != nil {
		t.Fatal(err)
	}
	qp, err := sas.BlobSignatureValues{
		Protocol:      sas.ProtocolHTTPSandHTTP,
		ExpiryTime:    time.Now().Add(time.Hour),
		Permissions:   (&sas.ContainerPermissions{Read: true, Add: true, Create: true, Write: true, Delete: true, List: true}).String(),
		ContainerName: container,
	}.SignWithSharedKey(cred)
	if err != nil {
		t.Fatal(err)
	}
	conn := "DefaultEndpointsProtocol=http;AccountName=" + blobstatetest.Account + ";AccountKey=" + blobstatetest.Key +
		";BlobEndpoint=" + ep + ";"

	for _, tc := range []struct {
		name string
		url  string
		env  map[string]string
	}{
		{"shared key", u, map[string]string{"AZURE_STORAGE_ACCOUNT": blobstatetest.Account, "AZURE_STORAGE_KEY": blobstatetest.Key}},
		{"account in URL", u, map[string]string{"AZURE_STORAGE_KEY": blobstatetest.Key}},
		{"SAS token", u, map[string]string{"AZURE_STORAGE_ACCOUNT": blobstatetest.Account, "AZURE_STORAGE_SAS_TOKEN": qp.Encode()}},
		{"connection string", "azblob://" + container, map[string]string{"AZURE_STORAGE_CONNECTION_STRING": conn}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			b, err := blobstate.OpenBucket(ctx, tc.url, blobstate.Options{Getenv: func(k string) string { return tc.env[k] }})
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			key := strings.ReplaceAll(tc.name, " ", "-")
			if err := b.WriteOnce(ctx, key, []byte(tc.name)); err != nil {
				t.Fatal(err)
			}
			if err := b.CopyOnce(ctx, key, key+"-copy"); err != nil {
				t.Fatal(err)
			}
			if err := b.WriteOnce(ctx, key, []byte(tc.name)); !errors.Is(err, blobstate.ErrExists) {
				t.Fatalf("second write-once: %v", err)
			}
			if got, err := b.Read(ctx, key+"-copy"); err != nil || string(got) != tc.name {
				t.Fatalf("read: %q, %v", got, err)
			}
		})
	}
}

// TestOpenReturnsTheBlobBucket: the plain opener that executors and the
// coordinator use opens the same buckets.
func TestOpenReturnsTheBlobBucket(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	bb, err := blobstate.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer bb.Close()
	if err := bb.WriteAll(ctx, "out/part-0", []byte("x"), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "out", "part-0.attrs")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a sidecar .attrs file next to the output: %v", err)
	}
	if data, err := os.ReadFile(filepath.Join(dir, "out", "part-0")); err != nil || string(data) != "x" {
		t.Fatalf("output file: %q, %v", data, err)
	}
}

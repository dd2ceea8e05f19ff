package blobstate

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	azblobblob "github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
)

// copyPoll is how often a pending server-side copy is checked.
const copyPoll = 200 * time.Millisecond

func ifNoneMatchAny() *azblobblob.AccessConditions {
	etag := azcore.ETagAny
	return &azblobblob.AccessConditions{ModifiedAccessConditions: &azblobblob.ModifiedAccessConditions{IfNoneMatch: &etag}}
}

// azureWrite uploads data in one Put Blob request, which is atomic;
// with once, under If-None-Match: * (the service refuses it if the blob
// exists).
func (b *Bucket) azureWrite(ctx context.Context, key string, data []byte, once bool) error {
	opts := &blockblob.UploadOptions{}
	if once {
		opts.AccessConditions = ifNoneMatchAny()
	}
	_, err := b.azure.NewBlockBlobClient(key).Upload(ctx, streaming.NopCloser(bytes.NewReader(data)), opts)
	if once && isAzureExists(err) {
		return ErrExists
	}
	return err
}

// azureCopyOnce copies on the server under If-None-Match: * on the
// destination and waits for the copy to finish.
func (b *Bucket) azureCopyOnce(ctx context.Context, src, dst string) error {
	srcURL := b.azure.NewBlobClient(src).URL()
	resp, err := b.azure.NewBlobClient(dst).StartCopyFromURL(ctx, srcURL, &azblobblob.StartCopyFromURLOptions{
		AccessConditions: ifNoneMatchAny(),
	})
	if isAzureExists(err) {
		return ErrExists
	}
	if err != nil {
		return err
	}
	if resp.CopyStatus != nil && *resp.CopyStatus == azblobblob.CopyStatusTypePending {
		return b.azureWaitCopy(ctx, dst)
	}
	if resp.CopyStatus != nil && *resp.CopyStatus != azblobblob.CopyStatusTypeSuccess {
		return fmt.Errorf("copy status %s", *resp.CopyStatus)
	}
	return nil
}

// azureWaitCopy waits until a copy into key (if any) is no longer pending,
// and fails if it did not succeed. A failed copy's destination is deleted
// (if it is still that copy), so that a retry can create it.
func (b *Bucket) azureWaitCopy(ctx context.Context, key string) error {
	c := b.azure.NewBlobClient(key)
	for {
		props, err := c.GetProperties(ctx, nil)
		if err != nil {
			return asNotFound(err)
		}
		if props.CopyStatus == nil {
			return nil // not a copy
		}
		switch *props.CopyStatus {
		case azblobblob.CopyStatusTypeSuccess:
			return nil
		case azblobblob.CopyStatusTypePending:
		default:
			desc := ""
			if props.CopyStatusDescription != nil {
				desc = ": " + *props.CopyStatusDescription
			}
			_, _ = c.Delete(ctx, &azblobblob.DeleteOptions{AccessConditions: &azblobblob.AccessConditions{
				ModifiedAccessConditions: &azblobblob.ModifiedAccessConditions{IfMatch: props.ETag},
			}})
			return fmt.Errorf("copy into %s %s%s", key, *props.CopyStatus, desc)
		}
		t := time.NewTimer(copyPoll)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

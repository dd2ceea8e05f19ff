// Package blobstate owns Sluice's use of the bucket: opening bucket URLs
// (file://, azblob://, mem://) with clear errors and retries of transient
// storage errors, writes that must happen once (WriteOnce, CopyOnce), and the
// checkpoint and savepoint layout with checksummed pieces, verified reads,
// listing of complete checkpoints and retention.
//
// # Buckets
//
// OpenBucket opens a URL as a *Bucket, which keeps the *blob.Bucket that
// operators use (Blob) and adds Sluice's own whole-object operations. Open is
// the plain form for code that needs only a *blob.Bucket (executors, the
// coordinator). Both accept the same URLs:
//
//	file:///abs/dir or a plain path   a local directory (must exist)
//	mem://                            a fresh in-memory bucket (tests)
//	azblob://CONTAINER?PARAMS          Azure Blob Storage or Azurite
//
// azblob URLs take gocloud.dev's parameters (domain, protocol, localemu, cdn,
// storage_account) and credentials from the environment, in this order:
// AZURE_STORAGE_ACCOUNT + AZURE_STORAGE_KEY (shared key),
// AZURE_STORAGE_SAS_TOKEN, AZURE_STORAGE_CONNECTION_STRING (its BlobEndpoint
// wins over the URL's domain), else DefaultAzureCredential (managed identity,
// workload identity, az login; https only). The container must exist: opening
// a missing one fails with an error that names it.
//
// # Write once
//
// WriteOnce creates an object only if it does not exist, and CopyOnce copies
// an object to a new key on the same condition; both return ErrExists when
// the object is already there, so that two writers, or a replayed commit,
// never overwrite each other. azblob uses If-None-Match: *, mem:// its own
// lock, and file:// an exclusive link(2) of a staged file into place (the
// fileblob driver's own create-if-absent is not atomic across processes).
//
// # Retries
//
// Transient errors (timeouts, connection refused or reset, HTTP 408, 429,
// 500, 502, 503, 504) are retried with exponential backoff and jitter until
// Retry.Timeout. Bucket's own methods retry whole operations; the
// *blob.Bucket of an azblob bucket retries each HTTP request in the Azure
// SDK's pipeline within the same budget, so operators' streaming reads and
// writes survive a storage hiccup too. Opening an azblob bucket checks the
// container with a shorter budget (10 s), so that a wrong endpoint fails
// fast. An operation that still fails returns an error naming the object
// and the last cause.
//
// # Checkpoints and savepoints
//
//	checkpoints/<job>/chk-<n>/<piece>     written by subtasks (WritePiece)
//	checkpoints/<job>/chk-<n>/_metadata   written last, once: its presence = complete
//	savepoints/<id>/...                   the same layout, kept until deleted
//
// Usage, for a checkpoint coordinator:
//
//	b, err := blobstate.OpenBucket(ctx, url, blobstate.Options{})
//	cps := blobstate.NewCheckpoints(b, job)
//	d := cps.Dir(n)
//	p, err := d.WritePiece(ctx, "count-0/keyed", data) // in each subtask
//	err = d.WriteMetadata(ctx, &blobstate.Metadata{Job: job, Checkpoint: n, Pieces: pieces})
//	err = cps.Retain(ctx, 3)
//
// and for recovery: Complete lists complete checkpoints, ReadMetadata and
// ReadPiece (which checks size and SHA-256, ErrCorrupt otherwise) restore one.
package blobstate

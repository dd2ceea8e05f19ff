package blobstate

// The gocloud.dev drivers Sluice can open; this is the one place they are
// linked in.
import (
	_ "gocloud.dev/blob/azureblob" // azblob:// (Azure Blob Storage, Azurite)
	_ "gocloud.dev/blob/fileblob"  // file:// (the embedded default)
	_ "gocloud.dev/blob/memblob"   // mem:// (tests)
)

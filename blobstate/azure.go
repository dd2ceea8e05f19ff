package blobstate

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"gocloud.dev/blob/azureblob"
)

// Azure settings read from the environment; the same names as gocloud.dev's
// azureblob driver and the Azure SDKs.
const (
	envAccount          = "AZURE_STORAGE_ACCOUNT"
	envKey              = "AZURE_STORAGE_KEY"
	envSASToken         = "AZURE_STORAGE_SAS_TOKEN"
	envConnectionString = "AZURE_STORAGE_CONNECTION_STRING"
	envConnectionAlt    = "AZURE_STORAGEBLOB_CONNECTIONSTRING"
	envDomain           = "AZURE_STORAGE_DOMAIN"
	envProtocol         = "AZURE_STORAGE_PROTOCOL"
	envIsCDN            = "AZURE_STORAGE_IS_CDN"
	envLocalEmulator    = "AZURE_STORAGE_IS_LOCAL_EMULATOR"
)

// openRetryTimeout bounds the retries of the container check at open.
const openRetryTimeout = 10 * time.Second

// openAzure opens an azblob://CONTAINER?PARAMS URL with gocloud.dev's URL
// parameters and environment variables, but with Sluice's own client: its
// retry budget in the SDK pipeline and a transport that gives up on a
// server that accepts a request and never answers.
func (b *Bucket) openAzure(ctx context.Context, u *url.URL, o Options) error {
	name := u.Host
	if name == "" {
		return errors.New("no container: use azblob://CONTAINER?...")
	}
	cc, err := newContainerClient(name, u.Query(), o, b.retry)
	if err != nil {
		return err
	}
	// a storage service that does not answer at open fails fast; later
	// operations get the whole retry budget
	check := b.retry
	check.Timeout = min(check.Timeout, openRetryTimeout)
	if err := checkContainer(policy.WithRetryOptions(ctx, check.sdkOptions()), cc, name, o.CreateContainer); err != nil {
		return err
	}
	b.azure = cc
	b.bucket, err = azureblob.OpenBucket(ctx, cc, nil)
	return err
}

// newContainerClient builds the container client for the first credential
// found, in gocloud.dev's order: account and key, SAS token, connection
// string, DefaultAzureCredential. The account is the URL's storage_account
// or AZURE_STORAGE_ACCOUNT.
func newContainerClient(name string, q url.Values, o Options, r Retry) (*container.Client, error) {
	opts := &container.ClientOptions{ClientOptions: azcore.ClientOptions{
		Retry:     r.sdkOptions(),
		Transport: newTransport(),
		Telemetry: policy.TelemetryOptions{ApplicationID: "sluice"},
	}}
	account, key, sas := o.getenv(envAccount), o.getenv(envKey), o.getenv(envSASToken)
	if q.Has("storage_account") {
		account = q.Get("storage_account")
	}
	conn := o.getenv(envConnectionString)
	if conn == "" {
		conn = o.getenv(envConnectionAlt)
	}
	if account == "" && conn != "" {
		account = connectionStringField(conn, "AccountName")
	}
	useConn := !(account != "" && key != "") && sas == "" && conn != ""
	if useConn {
		// the connection string names the endpoint; URL parameters that
		// would name another one are an error, not silently ignored
		for _, p := range []string{"domain", "protocol", "localemu", "cdn"} {
			if q.Has(p) {
				return nil, fmt.Errorf("parameter %s conflicts with the endpoint of %s: drop one", p, envConnectionString)
			}
		}
		if err := checkParams(q); err != nil {
			return nil, err
		}
		return container.NewClientFromConnectionString(conn, name, opts)
	}
	svc, err := serviceURL(q, o, account, sas)
	if err != nil {
		return nil, err
	}
	containerURL, err := url.JoinPath(svc, name)
	if err != nil {
		return nil, err
	}
	switch {
	case account != "" && key != "":
		cred, err := azblob.NewSharedKeyCredential(account, key)
		if err != nil {
			return nil, fmt.Errorf("%s/%s: %w", envAccount, envKey, err)
		}
		return container.NewClientWithSharedKeyCredential(containerURL, cred, opts)
	case sas != "":
		return container.NewClientWithNoCredential(containerURL, opts)
	default:
		cred, err := azidentity.NewDefaultAzureCredential(nil)
		if err != nil {
			return nil, fmt.Errorf("no %s+%s, %s or %s, and DefaultAzureCredential: %w",
				envAccount, envKey, envSASToken, envConnectionString, err)
		}
		return container.NewClient(containerURL, cred, opts)
	}
}

// serviceURL builds the account's blob endpoint from the environment and
// the URL parameters (which win), as gocloud.dev's azureblob does.
func serviceURL(q url.Values, o Options, account, sas string) (string, error) {
	if err := checkParams(q); err != nil {
		return "", err
	}
	so := azureblob.ServiceURLOptions{
		AccountName:   account,
		SASToken:      sas,
		StorageDomain: o.getenv(envDomain),
		Protocol:      o.getenv(envProtocol),
	}
	var err error
	if so.IsCDN, err = boolParam(q, "cdn", o.getenv(envIsCDN)); err != nil {
		return "", err
	}
	if so.IsLocalEmulator, err = boolParam(q, "localemu", o.getenv(envLocalEmulator)); err != nil {
		return "", err
	}
	if q.Has("domain") {
		so.StorageDomain = q.Get("domain")
	}
	if q.Has("protocol") {
		so.Protocol = q.Get("protocol")
	}
	if q.Has("storage_account") {
		so.AccountName = q.Get("storage_account")
	}
	if so.AccountName == "" {
		return "", fmt.Errorf("no storage account: set %s or add storage_account= to the URL", envAccount)
	}
	svc, err := azureblob.NewServiceURL(&so)
	return string(svc), err
}

func checkParams(q url.Values) error {
	for k, v := range q {
		switch k {
		case "domain", "protocol", "localemu", "cdn", "storage_account":
		default:
			return fmt.Errorf("unknown parameter %q (azblob:// takes domain, protocol, localemu, cdn, storage_account)", k)
		}
		if len(v) > 1 {
			return fmt.Errorf("parameter %q given %d times", k, len(v))
		}
	}
	return nil
}

func boolParam(q url.Values, name, env string) (bool, error) {
	s := env
	if q.Has(name) {
		s = q.Get(name)
	}
	if s == "" {
		return false, nil
	}
	v, err := strconv.ParseBool(s)
	if err != nil {
		return false, fmt.Errorf("parameter %s=%q: %w", name, s, err)
	}
	return v, nil
}

func connectionStringField(conn, field string) string {
	for _, part := range strings.Split(conn, ";") {
		if k, v, ok := strings.Cut(part, "="); ok && k == field {
			return v
		}
	}
	return ""
}

// checkContainer fails with an error naming the container when it does not
// exist (or creates it), and surfaces bad credentials at open rather than at
// the first write. It lists at most one blob: that needs only the list
// permission every Sluice bucket needs anyway.
func checkContainer(ctx context.Context, cc *container.Client, name string, create bool) error {
	one := int32(1)
	pager := cc.NewListBlobsFlatPager(&container.ListBlobsFlatOptions{MaxResults: &one})
	_, err := pager.NextPage(ctx)
	if err == nil {
		return nil
	}
	if !bloberror.HasCode(err, bloberror.ContainerNotFound) {
		return fmt.Errorf("container %q: %w", name, err)
	}
	if !create {
		return fmt.Errorf("container %q does not exist in %s (create it first, e.g. with terraform/ or az storage container create)",
			name, accountURL(cc.URL()))
	}
	if _, err := cc.Create(ctx, nil); err != nil && !bloberror.HasCode(err, bloberror.ContainerAlreadyExists) {
		return fmt.Errorf("create container %q: %w", name, err)
	}
	return nil
}

// accountURL strips the container and any SAS token from a container URL.
func accountURL(containerURL string) string {
	u, err := url.Parse(containerURL)
	if err != nil {
		return "the storage account"
	}
	u.RawQuery = ""
	u.Path = strings.TrimSuffix(path.Dir(strings.TrimRight(u.Path, "/")), "/")
	return u.String()
}

// newTransport is the HTTP client for one bucket: enough idle connections
// for parallel uploads, and a bound on waiting for response headers (once
// the request is sent) so that a hung server is a retried timeout, not a
// stuck subtask. Streaming response bodies are not bounded.
func newTransport() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 32
	t.ResponseHeaderTimeout = time.Minute
	return &http.Client{Transport: t}
}

// isAzureExists reports a failed create-if-absent condition.
func isAzureExists(err error) bool {
	return bloberror.HasCode(err, bloberror.BlobAlreadyExists, bloberror.ConditionNotMet, bloberror.TargetConditionNotMet)
}

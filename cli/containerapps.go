package cli

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/sluicehq/sluice/coordinator/launch"
)

// containerAppsFlags configure the Container Apps launcher of `sluice
// coordinator --launcher containerapps`.
type containerAppsFlags struct {
	subscription, group, job, image, container, memory, secretEnv *string
	cpu                                                           *float64
}

func addContainerAppsFlags(fs *flag.FlagSet) *containerAppsFlags {
	return &containerAppsFlags{
		subscription: fs.String("aca-subscription", os.Getenv("AZURE_SUBSCRIPTION_ID"), "containerapps launcher: subscription id (env AZURE_SUBSCRIPTION_ID)"),
		group:        fs.String("aca-resource-group", os.Getenv("SLUICE_ACA_RESOURCE_GROUP"), "containerapps launcher: resource group of the job (env SLUICE_ACA_RESOURCE_GROUP)"),
		job:          fs.String("aca-job", os.Getenv("SLUICE_ACA_JOB"), "containerapps launcher: the Container Apps Job whose executions run executors (env SLUICE_ACA_JOB)"),
		image:        fs.String("aca-image", os.Getenv("SLUICE_ACA_IMAGE"), "containerapps launcher: executor image (env SLUICE_ACA_IMAGE)"),
		container:    fs.String("aca-container", envOr("SLUICE_ACA_CONTAINER", "executor"), "containerapps launcher: container name in the job template"),
		memory:       fs.String("aca-memory", envOr("SLUICE_ACA_MEMORY", ""), "containerapps launcher: memory per executor, e.g. 2Gi"),
		secretEnv:    fs.String("aca-secret-env", envOr("SLUICE_ACA_SECRET_ENV", "SLUICE_TOKEN=sluice-token"), "containerapps launcher: VAR=secret,... set from the job's secrets"),
		cpu:          fs.Float64("aca-cpu", 0, "containerapps launcher: vCPUs per executor"),
	}
}

// config builds the launcher's configuration; ARM calls authenticate with
// DefaultAzureCredential (the VM's managed identity in the deployment).
func (f *containerAppsFlags) config() (*launch.ContainerAppsConfig, error) {
	var missing []string
	for name, v := range map[string]string{"--aca-subscription": *f.subscription, "--aca-resource-group": *f.group, "--aca-job": *f.job, "--aca-image": *f.image} {
		if v == "" {
			missing = append(missing, name)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		return nil, usageError{fmt.Errorf("--launcher containerapps needs %s", strings.Join(missing, ", "))}
	}
	cred, err := azidentity.NewDefaultAzureCredential(nil)
	if err != nil {
		return nil, fmt.Errorf("containerapps launcher: Azure credential: %w", err)
	}
	secrets := map[string]string{}
	for _, kv := range strings.Split(*f.secretEnv, ",") {
		if kv = strings.TrimSpace(kv); kv == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" || v == "" {
			return nil, usageError{errors.New("--aca-secret-env: want VAR=secret,...")}
		}
		secrets[k] = v
	}
	return &launch.ContainerAppsConfig{
		SubscriptionID: *f.subscription, ResourceGroup: *f.group, JobName: *f.job, Image: *f.image,
		Container: *f.container, CPU: *f.cpu, Memory: *f.memory, SecretEnv: secrets, Credential: cred,
	}, nil
}

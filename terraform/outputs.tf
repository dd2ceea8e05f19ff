output "trigger_url" {
  description = "Base URL of the HTTP triggers (POST/GET jobs, GET jobs/{id}, POST jobs/{id}/cancel); add ?code=<function key>."
  value       = "https://${azurerm_function_app_flex_consumption.handler.default_hostname}/api/jobs"
}

output "function_app_name" {
  description = "Name of the Function App (for `az functionapp keys list` and deployment)."
  value       = azurerm_function_app_flex_consumption.handler.name
}

output "resource_group" {
  description = "Resource group holding everything."
  value       = azurerm_resource_group.sluice.name
}

output "storage_account" {
  description = "Storage account of the bucket."
  value       = azurerm_storage_account.sluice.name
}

output "bucket_url" {
  description = "The bucket URL the coordinators use (azblob://, managed identity)."
  value       = local.bucket_url
}

output "coordinator_addresses" {
  description = "Private API URLs of the 3 coordinator nodes (reachable inside the VNet)."
  value       = local.coordinator_urls
}

output "executor_job_name" {
  description = "Container Apps Job whose executions run the executors."
  value       = azurerm_container_app_job.executor.name
}

output "key_vault_name" {
  description = "Key Vault holding the coordinator group's token (secret sluice-token)."
  value       = azurerm_key_vault.sluice.name
}

output "token_secret_id" {
  description = "Versionless ID of the token secret in Key Vault."
  value       = azurerm_key_vault_secret.token.versionless_id
}

# The HTTP triggers: `sluice functions` as a custom handler on the Flex
# Consumption plan (Linux Consumption retires in 2028), integrated into the
# VNet so that it reaches the coordinators' private addresses.
resource "azurerm_service_plan" "functions" {
  name                = "asp-${local.base}"
  location            = azurerm_resource_group.sluice.location
  resource_group_name = azurerm_resource_group.sluice.name
  os_type             = "Linux"
  sku_name            = "FC1"
  tags                = local.tags
}

resource "azurerm_function_app_flex_consumption" "handler" {
  name                              = "func-${local.base}"
  location                          = azurerm_resource_group.sluice.location
  resource_group_name               = azurerm_resource_group.sluice.name
  service_plan_id                   = azurerm_service_plan.functions.id
  storage_container_type            = "blobContainer"
  storage_container_endpoint        = "${azurerm_storage_account.sluice.primary_blob_endpoint}${azurerm_storage_container.deployments.name}"
  storage_authentication_type       = "UserAssignedIdentity"
  storage_user_assigned_identity_id = azurerm_user_assigned_identity.sluice.id
  runtime_name                      = "custom"
  runtime_version                   = "1.0"
  maximum_instance_count            = var.function_max_instances
  instance_memory_in_mb             = var.function_instance_memory_mb
  virtual_network_subnet_id         = azurerm_subnet.functions.id
  key_vault_reference_identity_id   = azurerm_user_assigned_identity.sluice.id
  https_only                        = true
  tags                              = local.tags

  identity {
    type         = "UserAssigned"
    identity_ids = [azurerm_user_assigned_identity.sluice.id]
  }

  app_settings = {
    AzureWebJobsStorage__accountName = azurerm_storage_account.sluice.name
    AzureWebJobsStorage__credential  = "managedidentity"
    AzureWebJobsStorage__clientId    = azurerm_user_assigned_identity.sluice.client_id
    SLUICE_COORDINATOR               = join(",", local.coordinator_urls)
    SLUICE_TOKEN                     = "@Microsoft.KeyVault(SecretUri=${azurerm_key_vault_secret.token.versionless_id})"
    SLUICE_SPEC_BUCKET               = local.bucket_url
    AZURE_CLIENT_ID                  = azurerm_user_assigned_identity.sluice.client_id
  }

  site_config {}

  depends_on = [azurerm_role_assignment.blob, azurerm_role_assignment.secrets]
}

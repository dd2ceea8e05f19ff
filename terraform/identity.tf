# One user-assigned identity for the coordinators, the executors and the
# Function App: blob access by role, no account keys; Key Vault by role.
resource "azurerm_user_assigned_identity" "sluice" {
  name                = "id-${local.base}"
  location            = azurerm_resource_group.sluice.location
  resource_group_name = azurerm_resource_group.sluice.name
  tags                = local.tags
}

resource "azurerm_role_assignment" "blob" {
  scope                = azurerm_storage_account.sluice.id
  role_definition_name = "Storage Blob Data Contributor"
  principal_id         = azurerm_user_assigned_identity.sluice.principal_id
}

resource "azurerm_role_assignment" "secrets" {
  scope                = azurerm_key_vault.sluice.id
  role_definition_name = "Key Vault Secrets User"
  principal_id         = azurerm_user_assigned_identity.sluice.principal_id
}

# Lets the identity start executor job executions (the Container Apps launcher).
resource "azurerm_role_assignment" "executor_jobs" {
  scope                = azurerm_container_app_job.executor.id
  role_definition_name = "Contributor"
  principal_id         = azurerm_user_assigned_identity.sluice.principal_id
}

# Lets whoever runs terraform write the token secret.
resource "azurerm_role_assignment" "deployer_secrets" {
  scope                = azurerm_key_vault.sluice.id
  role_definition_name = "Key Vault Secrets Officer"
  principal_id         = data.azurerm_client_config.current.object_id
}

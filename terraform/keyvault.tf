resource "azurerm_key_vault" "sluice" {
  name                       = "kv-${local.base}"
  location                   = azurerm_resource_group.sluice.location
  resource_group_name        = azurerm_resource_group.sluice.name
  tenant_id                  = data.azurerm_client_config.current.tenant_id
  sku_name                   = "standard"
  rbac_authorization_enabled = true
  purge_protection_enabled   = false
  soft_delete_retention_days = 7
  tags                       = local.tags
}

# The coordinator group's auth token: coordinators, executors and the
# Function App read it from here, never from a variable or app setting value.
resource "random_password" "token" {
  length  = 48
  special = false
}

resource "azurerm_key_vault_secret" "token" {
  name         = "sluice-token"
  value        = random_password.token.result
  key_vault_id = azurerm_key_vault.sluice.id
  depends_on   = [azurerm_role_assignment.deployer_secrets]
}

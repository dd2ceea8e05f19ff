resource "azurerm_storage_account" "sluice" {
  name                            = "st${local.base}"
  location                        = azurerm_resource_group.sluice.location
  resource_group_name             = azurerm_resource_group.sluice.name
  account_tier                    = "Standard"
  account_replication_type        = "LRS"
  min_tls_version                 = "TLS1_2"
  shared_access_key_enabled       = false # managed identity only
  public_network_access_enabled   = false # reached through the private endpoint
  allow_nested_items_to_be_public = false
  tags                            = local.tags
}

# The bucket: inputs, outputs, checkpoints, savepoints, the job archive.
resource "azurerm_storage_container" "bucket" {
  name                  = "sluice"
  storage_account_id    = azurerm_storage_account.sluice.id
  container_access_type = "private"
}

# The Function App's deployment package (Flex Consumption).
resource "azurerm_storage_container" "deployments" {
  name                  = "function-deployments"
  storage_account_id    = azurerm_storage_account.sluice.id
  container_access_type = "private"
}

variable "location" {
  type        = string
  description = "Azure region."
}

variable "untyped" {
  description = "A variable without a type."
}

resource "azurerm_storage_account" "sluice" {
  name                     = "stbroken"
  location                 = var.location
  resource_group_name      = azurerm_resource_group.missing.name
  account_tier             = "Standard"
  account_replication_type = "LRS"
}

output "storage_account" {
  description = "Storage account."
  value       = azurerm_storage_account.sluice.name
}

resource "azurerm_virtual_network" "sluice" {
  name                = "vnet-${local.base}"
  location            = azurerm_resource_group.sluice.location
  resource_group_name = azurerm_resource_group.sluice.name
  address_space       = [var.vnet_cidr]
  tags                = local.tags
}

resource "azurerm_subnet" "coordinators" {
  name                 = "coordinators"
  resource_group_name  = azurerm_resource_group.sluice.name
  virtual_network_name = azurerm_virtual_network.sluice.name
  address_prefixes     = [cidrsubnet(var.vnet_cidr, 8, 1)]
}

resource "azurerm_subnet" "endpoints" {
  name                 = "private-endpoints"
  resource_group_name  = azurerm_resource_group.sluice.name
  virtual_network_name = azurerm_virtual_network.sluice.name
  address_prefixes     = [cidrsubnet(var.vnet_cidr, 8, 2)]
}

resource "azurerm_subnet" "functions" {
  name                 = "functions"
  resource_group_name  = azurerm_resource_group.sluice.name
  virtual_network_name = azurerm_virtual_network.sluice.name
  address_prefixes     = [cidrsubnet(var.vnet_cidr, 8, 3)]
  delegation {
    name = "flex-consumption"
    service_delegation {
      name    = "Microsoft.App/environments"
      actions = ["Microsoft.Network/virtualNetworks/subnets/join/action"]
    }
  }
}

resource "azurerm_subnet" "executors" {
  name                 = "executors"
  resource_group_name  = azurerm_resource_group.sluice.name
  virtual_network_name = azurerm_virtual_network.sluice.name
  address_prefixes     = [cidrsubnet(var.vnet_cidr, 7, 4)]
  delegation {
    name = "container-apps"
    service_delegation {
      name    = "Microsoft.App/environments"
      actions = ["Microsoft.Network/virtualNetworks/subnets/join/action"]
    }
  }
}

# Only the VNet reaches the coordinators' API (8081) and Raft (7081) ports.
resource "azurerm_network_security_group" "coordinators" {
  name                = "nsg-coordinators-${local.base}"
  location            = azurerm_resource_group.sluice.location
  resource_group_name = azurerm_resource_group.sluice.name
  tags                = local.tags

  security_rule {
    name                       = "vnet-api-raft"
    priority                   = 100
    direction                  = "Inbound"
    access                     = "Allow"
    protocol                   = "Tcp"
    source_port_range          = "*"
    destination_port_ranges    = ["8081", "7081"]
    source_address_prefix      = "VirtualNetwork"
    destination_address_prefix = "VirtualNetwork"
  }

  security_rule {
    name                       = "deny-internet"
    priority                   = 4000
    direction                  = "Inbound"
    access                     = "Deny"
    protocol                   = "*"
    source_port_range          = "*"
    destination_port_range     = "*"
    source_address_prefix      = "Internet"
    destination_address_prefix = "*"
  }
}

resource "azurerm_subnet_network_security_group_association" "coordinators" {
  subnet_id                 = azurerm_subnet.coordinators.id
  network_security_group_id = azurerm_network_security_group.coordinators.id
}

resource "azurerm_private_dns_zone" "blob" {
  name                = "privatelink.blob.core.windows.net"
  resource_group_name = azurerm_resource_group.sluice.name
  tags                = local.tags
}

resource "azurerm_private_dns_zone_virtual_network_link" "blob" {
  name                  = "blob"
  resource_group_name   = azurerm_resource_group.sluice.name
  private_dns_zone_name = azurerm_private_dns_zone.blob.name
  virtual_network_id    = azurerm_virtual_network.sluice.id
}

resource "azurerm_private_endpoint" "blob" {
  name                = "pe-blob-${local.base}"
  location            = azurerm_resource_group.sluice.location
  resource_group_name = azurerm_resource_group.sluice.name
  subnet_id           = azurerm_subnet.endpoints.id
  tags                = local.tags

  private_service_connection {
    name                           = "blob"
    private_connection_resource_id = azurerm_storage_account.sluice.id
    subresource_names              = ["blob"]
    is_manual_connection           = false
  }

  private_dns_zone_group {
    name                 = "blob"
    private_dns_zone_ids = [azurerm_private_dns_zone.blob.id]
  }
}

resource "random_string" "suffix" {
  length  = 6
  lower   = true
  upper   = false
  numeric = true
  special = false
}

data "azurerm_client_config" "current" {}

locals {
  base         = "${var.name}${random_string.suffix.result}"
  tags         = merge({ app = "sluice" }, var.tags)
  coordinators = ["node-1", "node-2", "node-3"]
  coordinator_ips = [
    for i in range(length(local.coordinators)) : cidrhost(azurerm_subnet.coordinators.address_prefixes[0], 10 + i)
  ]
  coordinator_urls = [for ip in local.coordinator_ips : "http://${ip}:8081"]
  raft_peers = join(",", [
    for i, id in local.coordinators : "${id}=${local.coordinator_ips[i]}:7081"
  ])
  bucket_url = "azblob://${azurerm_storage_container.bucket.name}?storage_account=${azurerm_storage_account.sluice.name}"
}

resource "azurerm_resource_group" "sluice" {
  name     = "rg-${local.base}"
  location = var.location
  tags     = local.tags
}

# The coordinator group: 3 Raft voters, each a VM with a premium managed data
# disk for its Raft log and snapshots, at a fixed private address.
resource "azurerm_network_interface" "coordinator" {
  count               = length(local.coordinators)
  name                = "nic-${local.coordinators[count.index]}-${local.base}"
  location            = azurerm_resource_group.sluice.location
  resource_group_name = azurerm_resource_group.sluice.name
  tags                = local.tags

  ip_configuration {
    name                          = "internal"
    subnet_id                     = azurerm_subnet.coordinators.id
    private_ip_address_allocation = "Static"
    private_ip_address            = local.coordinator_ips[count.index]
  }
}

resource "azurerm_linux_virtual_machine" "coordinator" {
  count                 = length(local.coordinators)
  name                  = "vm-${local.coordinators[count.index]}-${local.base}"
  location              = azurerm_resource_group.sluice.location
  resource_group_name   = azurerm_resource_group.sluice.name
  size                  = var.coordinator_vm_size
  zone                  = tostring(count.index + 1)
  admin_username        = var.admin_username
  network_interface_ids = [azurerm_network_interface.coordinator[count.index].id]
  tags                  = local.tags

  admin_ssh_key {
    username   = var.admin_username
    public_key = var.admin_ssh_public_key
  }

  identity {
    type         = "UserAssigned"
    identity_ids = [azurerm_user_assigned_identity.sluice.id]
  }

  os_disk {
    caching              = "ReadWrite"
    storage_account_type = "StandardSSD_LRS"
  }

  source_image_reference {
    publisher = "Canonical"
    offer     = "ubuntu-24_04-lts"
    sku       = "server"
    version   = "latest"
  }

  # Boot: mount the data disk, fetch the binary and the token (managed
  # identity, Key Vault), run `sluice coordinator` under systemd.
  custom_data = base64encode(<<-EOT
    #!/bin/bash
    set -euo pipefail
    apt-get update && apt-get install -y jq
    DISK=/dev/disk/azure/scsi1/lun0
    while [ ! -e "$DISK" ]; do sleep 2; done
    blkid "$DISK" || mkfs.ext4 -L sluice "$DISK"
    mkdir -p /var/lib/sluice
    grep -q /var/lib/sluice /etc/fstab || echo "LABEL=sluice /var/lib/sluice ext4 defaults,nofail 0 2" >> /etc/fstab
    mount -a
    curl -fsSL -o /usr/local/bin/sluice "${var.sluice_binary_url}"
    chmod 755 /usr/local/bin/sluice
    IMDS="http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fvault.azure.net&client_id=${azurerm_user_assigned_identity.sluice.client_id}"
    AT=$(curl -fsS -H Metadata:true "$IMDS" | jq -r .access_token)
    curl -fsS -H "Authorization: Bearer $AT" "${azurerm_key_vault_secret.token.versionless_id}?api-version=7.4" | jq -r .value > /var/lib/sluice/token
    chmod 600 /var/lib/sluice/token
    cat > /etc/systemd/system/sluice-coordinator.service <<UNIT
    [Unit]
    Description=sluice coordinator ${local.coordinators[count.index]}
    After=network-online.target
    [Service]
    Environment=AZURE_CLIENT_ID=${azurerm_user_assigned_identity.sluice.client_id}
    ExecStart=/usr/local/bin/sluice coordinator --id ${local.coordinators[count.index]} --data-dir /var/lib/sluice --addr 0.0.0.0:8081 --url ${local.coordinator_urls[count.index]} --raft 0.0.0.0:7081 --raft-advertise ${local.coordinator_ips[count.index]}:7081 --peers ${local.raft_peers} --bucket '${local.bucket_url}' --token-file /var/lib/sluice/token --launcher containerapps --aca-subscription ${var.subscription_id} --aca-resource-group ${azurerm_resource_group.sluice.name} --aca-job ${azurerm_container_app_job.executor.name} --aca-image ${var.executor_image} --aca-cpu ${var.executor_cpu} --aca-memory ${var.executor_memory}
    Restart=always
    [Install]
    WantedBy=multi-user.target
    UNIT
    systemctl daemon-reload
    systemctl enable --now sluice-coordinator
    EOT
  )
}

resource "azurerm_managed_disk" "raft" {
  count                = length(local.coordinators)
  name                 = "disk-raft-${local.coordinators[count.index]}-${local.base}"
  location             = azurerm_resource_group.sluice.location
  resource_group_name  = azurerm_resource_group.sluice.name
  zone                 = tostring(count.index + 1)
  storage_account_type = "Premium_LRS"
  create_option        = "Empty"
  disk_size_gb         = var.coordinator_disk_gb
  tags                 = local.tags
}

resource "azurerm_virtual_machine_data_disk_attachment" "raft" {
  count              = length(local.coordinators)
  managed_disk_id    = azurerm_managed_disk.raft[count.index].id
  virtual_machine_id = azurerm_linux_virtual_machine.coordinator[count.index].id
  lun                = 0
  caching            = "None"
}

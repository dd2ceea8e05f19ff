# Executor capacity: a Container Apps Job with a manual trigger. Each
# execution is one ephemeral executor process (one slot); the coordinator
# starts executions through the ARM API and nothing runs, or costs, between
# jobs. The environment sits in the VNet with an internal load balancer only.
resource "azurerm_container_app_environment" "sluice" {
  name                           = "cae-${local.base}"
  location                       = azurerm_resource_group.sluice.location
  resource_group_name            = azurerm_resource_group.sluice.name
  infrastructure_subnet_id       = azurerm_subnet.executors.id
  internal_load_balancer_enabled = true
  tags                           = local.tags

  workload_profile {
    name                  = "Consumption"
    workload_profile_type = "Consumption"
  }
}

resource "azurerm_container_app_job" "executor" {
  name                         = "caj-executor-${local.base}"
  location                     = azurerm_resource_group.sluice.location
  resource_group_name          = azurerm_resource_group.sluice.name
  container_app_environment_id = azurerm_container_app_environment.sluice.id
  workload_profile_name        = "Consumption"
  replica_timeout_in_seconds   = var.executor_timeout_seconds
  replica_retry_limit          = 0 # the coordinator restarts failed executors itself
  tags                         = local.tags

  manual_trigger_config {
    parallelism              = 1
    replica_completion_count = 1
  }

  identity {
    type         = "UserAssigned"
    identity_ids = [azurerm_user_assigned_identity.sluice.id]
  }

  secret {
    name                = "sluice-token"
    key_vault_secret_id = azurerm_key_vault_secret.token.versionless_id
    identity            = azurerm_user_assigned_identity.sluice.id
  }

  template {
    container {
      name    = "executor"
      image   = var.executor_image
      cpu     = var.executor_cpu
      memory  = var.executor_memory
      command = ["sluice", "executor"]

      env {
        name        = "SLUICE_TOKEN"
        secret_name = "sluice-token"
      }
      env {
        name  = "SLUICE_COORDINATOR"
        value = join(",", local.coordinator_urls)
      }
      env {
        name  = "AZURE_CLIENT_ID"
        value = azurerm_user_assigned_identity.sluice.client_id
      }
    }
  }

  depends_on = [azurerm_role_assignment.secrets]
}

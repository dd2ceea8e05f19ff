variable "subscription_id" {
  type        = string
  description = "Azure subscription to deploy into."
}

variable "location" {
  type        = string
  description = "Azure region of every resource."
  default     = "westeurope"
}

variable "name" {
  type        = string
  description = "Name prefix of the resources (lowercase letters and digits, at most 10 characters)."
  default     = "sluice"
  validation {
    condition     = can(regex("^[a-z][a-z0-9]{1,9}$", var.name))
    error_message = "The name must be 2-10 lowercase letters or digits, starting with a letter."
  }
}

variable "sluice_binary_url" {
  type        = string
  description = "HTTPS URL of the linux/amd64 sluice binary the coordinator VMs download at boot (e.g. a release asset)."
}

variable "executor_image" {
  type        = string
  description = "Container image with the sluice binary (entrypoint `sluice executor`) that the executor Container Apps Job runs."
}

variable "vnet_cidr" {
  type        = string
  description = "Address space of the virtual network; the subnets are carved out of it."
  default     = "10.40.0.0/16"
}

variable "coordinator_vm_size" {
  type        = string
  description = "VM size of each of the 3 coordinator nodes."
  default     = "Standard_B2s"
}

variable "coordinator_disk_gb" {
  type        = number
  description = "Size in GiB of each coordinator's managed data disk (Raft log and snapshots)."
  default     = 32
}

variable "admin_username" {
  type        = string
  description = "Admin user of the coordinator VMs."
  default     = "sluice"
}

variable "admin_ssh_public_key" {
  type        = string
  description = "SSH public key of the admin user (the VMs have no public IP: reach them through Bastion or a peered network)."
}

variable "executor_cpu" {
  type        = number
  description = "vCPUs of one executor replica (one slot)."
  default     = 1
}

variable "executor_memory" {
  type        = string
  description = "Memory of one executor replica; must match executor_cpu per the Container Apps ratios (e.g. 1 vCPU = 2Gi)."
  default     = "2Gi"
}

variable "executor_timeout_seconds" {
  type        = number
  description = "Longest an executor replica may run before Container Apps stops it."
  default     = 86400
}

variable "function_max_instances" {
  type        = number
  description = "Most instances the Flex Consumption Function App scales out to."
  default     = 40
}

variable "function_instance_memory_mb" {
  type        = number
  description = "Memory of one Function App instance (Flex Consumption: 512, 2048 or 4096)."
  default     = 2048
}

variable "tags" {
  type        = map(string)
  description = "Tags applied to every resource."
  default     = {}
}

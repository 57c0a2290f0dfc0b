terraform {
  # terraform_data (1.4+) with local-exec is all this module uses: no provider
  # to download, so it works on machines without registry access.
  required_version = ">= 1.5.0"

  # The driver passes the state path per env at init:
  #   terraform init -backend-config=path=<env_dir>/tf/terraform.tfstate
  backend "local" {}
}

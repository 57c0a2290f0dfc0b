//! What differs per target. `local` is podman on this machine (images,
//! subnets, sweeps, engine checks); the AWS target needs no driver code of
//! its own beyond Terraform (terraform/aws) and the bake path in `bake`.

pub mod aws;
pub mod baked;
pub mod local;

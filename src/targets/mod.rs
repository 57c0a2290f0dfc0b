//! What differs per target. `local` is podman on this machine (images,
//! subnets, sweeps, engine checks); `aws` is what the driver does with the
//! AWS CLI outside Terraform (the tag sweep of `reap --target aws`, the
//! destroy from shared state, region and names); `baked` finds baked images.

pub mod aws;
pub mod baked;
pub mod host_cache;
pub mod local;

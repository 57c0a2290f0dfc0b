//! Terraform: typed input variables, the init/apply/destroy runner with its
//! JSON event stream, and reading the outputs.

pub mod events;
mod for_env;
pub mod run;
pub mod transient;
pub mod vars;

pub use for_env::{aws_region, env_vars, for_env, state_key};
pub use run::Terraform;

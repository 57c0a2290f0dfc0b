//! Terraform: typed input variables, the init/apply/destroy runner with its
//! JSON event stream, and reading the outputs.

pub mod events;
pub mod run;
pub mod transient;
pub mod vars;

pub use run::Terraform;

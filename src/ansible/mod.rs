//! Ansible: render inventory and variables from the contract, run the
//! playbook with structured events.

pub mod events;
pub mod render;
pub mod run;

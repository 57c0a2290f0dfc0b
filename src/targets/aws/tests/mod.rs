//! Tests of the aws target: `unit` runs everywhere; the rest need moto's
//! server (scripts/setup-aws.sh --emulator) and, for `state`, Terraform,
//! and are `#[ignore]`d unless asked for (`-- --include-ignored`, make test).

mod emulator;
mod existing;
mod images;
mod state;
mod sweep;
mod unit;

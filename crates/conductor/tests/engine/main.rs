//! The conductor engine against a real store on a temporary SQLite file.

mod allocations;
mod calls;
mod common;
mod lifecycle;
mod ownership;
mod power_sync;
mod props;
mod recovery;
mod steps;
mod templates;

//! Allocations through the real router, store and conductor: the API's
//! answers and messages (`api`), and the conductor's scheduling, alone and
//! under concurrency (`scheduling`).
//!
//! Each test returns early while the microversion it needs is above the
//! advertised maximum (`ferrite_model::MAX_VERSION`): the allocation API is
//! 1.52, PATCH 1.57, backfill 1.58, owner 1.60. With the maximum at 1.60 or
//! more every test runs.

#[path = "../common/mod.rs"]
mod common;

mod api;
mod scheduling;
mod site;

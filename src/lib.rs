//! burnrate: SLOs and error budgets from exact event counts.

pub mod catalog;
pub mod cli;
pub mod duration;
pub mod engine;
pub mod ingest;
pub mod prom;
pub mod store;
pub mod serve;
pub mod api;
pub mod telemetry;

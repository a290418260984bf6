//! burnrate: SLOs and error budgets from exact event counts.

pub mod catalog;
pub mod cli;
pub mod duration;
pub mod engine;

//! burnrate: SLOs and error budgets from exact event counts.

pub mod alerting;
pub mod api;
pub mod catalog;
pub mod cli;
pub mod duration;
pub mod engine;
pub mod evaluation;
pub mod gate;
pub mod health;
pub mod ingest;
pub mod labels;
pub mod ownership;
pub mod prom;
pub mod reload;
pub mod report;
pub mod rules;
pub mod secret;
pub mod serve;
pub mod store;
pub mod telemetry;
pub mod time;
pub mod ui;

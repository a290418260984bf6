//! The HTTP API over HTTP, against a running `burnrate serve` with a real
//! Prometheus (seeded by remote write) and a real PostgreSQL: every
//! endpoint and its error cases, `/metrics` through `promtool check metrics`,
//! the OpenAPI document validated and a property-based run against it, and
//! the `burnrate gate` command's exit codes.

mod app;
mod client;
mod conditional;
mod contract;
mod corrections;
mod endpoints;
mod gate;
mod gate_restart;
mod openapi;
mod reports;
mod serving;

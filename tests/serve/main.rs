//! `burnrate serve` against real servers: exact ingestion, alert state and
//! delivery, the store, the whole application, and the test harness itself.

mod absent;
mod alerting;
mod app;
mod backfill;
mod corrections;
mod dialect;
mod error_ratio;
mod fanin;
mod harness;
mod ingestion;
mod prune;
mod remote_read;
mod retire;
mod store;
mod timeslices;

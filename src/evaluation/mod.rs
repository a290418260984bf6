//! Evaluation: what an SLO instance's numbers and alerts are at a minute,
//! from its window sums and its previous alert phases. The status types the
//! gate, the alert listing and the API read are declared here, below the
//! scheduler that produces them.

pub mod alerts;
pub mod instance;
pub mod plan;
pub mod status;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

pub use alerts::{AlertFigures, AlertKey, AlertRef, Observation};
pub use instance::{Evaluation, REPORTED_WINDOWS, WindowPlan, WindowSums, evaluate};
pub use status::{
    AbsentStatus, AlertState, CorrectionStatus, DataState, ErrorBudget, ExhaustionStatus,
    InstanceStatus, TierStatus,
};

/// The latest evaluation of every instance, swapped whole after each cycle.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub instances: BTreeMap<String, InstanceStatus>,
    pub published_at: Option<DateTime<Utc>>,
    pub cycle_duration: std::time::Duration,
}

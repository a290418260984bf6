//! The budget engine: pure functions from event counts to SLIs, error budgets
//! and alert states. No I/O and no clock: callers pass counts and `now`.

pub mod alerts;
pub mod budget;
pub mod slices;
pub mod states;

pub use alerts::{
    AlertPhase, Suppression, TierEvaluation, Transition, evaluate_exhaustion, evaluate_tier, step,
};
pub use budget::{
    BudgetStatus, EventCounts, ExhaustionEta, WindowStatus, budget_status, data_state,
    exhaustion_eta, window_status,
};
pub use slices::slice_counts;
pub use states::{AlertState, DataState};

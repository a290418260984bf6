//! Which alert of an SLO, and what its evaluation observed: the vocabulary
//! shared by the evaluator, the transition store and alert delivery.

use crate::catalog::{AlertTier, ExhaustionAlert, Severity};
use crate::engine::{AlertPhase, Transition};

/// An alert of an SLO instance, as its state is keyed in memory and in PostgreSQL.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AlertKey {
    Tier(String),
    BudgetExhausted,
}

const EXHAUSTED_KEY: &str = "@budget_exhausted";

impl AlertKey {
    pub fn as_db(&self) -> &str {
        match self {
            AlertKey::Tier(name) => name,
            AlertKey::BudgetExhausted => EXHAUSTED_KEY,
        }
    }

    pub fn from_db(text: &str) -> Self {
        if text == EXHAUSTED_KEY {
            AlertKey::BudgetExhausted
        } else {
            AlertKey::Tier(text.to_string())
        }
    }

    pub fn display_name(&self) -> &str {
        match self {
            AlertKey::Tier(name) => name,
            AlertKey::BudgetExhausted => "budget_exhausted",
        }
    }
}

/// Which of an SLO's alerts, with its definition.
#[derive(Debug, Clone, Copy)]
pub enum AlertRef<'a> {
    Tier(&'a AlertTier),
    BudgetExhausted(&'a ExhaustionAlert),
}

impl AlertRef<'_> {
    pub fn key(&self) -> AlertKey {
        match self {
            AlertRef::Tier(t) => AlertKey::Tier(t.name.clone()),
            AlertRef::BudgetExhausted(_) => AlertKey::BudgetExhausted,
        }
    }

    pub fn severity(&self) -> Severity {
        match self {
            AlertRef::Tier(t) => t.severity,
            AlertRef::BudgetExhausted(e) => e.severity,
        }
    }
}

/// The numbers an alert's description reports.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct AlertFigures {
    pub long_burn_rate: Option<f64>,
    pub short_burn_rate: Option<f64>,
    pub budget_remaining: Option<f64>,
}

/// One alert's outcome in one evaluation: its new phase, the transition that
/// led there (if any), and the figures behind it.
#[derive(Debug, Clone)]
pub struct Observation<'a> {
    pub alert: AlertRef<'a>,
    pub phase: AlertPhase,
    pub transition: Option<Transition>,
    pub figures: AlertFigures,
    pub threshold: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_through_the_database_spelling() {
        for key in [AlertKey::Tier("page-1h".into()), AlertKey::BudgetExhausted] {
            assert_eq!(AlertKey::from_db(key.as_db()), key);
        }
        assert_eq!(AlertKey::BudgetExhausted.display_name(), "budget_exhausted");
    }
}

//! Which alert of an SLO, and what its evaluation observed: the vocabulary
//! shared by the evaluator, the transition store and alert delivery.

use crate::catalog::{AbsentAlert, AlertTier, ExhaustionAlert, Severity};
use crate::engine::{AlertPhase, Transition};

/// An alert of an SLO instance, as its state is keyed in memory and in PostgreSQL.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AlertKey {
    Tier(String),
    BudgetExhausted,
    Absent,
}

const EXHAUSTED_KEY: &str = "@budget_exhausted";
const ABSENT_KEY: &str = "@absent";

impl AlertKey {
    pub fn as_db(&self) -> &str {
        match self {
            AlertKey::Tier(name) => name,
            AlertKey::BudgetExhausted => EXHAUSTED_KEY,
            AlertKey::Absent => ABSENT_KEY,
        }
    }

    pub fn from_db(text: &str) -> Self {
        match text {
            EXHAUSTED_KEY => AlertKey::BudgetExhausted,
            ABSENT_KEY => AlertKey::Absent,
            _ => AlertKey::Tier(text.to_string()),
        }
    }

    /// The key of an alert as people name it: a tier name, `budget_exhausted` or `absent`.
    pub fn from_display(text: &str) -> Self {
        match text {
            "budget_exhausted" => AlertKey::BudgetExhausted,
            "absent" => AlertKey::Absent,
            _ => AlertKey::Tier(text.to_string()),
        }
    }

    pub fn display_name(&self) -> &str {
        match self {
            AlertKey::Tier(name) => name,
            AlertKey::BudgetExhausted => "budget_exhausted",
            AlertKey::Absent => "absent",
        }
    }
}

/// Which of an SLO's alerts, with its definition.
#[derive(Debug, Clone, Copy)]
pub enum AlertRef<'a> {
    Tier(&'a AlertTier),
    BudgetExhausted(&'a ExhaustionAlert),
    Absent(&'a AbsentAlert),
}

impl AlertRef<'_> {
    pub fn key(&self) -> AlertKey {
        match self {
            AlertRef::Tier(t) => AlertKey::Tier(t.name.clone()),
            AlertRef::BudgetExhausted(_) => AlertKey::BudgetExhausted,
            AlertRef::Absent(_) => AlertKey::Absent,
        }
    }

    pub fn severity(&self) -> Severity {
        match self {
            AlertRef::Tier(t) => t.severity,
            AlertRef::BudgetExhausted(e) => e.severity,
            AlertRef::Absent(a) => a.severity,
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
    /// The tier's burn-rate factor or the exhaustion alert's budget
    /// threshold; the absent alert has none.
    pub threshold: Option<f64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_through_the_database_spelling() {
        for key in [
            AlertKey::Tier("page-1h".into()),
            AlertKey::BudgetExhausted,
            AlertKey::Absent,
        ] {
            assert_eq!(AlertKey::from_db(key.as_db()), key);
            assert_eq!(AlertKey::from_display(key.display_name()), key);
        }
        assert_eq!(AlertKey::BudgetExhausted.display_name(), "budget_exhausted");
        assert_eq!(AlertKey::Absent.as_db(), "@absent");
    }
}

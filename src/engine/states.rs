//! The two state vocabularies every layer speaks: the state of an instance's
//! data and the state of an alert. Declared once, with their wire spelling
//! beside them, so the evaluator, the store, the gate, the API and `/metrics`
//! cannot drift apart.

use std::fmt;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The state of an instance's data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DataState {
    /// Not evaluated yet.
    Pending,
    /// History is loading outside the evaluation cycle; evaluated once it is complete.
    Backfilling,
    Ok,
    /// No events at all: a state of its own, never 100% and never NaN.
    NoData,
    /// Fewer events than one budget event (`budget * total < 1`): a single
    /// failure is a large share of the budget, so ratios mean little.
    LowTraffic,
    /// The last cycle failed; the numbers are from the last good one.
    Stale,
    /// No samples for longer than `--absent-after`: the exporter, the
    /// scrape or the selector may be broken. The numbers are those of the
    /// data that came.
    Absent,
}

impl DataState {
    pub const ALL: [DataState; 7] = [
        DataState::Pending,
        DataState::Backfilling,
        DataState::Ok,
        DataState::NoData,
        DataState::LowTraffic,
        DataState::Stale,
        DataState::Absent,
    ];

    /// The spelling in JSON, PostgreSQL and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            DataState::Pending => "pending",
            DataState::Backfilling => "backfilling",
            DataState::Ok => "ok",
            DataState::NoData => "no_data",
            DataState::LowTraffic => "low_traffic",
            DataState::Stale => "stale",
            DataState::Absent => "absent",
        }
    }

    pub fn parse(text: &str) -> Option<DataState> {
        DataState::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

impl fmt::Display for DataState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The state of an alert; for an instance, the worst of its alerts
/// (ordered inactive < pending < firing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AlertState {
    Inactive,
    Pending,
    Firing,
}

impl AlertState {
    pub const ALL: [AlertState; 3] = [
        AlertState::Inactive,
        AlertState::Pending,
        AlertState::Firing,
    ];

    /// The spelling in JSON, PostgreSQL and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Inactive => "inactive",
            AlertState::Pending => "pending",
            AlertState::Firing => "firing",
        }
    }

    pub fn parse(text: &str) -> Option<AlertState> {
        AlertState::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

impl fmt::Display for AlertState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_round_trip_and_match_serde() {
        for s in DataState::ALL {
            assert_eq!(DataState::parse(s.as_str()), Some(s));
            assert_eq!(
                serde_json::to_value(s).unwrap_or_default(),
                serde_json::json!(s.as_str())
            );
        }
        for s in AlertState::ALL {
            assert_eq!(AlertState::parse(s.as_str()), Some(s));
            assert_eq!(
                serde_json::to_value(s).unwrap_or_default(),
                serde_json::json!(s.as_str())
            );
        }
        assert_eq!(DataState::parse("fine"), None);
        assert!(
            AlertState::Firing > AlertState::Pending && AlertState::Pending > AlertState::Inactive
        );
    }
}

//! Shared settings (directory `Defaults`, a file's `defaults:`) layered under
//! each SLO, and the final checks that need the whole picture.

use std::collections::BTreeMap;

use super::alerting::{AlertingSpec, GateSpec};
use super::correction::{self, Correction, MAX_OCCURRENCES};
use super::decode::Ctx;
use super::diagnostic::Pos;
use super::model::{AlertPolicy, Budgeting, Indicator, Slo, SloId, Source};
use super::objective::Objective;
use super::window::SloWindow;
use crate::duration::Duration;

/// Window used when no layer sets one (Sloth's and Pyrra's usual choice).
pub const DEFAULT_WINDOW: Duration = Duration::from_days(30);

/// Labels burnrate sets itself on alerts and metrics; an SLO may not redefine them.
pub const RESERVED_LABELS: [&str; 7] = [
    "alertname",
    "service",
    "slo",
    "severity",
    "long_window",
    "short_window",
    "le",
];

/// One layer of shared settings.
#[derive(Debug, Clone, Default)]
pub struct Layer {
    pub labels: BTreeMap<String, String>,
    pub window: Option<(SloWindow, Pos)>,
    pub alerting: AlertingSpec,
    pub gate: GateSpec,
    /// The innermost layer that sets it wins, as for the window.
    pub budgeting: Option<(Budgeting, Pos)>,
    /// Corrections add up across layers: a `Defaults` maintenance window
    /// applies beside an SLO's own.
    pub corrections: Vec<(Correction, Pos)>,
}

impl Layer {
    pub fn merge(&mut self, over: &Layer) {
        self.labels.extend(over.labels.clone());
        if over.window.is_some() {
            self.window = over.window;
        }
        self.alerting.merge(&over.alerting);
        self.gate.merge(&over.gate);
        if over.budgeting.is_some() {
            self.budgeting = over.budgeting;
        }
        self.corrections.extend(over.corrections.iter().cloned());
    }
}

/// An SLO as decoded from one document, before shared layers are applied.
#[derive(Debug, Clone)]
pub struct SloDraft {
    pub pos: Pos,
    pub service: String,
    pub name: String,
    pub description: Option<String>,
    /// `None` when the field had an error (already reported): the draft is
    /// still checked as a whole, so one run reports every problem.
    pub objective: Option<Objective>,
    pub indicator: Option<Indicator>,
    pub group_by: Vec<String>,
    /// The SLO's own settings: the innermost layer.
    pub own: Layer,
}

/// Applies `layers` (outermost first) and the SLO's own settings, and checks
/// what only the combination can tell. `None` when an error was recorded.
pub fn finish(ctx: Ctx, draft: SloDraft, layers: &[&Layer]) -> Option<Slo> {
    let errors_before = ctx.error_count();
    let mut combined = Layer::default();
    for layer in layers {
        combined.merge(layer);
    }
    combined.merge(&draft.own);

    let (window, window_pos) = combined
        .window
        .unwrap_or((SloWindow::Rolling(DEFAULT_WINDOW), draft.pos));
    let (alerting, problems) = combined.alerting.resolve(window.nominal_length());
    for (pos, field, message) in problems {
        let pos = if pos == Pos::default() {
            draft.pos
        } else {
            pos
        };
        ctx.error(pos, &field, message);
    }
    if let Some(longest) = alerting.longest_window()
        && longest > window.nominal_length()
    {
        ctx.error(window_pos, "window", format!("the SLO window ({window}) is shorter than its longest alert window ({longest}); lengthen the window or disable that tier"));
    }
    for name in RESERVED_LABELS {
        if combined.labels.contains_key(name) {
            ctx.error(
                draft.pos,
                "labels",
                format!("label `{name}` is reserved: burnrate sets it on every alert and metric"),
            );
        }
    }
    for name in &draft.group_by {
        if RESERVED_LABELS.contains(&name.as_str()) && name != "service" {
            ctx.error(
                draft.pos,
                "group_by",
                format!("cannot group by `{name}`: burnrate sets that label itself"),
            );
        }
    }
    let (budgeting, budgeting_pos) = combined
        .budgeting
        .unwrap_or((Budgeting::Occurrences, draft.pos));
    if let Some(slices) = budgeting.timeslices() {
        for (what, length) in whole_slice_spans(&window, &alerting) {
            if length.as_millis() % slices.slice.as_millis() != 0 {
                ctx.error(
                    budgeting_pos,
                    "budgeting.slice",
                    format!(
                        "{what} ({length}) is not a whole number of {} slices: choose a slice that divides it",
                        slices.slice
                    ),
                );
            }
        }
    }
    for (c, pos) in &combined.corrections {
        if c.repeat.is_some()
            && correction::occurrences_in_window(c, window.max_length()) >= MAX_OCCURRENCES
        {
            ctx.error(
                *pos,
                "corrections",
                format!(
                    "the correction starting {} repeats {MAX_OCCURRENCES} times or more within the SLO window ({window}): a correction is for planned work, not a standing filter",
                    correction::utc_text(c.start)
                ),
            );
        }
    }
    if ctx.error_count() > errors_before {
        return None;
    }
    let (Some(objective), Some(indicator)) = (draft.objective, draft.indicator) else {
        return None;
    };
    Some(Slo {
        id: SloId::new(&draft.service, &draft.name),
        service: draft.service,
        name: draft.name,
        description: draft.description,
        labels: combined.labels,
        objective,
        window,
        indicator,
        group_by: draft.group_by,
        alerting,
        gate: combined.gate.resolve(),
        budgeting,
        corrections: combined.corrections.into_iter().map(|(c, _)| c).collect(),
        source: Source {
            file: ctx.file.to_path_buf(),
            line: draft.pos.line,
        },
    })
}

/// The spans that must hold whole slices under timeslice budgeting: every
/// alert window and a rolling SLO window (calendar periods start at
/// midnight, on the grid of every slice that divides an hour).
fn whole_slice_spans(window: &SloWindow, alerting: &AlertPolicy) -> Vec<(String, Duration)> {
    let mut spans = Vec::new();
    if let SloWindow::Rolling(length) = window {
        spans.push(("the SLO window".to_string(), *length));
    }
    for tier in &alerting.tiers {
        spans.push((
            format!("alert `{}`'s long window", tier.name),
            tier.long_window,
        ));
        spans.push((
            format!("alert `{}`'s short window", tier.name),
            tier.short_window,
        ));
    }
    spans
}

/// A service or SLO name: letters, digits, `_`, `-` and `.`, starting with a letter or digit.
pub fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        && name.len() <= 128
}

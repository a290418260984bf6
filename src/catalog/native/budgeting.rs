//! `budgeting:` in the native format: events (the default) or time slices,
//! at SLO, file (`defaults:`) or `Defaults` level.

use super::super::decode::{self, Ctx, Fields};
use super::super::diagnostic::Pos;
use super::super::model::{Budgeting, SLICE_MINUTES, Timeslices};
use super::super::yaml::Node;
use crate::duration::Duration;

const BUDGETING_FIELDS: [&str; 3] = ["method", "slice", "slice_target"];
const METHODS: &str = "`occurrences` (events, the default) or `timeslices`";

/// `{method: occurrences}` or `{method: timeslices, slice: 1m, slice_target: 99}`.
pub fn budgeting(ctx: Ctx, node: &Node, path: &str) -> Option<(Budgeting, Pos)> {
    let mut f = Fields::new(ctx, node, path, &BUDGETING_FIELDS)?;
    let method = f.require("method", METHODS).and_then(|n| {
        let text = decode::string(ctx, n, &f.field("method"))?;
        match text.as_str() {
            "occurrences" | "timeslices" => Some(text),
            _ => {
                ctx.expected(n, &f.field("method"), METHODS);
                None
            }
        }
    });
    let budgeting = match method.as_deref() {
        Some("timeslices") => {
            let slice = f
                .require(
                    "slice",
                    "the slice length, a divisor of an hour such as `1m`",
                )
                .and_then(|n| slice(ctx, n, &f.field("slice")));
            let target = f
                .require(
                    "slice_target",
                    "the percentage of good events a slice needs to be good, e.g. `99`",
                )
                .and_then(|n| {
                    let field = f.field("slice_target");
                    let percent = decode::number(ctx, n, &field, "a percentage such as `99`")?;
                    slice_target(ctx, n, &field, percent / 100.0, &format!("{percent}"))
                });
            Some(Budgeting::Timeslices(Timeslices {
                slice: slice?,
                slice_target: target?,
            }))
        }
        Some(_) => {
            for key in ["slice", "slice_target"] {
                if let Some(n) = f.get(key) {
                    ctx.error(
                        n.pos,
                        &f.field(key),
                        format!("`{key}` belongs to `method: timeslices`; events are not cut into slices"),
                    );
                }
            }
            Some(Budgeting::Occurrences)
        }
        None => None,
    };
    f.finish();
    budgeting.map(|b| (b, node.pos))
}

/// A slice length: whole minutes dividing an hour, so slices lie on the
/// minute grid and every hour holds whole slices.
pub fn slice(ctx: Ctx, node: &Node, path: &str) -> Option<Duration> {
    let text = decode::string(ctx, node, path)?;
    let d = decode::duration(ctx, node, path)?;
    let ms = d.as_millis();
    if ms % 60_000 == 0 && SLICE_MINUTES.contains(&(ms / 60_000)) {
        return Some(d);
    }
    let allowed: Vec<String> = SLICE_MINUTES
        .iter()
        .map(|m| Duration::from_mins(*m).to_string())
        .collect();
    ctx.error(
        node.pos,
        path,
        format!(
            "a slice of `{text}` does not divide an hour into whole minutes: use one of {}",
            allowed.join(", ")
        ),
    );
    None
}

/// A slice target as a ratio; `written` is how the file spelt it.
pub fn slice_target(ctx: Ctx, node: &Node, path: &str, ratio: f64, written: &str) -> Option<f64> {
    if ratio > 0.0 && ratio <= 1.0 {
        Some(ratio)
    } else {
        ctx.error(
            node.pos,
            path,
            format!("the slice target must be above 0 and at most 100%, found `{written}`"),
        );
        None
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::catalog::{self, Budgeting, Timeslices};
    use crate::duration::Duration;

    fn load(budgeting: &str) -> Result<Budgeting, Vec<String>> {
        let source = format!(
            "version: burnrate/v1\nservice: s\nslos:\n  - name: a\n    objective: 99.9\n    window: 30d\n    indicator:\n      ratio: {{errors: e, total: t}}\n{budgeting}"
        );
        match catalog::load_str(Path::new("t.yaml"), &source).into_result() {
            Ok(c) => Ok(c.slos[0].budgeting),
            Err(d) => Err(d.iter().map(|d| d.to_string()).collect()),
        }
    }

    #[test]
    fn budgeting_is_decoded_or_refused_at_its_field() {
        let slices = |mins, target| {
            Budgeting::Timeslices(Timeslices {
                slice: Duration::from_mins(mins),
                slice_target: target,
            })
        };
        let cases: [(&str, Result<Budgeting, &str>); 9] = [
            ("", Ok(Budgeting::Occurrences)),
            (
                "    budgeting: {method: occurrences}\n",
                Ok(Budgeting::Occurrences),
            ),
            (
                "    budgeting: {method: timeslices, slice: 1m, slice_target: 99}\n",
                Ok(slices(1, 0.99)),
            ),
            (
                "    budgeting:\n      method: timeslices\n      slice: 5m\n      slice_target: 100\n",
                Ok(slices(5, 1.0)),
            ),
            (
                "    budgeting: {method: timeslices, slice: 7m, slice_target: 99}\n",
                Err(
                    "t.yaml:9:44: error: SLO `s/a`: `slos[0].budgeting.slice`: a slice of `7m` does not divide an hour",
                ),
            ),
            (
                "    budgeting: {method: timeslices, slice: 30s, slice_target: 99}\n",
                Err("budgeting.slice`: a slice of `30s` does not divide an hour"),
            ),
            (
                "    budgeting: {method: timeslices, slice: 1m, slice_target: 0}\n",
                Err(
                    "budgeting.slice_target`: the slice target must be above 0 and at most 100%, found `0`",
                ),
            ),
            (
                "    budgeting: {method: timeslice}\n",
                Err(
                    "budgeting.method`: expected `occurrences` (events, the default) or `timeslices`",
                ),
            ),
            (
                "    budgeting: {method: occurrences, slice: 1m}\n",
                Err("budgeting.slice`: `slice` belongs to `method: timeslices`"),
            ),
        ];
        for (yaml, want) in cases {
            match (load(yaml), want) {
                (Ok(got), Ok(want)) => assert_eq!(got, want, "{yaml}"),
                (Err(got), Err(fragment)) => assert!(
                    got.len() == 1 && got[0].contains(fragment),
                    "{yaml}: {got:?} should say {fragment:?}"
                ),
                (got, want) => panic!("{yaml}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn windows_must_hold_whole_slices() {
        let errs = load("    budgeting: {method: timeslices, slice: 10m, slice_target: 99}\n")
            .unwrap_err();
        // The default tiers' 5m short window is shorter than a slice.
        assert!(
            errs.iter()
                .any(|e| e.contains("5m") && e.contains("10m slices")),
            "{errs:?}"
        );
        let ok = load("    budgeting: {method: timeslices, slice: 5m, slice_target: 99}\n");
        assert!(ok.is_ok(), "{ok:?}");
    }
}

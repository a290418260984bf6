//! `corrections:` in the native format: a list of spans excluded from every
//! window, at SLO, file (`defaults:` or top level) or `Defaults` level.

use chrono::DateTime;

use super::super::correction::{Correction, Recurrence};
use super::super::decode::{self, Ctx, Fields};
use super::super::diagnostic::Pos;
use super::super::yaml::{Node, Value};

const CORRECTION_FIELDS: [&str; 4] = ["reason", "start", "duration", "repeat"];

/// Every valid correction of the list, with where it was written; each
/// problem is reported at its field.
pub fn corrections(ctx: Ctx, node: &Node, path: &str) -> Vec<(Correction, Pos)> {
    let Value::Seq(items) = &node.value else {
        ctx.expected(
            node,
            path,
            "a list of corrections, each with `reason`, `start`, `duration` and optionally `repeat`",
        );
        return Vec::new();
    };
    items
        .iter()
        .enumerate()
        .filter_map(|(i, item)| correction(ctx, item, &format!("{path}[{i}]")))
        .collect()
}

fn correction(ctx: Ctx, node: &Node, path: &str) -> Option<(Correction, Pos)> {
    let mut f = Fields::new(ctx, node, path, &CORRECTION_FIELDS)?;
    let reason = f
        .require(
            "reason",
            "why these minutes do not count, e.g. `planned database migration`",
        )
        .and_then(|n| {
            let text = decode::string(ctx, n, &f.field("reason"))?;
            if text.trim().is_empty() {
                ctx.error(n.pos, &f.field("reason"), "the reason must not be empty");
                return None;
            }
            Some(text)
        });
    let start = f
        .require("start", "an RFC 3339 instant such as `2026-11-01T02:00:00Z`")
        .and_then(|n| {
            let text = decode::string(ctx, n, &f.field("start"))?;
            match DateTime::parse_from_rfc3339(text.trim()) {
                Ok(t) => Some(t),
                Err(e) => {
                    ctx.error(
                        n.pos,
                        &f.field("start"),
                        format!("`{text}` is not an RFC 3339 instant such as `2026-11-01T02:00:00Z` ({e})"),
                    );
                    None
                }
            }
        });
    let duration = f
        .require("duration", "a positive duration such as `2h`")
        .and_then(|n| {
            let field = f.field("duration");
            let text = decode::string(ctx, n, &field)?;
            if text.trim().starts_with('-') {
                ctx.error(
                    n.pos,
                    &field,
                    format!("the duration must be positive, found `{text}`"),
                );
                return None;
            }
            let d = decode::duration(ctx, n, &field)?;
            if d.as_millis() < 60_000 {
                ctx.error(
                    n.pos,
                    &field,
                    format!("the duration must be at least 1m (corrections are minute-granular), found `{text}`"),
                );
                return None;
            }
            Some(d)
        });
    let repeat = match (f.get("repeat"), start) {
        (Some(n), Some(start)) => {
            let text = decode::string(ctx, n, &f.field("repeat"))?;
            match Recurrence::parse(&text, start) {
                Ok(r) => Some(Some(r)),
                Err(message) => {
                    ctx.error(n.pos, &f.field("repeat"), message);
                    None
                }
            }
        }
        (Some(_), None) => None,
        (None, _) => Some(None),
    };
    f.finish();
    Some((
        Correction {
            reason: reason?,
            start: start?,
            duration: duration?,
            repeat: repeat?,
        },
        node.pos,
    ))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::catalog::{self, Diagnostic};

    const HEAD: &str = "version: burnrate/v1
service: db
slos:
  - name: a
    objective: 99
    indicator: {ratio: {errors: e, total: t}}
    corrections:
";

    fn errors(corrections: &str) -> Vec<Diagnostic> {
        let source = format!("{HEAD}{corrections}");
        match catalog::load_str(Path::new("db.yaml"), &source).into_result() {
            Ok(_) => Vec::new(),
            Err(d) => d,
        }
    }

    #[test]
    fn each_problem_is_reported_at_its_line_and_column() {
        // Line 8 is the first correction's first field.
        let cases: [(&str, &str, usize, usize, &str); 7] = [
            (
                "missing reason",
                "      - start: 2026-11-01T02:00:00Z\n        duration: 2h\n",
                8,
                9,
                "`reason`",
            ),
            (
                "empty reason",
                "      - reason: ' '\n        start: 2026-11-01T02:00:00Z\n        duration: 2h\n",
                8,
                17,
                "must not be empty",
            ),
            (
                "negative duration",
                "      - reason: r\n        start: 2026-11-01T02:00:00Z\n        duration: -2h\n",
                10,
                19,
                "must be positive",
            ),
            (
                "zero duration",
                "      - reason: r\n        start: 2026-11-01T02:00:00Z\n        duration: 0s\n",
                10,
                19,
                "at least 1m",
            ),
            (
                "bad RRULE",
                "      - reason: r\n        start: 2026-11-01T02:00:00Z\n        duration: 2h\n        repeat: FREQ=WEEKLY;BYDAY=XX\n",
                11,
                17,
                "not a valid RFC 5545 RRULE",
            ),
            (
                "not RFC 3339",
                "      - reason: r\n        start: 2026-11-01 02:00\n        duration: 2h\n",
                9,
                16,
                "RFC 3339",
            ),
            (
                "too many occurrences in the window",
                "      - reason: r\n        start: 2026-11-01T02:00:00Z\n        duration: 1m\n        repeat: FREQ=MINUTELY\n",
                8,
                9,
                "10000 times or more",
            ),
        ];
        for (name, corrections, line, column, part) in cases {
            let found = errors(corrections);
            assert_eq!(found.len(), 1, "{name}: {found:?}");
            let d = &found[0];
            assert_eq!((d.line, d.column), (line, column), "{name}: {d}");
            assert!(d.to_string().contains(part), "{name}: {d}");
            assert!(d.to_string().starts_with("db.yaml:"), "{name}: {d}");
        }
    }

    #[test]
    fn corrections_of_every_layer_apply() {
        let source = "version: burnrate/v1
service: db
corrections:
  - {reason: file, start: '2026-11-01T02:00:00+01:00', duration: 1h}
defaults:
  corrections:
    - {reason: defaults, start: '2026-11-02T02:00:00Z', duration: 2h, repeat: 'FREQ=WEEKLY;BYDAY=SU'}
slos:
  - name: a
    objective: 99
    indicator: {ratio: {errors: e, total: t}}
    corrections:
      - {reason: own, start: '2026-11-03T02:00:00Z', duration: 90m}
";
        let catalog = catalog::load_str(Path::new("db.yaml"), source)
            .into_result()
            .expect("valid");
        let reasons: Vec<&str> = catalog.slos[0]
            .corrections
            .iter()
            .map(|c| c.reason.as_str())
            .collect();
        assert_eq!(reasons, ["file", "defaults", "own"]);
        let exported = catalog::export::to_native_yaml(&catalog);
        let again = catalog::load_str(Path::new("db.yaml"), &exported)
            .into_result()
            .expect("the export loads back");
        assert_eq!(again.slos[0].corrections, catalog.slos[0].corrections);
    }
}

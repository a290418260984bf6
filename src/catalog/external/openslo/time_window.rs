//! OpenSLO's duration shorthand, and an SLO's `timeWindow` (rolling or
//! calendar-aligned) as a burnrate [`SloWindow`].

use chrono::{Datelike, NaiveDate, NaiveDateTime, Timelike, Weekday};
use chrono_tz::Tz;

use super::list;
use crate::catalog::decode::{self, Ctx, Fields};
use crate::catalog::diagnostic::Pos;
use crate::catalog::external::scalar;
use crate::catalog::window::{CalendarPeriod, MAX_DURATION, SloWindow, too_long};
use crate::catalog::yaml::Node;
use crate::duration::Duration;

/// OpenSLO's duration shorthand: a number and one of `m h d w M Q Y`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Shorthand {
    Fixed(Duration),
    Months(u64),
    Quarters(u64),
    Years(u64),
}

pub(super) fn shorthand(text: &str) -> Result<Shorthand, String> {
    let t = text.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(digits);
    let bad = || {
        format!(
            "`{text}` is not an OpenSLO duration: expected a whole number and one of `m` (minutes), `h`, `d`, `w`, `M` (months), `Q` (quarters), `Y` (years), e.g. `28d` or `1M`"
        )
    };
    let n: u64 = number.parse().map_err(|_| bad())?;
    // Bounded before multiplying: a long enough number of days would overflow.
    const DAYS: u64 = MAX_DURATION.as_millis() / 86_400_000;
    let (most, shorthand): (u64, fn(u64) -> Shorthand) = match unit {
        "m" => (DAYS * 1440, |n| Shorthand::Fixed(Duration::from_mins(n))),
        "h" => (DAYS * 24, |n| Shorthand::Fixed(Duration::from_hours(n))),
        "d" => (DAYS, |n| Shorthand::Fixed(Duration::from_days(n))),
        "w" => (DAYS / 7, |n| Shorthand::Fixed(Duration::from_days(n * 7))),
        "M" => (DAYS * 12 / 365, Shorthand::Months),
        "Q" => (DAYS * 4 / 365, Shorthand::Quarters),
        "Y" => (DAYS / 365, Shorthand::Years),
        _ => return Err(bad()),
    };
    if n > most {
        return Err(too_long(text));
    }
    Ok(shorthand(n))
}

/// `timeWindow`: `Some(None)` when absent, `None` on error.
pub(super) fn time_window(ctx: Ctx, node: &Node, path: &str) -> Option<Option<(SloWindow, Pos)>> {
    const FIELDS: [&str; 3] = ["duration", "isRolling", "calendar"];
    let items = list(ctx, node, path);
    if items.len() != 1 {
        ctx.error(
            node.pos,
            path,
            format!("expected exactly one time window, found {}", items.len()),
        );
        return None;
    }
    let (_, item) = items[0];
    let path = format!("{path}[0]");
    let errors_before = ctx.error_count();
    let mut f = Fields::new(ctx, item, &path, &FIELDS)?;
    let duration_node = f.require("duration", "the window's length, e.g. `28d` or `1M`");
    let duration = duration_node.and_then(|n| {
        let text = scalar(ctx, n, &f.field("duration"), "a duration")?;
        match shorthand(text) {
            Ok(d) => Some((d, text.trim().to_string(), n.pos)),
            Err(e) => {
                ctx.error(n.pos, &f.field("duration"), e);
                None
            }
        }
    });
    let rolling = f.boolean("isRolling");
    let calendar = f.get("calendar");
    let calendar_field = f.field("calendar");
    f.finish();
    let (duration, text, pos) = duration?;
    let window = match (rolling, calendar) {
        (Some(true), Some(c)) => {
            ctx.error(c.pos, &calendar_field, "a rolling window (`isRolling: true`) has no calendar; remove `calendar` or set `isRolling: false`");
            None
        }
        // Without a calendar, only a rolling window is possible.
        (Some(true), None) | (None, None) => match duration {
            Shorthand::Fixed(d) if d >= Duration::from_hours(1) => Some(SloWindow::Rolling(d)),
            Shorthand::Fixed(_) => {
                ctx.error(pos, &decode::join(&path, "duration"), format!("the window `{text}` is too short: an SLO window must be at least 1h (`m` is minutes; months are `M`)"));
                None
            }
            _ => {
                ctx.error(pos, &decode::join(&path, "duration"), format!("a rolling window of `{text}` has no fixed length (months, quarters and years vary); write it in days or weeks, e.g. `30d` or `4w`, or make it calendar-aligned"));
                None
            }
        },
        (Some(false), None) => {
            ctx.error(item.pos, &path, "a calendar-aligned window (`isRolling: false`) needs `calendar` with `startTime` and `timeZone`");
            None
        }
        (_, Some(c)) => calendar_window(ctx, duration, &text, pos, &path, c, &calendar_field),
    };
    if ctx.error_count() > errors_before {
        return None;
    }
    window.map(|w| Some((w, pos)))
}

fn calendar_window(
    ctx: Ctx,
    duration: Shorthand,
    text: &str,
    pos: Pos,
    path: &str,
    calendar: &Node,
    calendar_field: &str,
) -> Option<SloWindow> {
    let period = match duration {
        Shorthand::Fixed(d) if d == Duration::from_days(7) => Some(CalendarPeriod::Week),
        Shorthand::Months(1) => Some(CalendarPeriod::Month),
        Shorthand::Quarters(1) => Some(CalendarPeriod::Quarter),
        Shorthand::Fixed(d) if d < Duration::from_hours(1) => {
            let n = d.as_mins();
            ctx.error(pos, &decode::join(path, "duration"), format!("`{text}` is {n} minute{} in OpenSLO's duration shorthand (`m` is minutes, `M` months), far too short for a calendar-aligned SLO window; did you mean `{n}M` (a calendar month)?", if n == 1 { "" } else { "s" }));
            None
        }
        _ => {
            ctx.error(pos, &decode::join(path, "duration"), format!("burnrate's calendar-aligned windows are one week (`1w`), one month (`1M`) or one quarter (`1Q`), found `{text}`"));
            None
        }
    };
    let mut f = Fields::new(ctx, calendar, calendar_field, &["startTime", "timeZone"])?;
    let time_zone = f.require("timeZone", "an IANA time zone such as `UTC` or `America/New_York`").and_then(|n| {
        let text = scalar(ctx, n, &decode::join(calendar_field, "timeZone"), "a time zone")?;
        match text.parse::<Tz>() {
            Ok(tz) => Some(tz),
            Err(_) => {
                ctx.error(n.pos, &decode::join(calendar_field, "timeZone"), format!("unknown time zone `{text}`: expected an IANA name such as `America/New_York` or `UTC`"));
                None
            }
        }
    });
    let start = f.require(
        "startTime",
        "the first window's start, e.g. `2024-01-01 00:00:00`",
    );
    let start_field = f.field("startTime");
    f.finish();
    if let (Some(period), Some(n)) = (period, start) {
        let text = scalar(ctx, n, &start_field, "a date and time")?;
        let parsed = ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]
            .iter()
            .find_map(|fmt| NaiveDateTime::parse_from_str(text.trim(), fmt).ok())
            .or_else(|| {
                NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
                    .ok()
                    .and_then(|d| d.and_hms_opt(0, 0, 0))
            });
        let Some(start) = parsed else {
            ctx.expected(
                n,
                &start_field,
                "a local date and time such as `2024-01-01 00:00:00`",
            );
            return None;
        };
        let day_ok = match period {
            CalendarPeriod::Week => start.weekday() == Weekday::Mon,
            CalendarPeriod::Month => start.day() == 1,
            CalendarPeriod::Quarter => start.day() == 1 && start.month0() % 3 == 0,
        };
        let midnight = start.hour() == 0 && start.minute() == 0 && start.second() == 0;
        if !day_ok || !midnight {
            let boundary = match period {
                CalendarPeriod::Week => "on Mondays",
                CalendarPeriod::Month => "on the first day of each month",
                CalendarPeriod::Quarter => "on the first day of January, April, July and October",
            };
            ctx.error(n.pos, &start_field, format!("burnrate's calendar {}s start at local midnight {boundary}; `{text}` is a {} at {:02}:{:02}, so its windows would not line up with burnrate's", period.as_str(), start.format("%A"), start.hour(), start.minute()));
            return None;
        }
    }
    Some(SloWindow::Calendar {
        period: period?,
        time_zone: time_zone?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duration_shorthand() {
        assert_eq!(
            shorthand("28d"),
            Ok(Shorthand::Fixed(Duration::from_days(28)))
        );
        assert_eq!(
            shorthand("4w"),
            Ok(Shorthand::Fixed(Duration::from_days(28)))
        );
        assert_eq!(
            shorthand("1m"),
            Ok(Shorthand::Fixed(Duration::from_mins(1)))
        );
        assert_eq!(shorthand("1M"), Ok(Shorthand::Months(1)));
        assert_eq!(shorthand("1Q"), Ok(Shorthand::Quarters(1)));
        assert_eq!(shorthand("1Y"), Ok(Shorthand::Years(1)));
        for bad in ["", "d", "1.5d", "1h30m", "5s", "-1d"] {
            assert!(shorthand(bad).is_err(), "{bad}");
        }
        assert_eq!(shorthand("5Y"), Ok(Shorthand::Years(5)));
        for long in ["6Y", "61M", "1826d", "99999999999999999d", "3000000m"] {
            assert!(
                shorthand(long).unwrap_err().contains("longer than 1825d"),
                "{long}"
            );
        }
    }
}

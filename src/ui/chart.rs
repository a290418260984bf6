//! Time-series charts as server-rendered SVG: the page needs no script to
//! draw them, they print and read the same with JavaScript off, and the
//! binary carries no charting library. A chart is a pure function of its
//! points, so tests can check what it draws.
//!
//! Lines differ in dash pattern as well as colour, thresholds are labelled
//! in text, and each chart has a title and a description for screen readers.

use chrono::{DateTime, TimeZone, Utc};
use maud::{Markup, html};

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 220.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 64.0;
const TOP: f64 = 10.0;
const BOTTOM: f64 = 26.0;

/// How values map to heights.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scale {
    Linear {
        min: f64,
        max: f64,
    },
    /// Powers of ten; values at or below `min` sit on the bottom edge.
    Log {
        min: f64,
        max: f64,
    },
}

impl Scale {
    /// A linear scale spanning the values and `always` (e.g. 0 and 1 for a budget).
    pub fn linear_over(values: impl Iterator<Item = f64>, always: [f64; 2]) -> Scale {
        let (min, max) = values.fold((always[0], always[1]), |(lo, hi), v| (lo.min(v), hi.max(v)));
        Scale::Linear { min, max }
    }

    /// A log scale over whole decades around the positive values, from 0.01
    /// or below.
    pub fn log_over(values: impl Iterator<Item = f64>) -> Scale {
        let (lo, hi) = values
            .filter(|v| *v > 0.0 && v.is_finite())
            .fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
        if lo > hi {
            return Scale::Log {
                min: 0.01,
                max: 10.0,
            };
        }
        // Burn rates under 0.01× are nothing to see: the bottom edge shows them.
        let min = 10f64.powf(lo.log10().floor()).clamp(0.001, 0.01);
        let max = 10f64.powf(hi.log10().ceil()).max(min * 10.0);
        Scale::Log { min, max }
    }

    /// Where `value` sits, 0 at the bottom and 1 at the top.
    fn fraction(self, value: f64) -> f64 {
        let f = match self {
            Scale::Linear { min, max } if max > min => (value - min) / (max - min),
            Scale::Linear { .. } => 0.5,
            Scale::Log { min, max } => {
                (value.max(min).log10() - min.log10()) / (max.log10() - min.log10())
            }
        };
        f.clamp(0.0, 1.0)
    }

    /// Gridline values: powers of ten (with 2 and 5 over few decades), or
    /// about six round steps.
    fn ticks(self) -> Vec<f64> {
        match self {
            Scale::Log { min, max } => {
                let decades = (max.log10() - min.log10()).round() as i32;
                let steps: &[f64] = if decades <= 2 {
                    &[1.0, 2.0, 5.0]
                } else {
                    &[1.0]
                };
                let first = min.log10().round() as i32;
                (first..=first + decades)
                    .flat_map(|e| steps.iter().map(move |s| s * 10f64.powi(e)))
                    .filter(|v| *v <= max * 1.000_001)
                    .collect()
            }
            Scale::Linear { min, max } => {
                let step = round_step((max - min) / 6.0);
                let mut v = (min / step).ceil() * step;
                let mut out = Vec::new();
                while v <= max + step * 1e-9 && out.len() < 12 {
                    out.push(if v.abs() < step * 1e-9 { 0.0 } else { v });
                    v += step;
                }
                out
            }
        }
    }
}

/// 1, 2, 2.5 or 5 times a power of ten, at least `raw`.
fn round_step(raw: f64) -> f64 {
    if raw <= 0.0 || !raw.is_finite() {
        return 1.0;
    }
    let power = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .into_iter()
        .map(|m| m * power)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * power)
}

/// One series: points at Unix milliseconds, none where nothing was stored.
#[derive(Debug, Clone)]
pub struct Line {
    pub label: String,
    /// Picks colour and dash pattern (`s0` to `s5`).
    pub style: usize,
    pub points: Vec<(i64, Option<f64>)>,
}

/// A horizontal rule: a threshold.
#[derive(Debug, Clone)]
pub struct Rule {
    pub label: String,
    pub style: usize,
    pub value: f64,
}

/// Prints a gridline's value.
pub type Labeller = fn(f64) -> String;

/// A chart of lines over time.
pub struct Chart<'a> {
    /// Unique on the page; the SVG's id.
    pub id: &'a str,
    pub title: &'a str,
    /// What the chart shows, in words, for those who cannot see it.
    pub description: String,
    pub from_ms: i64,
    pub to_ms: i64,
    pub scale: Scale,
    pub lines: Vec<Line>,
    pub rules: Vec<Rule>,
    /// Consecutive points further apart than this are not joined.
    pub max_gap_ms: i64,
    pub left_label: Labeller,
    /// A second axis on the right: each gridline's value times the factor.
    pub right_axis: Option<(f64, Labeller)>,
}

impl Chart<'_> {
    fn x(&self, at: i64) -> f64 {
        let span = (self.to_ms - self.from_ms).max(1) as f64;
        LEFT + (at - self.from_ms) as f64 / span * (WIDTH - LEFT - RIGHT)
    }

    fn y(&self, value: f64) -> f64 {
        TOP + (1.0 - self.scale.fraction(value)) * (HEIGHT - TOP - BOTTOM)
    }

    /// Each line's runs of joined points, as SVG `points` text.
    fn runs(&self, line: &Line) -> Vec<(String, usize)> {
        let mut runs = Vec::new();
        let mut text = String::new();
        let mut count = 0;
        let mut last: Option<i64> = None;
        for &(at, value) in &line.points {
            let Some(v) = value.filter(|v| v.is_finite()) else {
                // Nothing to draw here: the line stops.
                if count > 0 {
                    runs.push((std::mem::take(&mut text), count));
                    count = 0;
                }
                last = None;
                continue;
            };
            if last.is_some_and(|l| at - l > self.max_gap_ms) && count > 0 {
                runs.push((std::mem::take(&mut text), count));
                count = 0;
            }
            if count > 0 {
                text.push(' ');
            }
            text.push_str(&format!("{:.1},{:.1}", self.x(at), self.y(v)));
            count += 1;
            last = Some(at);
        }
        if count > 0 {
            runs.push((text, count));
        }
        runs
    }

    /// The number of points drawn, over every line.
    pub fn point_count(&self) -> usize {
        self.lines
            .iter()
            .flat_map(|l| self.runs(l))
            .map(|(_, n)| n)
            .sum()
    }

    pub fn render(&self) -> Markup {
        let runs: Vec<(usize, Vec<(String, usize)>)> =
            self.lines.iter().map(|l| (l.style, self.runs(l))).collect();
        let points: usize = runs.iter().flat_map(|(_, r)| r).map(|(_, n)| n).sum();
        let (title_id, desc_id) = (format!("{}-title", self.id), format!("{}-desc", self.id));
        let bottom = HEIGHT - BOTTOM;
        html! {
            figure.chart {
                svg id=(self.id) class="chart-svg" viewBox=(format!("0 0 {WIDTH} {HEIGHT}"))
                    role="img" aria-labelledby=(format!("{title_id} {desc_id}"))
                    data-points=(points) preserveAspectRatio="none" {
                    title id=(title_id) { (self.title) }
                    desc id=(desc_id) { (self.description) }
                    @for v in self.scale.ticks() {
                        @let y = self.y(v);
                        line.grid x1=(LEFT) x2=(WIDTH - RIGHT) y1=(fmt1(y)) y2=(fmt1(y)) {}
                        text.tick x=(LEFT - 4.0) y=(fmt1(y + 3.0)) text-anchor="end" { ((self.left_label)(v)) }
                        @if let Some((factor, label)) = self.right_axis {
                            text.tick x=(WIDTH - RIGHT + 4.0) y=(fmt1(y + 3.0)) { (label(v * factor)) }
                        }
                    }
                    @for (at, label) in time_ticks(self.from_ms, self.to_ms) {
                        @let x = self.x(at);
                        line.grid x1=(fmt1(x)) x2=(fmt1(x)) y1=(TOP) y2=(bottom) {}
                        text.tick x=(fmt1(x)) y=(HEIGHT - 8.0) text-anchor="middle" { (label) }
                    }
                    line.axis x1=(LEFT) x2=(WIDTH - RIGHT) y1=(bottom) y2=(bottom) {}
                    @for rule in &self.rules {
                        @let y = fmt1(self.y(rule.value));
                        line class=(format!("rule s{}", rule.style % 6)) x1=(LEFT) x2=(WIDTH - RIGHT) y1=(y) y2=(y) {}
                    }
                    @for (style, line_runs) in &runs {
                        @for (points, n) in line_runs {
                            @if *n == 1 {
                                // A lone point draws no line: mark it.
                                @let (x, y) = points.split_once(',').unwrap_or(("0", "0"));
                                circle class=(format!("dot s{}", style % 6)) cx=(x) cy=(y) r="2.5" {}
                            } @else {
                                polyline class=(format!("line s{}", style % 6)) points=(points) {}
                            }
                        }
                    }
                }
                ul.legend {
                    @for line in &self.lines {
                        li { span class=(format!("swatch s{}", line.style % 6)) aria-hidden="true" {} (line.label) }
                    }
                    @for rule in &self.rules {
                        li { span class=(format!("swatch rule s{}", rule.style % 6)) aria-hidden="true" {} (rule.label) }
                    }
                }
            }
        }
    }
}

/// The median distance between consecutive instants (0 for fewer than two).
pub fn typical_spacing(times: impl Iterator<Item = i64>) -> i64 {
    let times: Vec<i64> = times.collect();
    let mut gaps: Vec<i64> = times.windows(2).map(|w| w[1] - w[0]).collect();
    gaps.sort_unstable();
    gaps.get(gaps.len() / 2).copied().unwrap_or(0)
}

fn fmt1(v: f64) -> String {
    format!("{v:.1}")
}

/// Gridlines on round times (UTC) between `from` and `to`: at most eight,
/// labelled with the day at midnight and with the time of day otherwise.
pub fn time_ticks(from_ms: i64, to_ms: i64) -> Vec<(i64, String)> {
    const MINUTE: i64 = 60_000;
    const HOUR: i64 = 60 * MINUTE;
    const DAY: i64 = 24 * HOUR;
    let span = (to_ms - from_ms).max(1);
    let steps = [
        5 * MINUTE,
        15 * MINUTE,
        30 * MINUTE,
        HOUR,
        3 * HOUR,
        6 * HOUR,
        12 * HOUR,
        DAY,
        2 * DAY,
        7 * DAY,
        14 * DAY,
        30 * DAY,
    ];
    let step = steps
        .into_iter()
        .find(|s| span / s <= 8)
        .unwrap_or(30 * DAY);
    let first = from_ms.div_euclid(step) * step + if from_ms % step == 0 { 0 } else { step };
    (0..)
        .map(|k| first + k * step)
        .take_while(|t| *t <= to_ms)
        .filter_map(|t| {
            let at: DateTime<Utc> = Utc.timestamp_millis_opt(t).single()?;
            // Midnights name the day; other gridlines the time of day.
            let format = if t % DAY == 0 { "%b %d" } else { "%H:%M" };
            Some((t, at.format(format).to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart(lines: Vec<Line>, scale: Scale) -> Chart<'static> {
        Chart {
            id: "c",
            title: "t",
            description: "d".into(),
            from_ms: 0,
            to_ms: 1_000_000,
            scale,
            lines,
            rules: vec![Rule {
                label: "page-1h 14.4×".into(),
                style: 0,
                value: 14.4,
            }],
            max_gap_ms: 250_000,
            left_label: |v| format!("{v}"),
            right_axis: None,
        }
    }

    #[test]
    fn lines_break_at_gaps_and_missing_values() {
        let points = vec![
            (0, Some(1.0)),
            (100_000, Some(2.0)),
            (200_000, None),
            (300_000, Some(3.0)),
            (400_000, Some(f64::NAN)),
            (900_000, Some(4.0)),
            (1_000_000, Some(5.0)),
        ];
        let line = Line {
            label: "1h".into(),
            style: 0,
            points,
        };
        let c = chart(vec![line.clone()], Scale::Linear { min: 0.0, max: 5.0 });
        let runs = c.runs(&line);
        assert_eq!(runs.iter().map(|r| r.1).collect::<Vec<_>>(), [2, 1, 2]);
        assert_eq!(c.point_count(), 5);
        assert_eq!(runs[0].0, "56.0,157.2 116.0,120.4");
        let svg = c.render().into_string();
        assert!(svg.contains("data-points=\"5\""), "{svg}");
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert_eq!(svg.matches("<circle").count(), 1, "a lone point is marked");
        assert!(svg.contains("<title id=\"c-title\">t</title>"));
        assert!(
            svg.contains("page-1h 14.4×"),
            "thresholds are labelled in text"
        );
    }

    #[test]
    fn spacing_is_the_median_gap() {
        assert_eq!(typical_spacing([0, 10, 20, 100, 110].into_iter()), 10);
        assert_eq!(typical_spacing([5].into_iter()), 0);
    }

    #[test]
    fn scales_and_ticks() {
        let log = Scale::log_over([0.03, 14.4, 0.0].into_iter());
        assert_eq!(
            log,
            Scale::Log {
                min: 0.01,
                max: 100.0
            }
        );
        let thresholds_only = Scale::log_over([1.0, 14.4].into_iter());
        assert_eq!(
            thresholds_only,
            Scale::Log {
                min: 0.01,
                max: 100.0
            }
        );
        let tiny = Scale::log_over([0.0002, 2.0].into_iter());
        assert_eq!(
            tiny,
            Scale::Log {
                min: 0.001,
                max: 10.0
            }
        );
        assert_eq!(log.ticks(), [0.01, 0.1, 1.0, 10.0, 100.0]);
        assert_eq!(log.fraction(0.0), 0.0);
        assert!((log.fraction(1.0) - 0.5).abs() < 1e-9);
        let narrow = Scale::Log {
            min: 0.1,
            max: 10.0,
        };
        assert_eq!(narrow.ticks(), [0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0]);
        let budget = Scale::linear_over([-0.3, 0.8].into_iter(), [0.0, 1.0]);
        assert_eq!(
            budget,
            Scale::Linear {
                min: -0.3,
                max: 1.0
            }
        );
        assert_eq!(budget.ticks(), [-0.25, 0.0, 0.25, 0.5, 0.75, 1.0]);
        let full = Scale::linear_over(std::iter::empty(), [0.0, 1.0]);
        assert_eq!(full.ticks().len(), 6);
        assert_eq!(
            Scale::log_over(std::iter::empty()),
            Scale::Log {
                min: 0.01,
                max: 10.0
            }
        );
    }

    #[test]
    fn time_ticks_are_round_and_few() {
        let day = 86_400_000;
        let month = time_ticks(1_764_000_000_000, 1_764_000_000_000 + 30 * day);
        assert!((4..=8).contains(&month.len()), "{month:?}");
        assert!(month.iter().all(|(t, _)| t % day == 0));
        let hour = time_ticks(0, 3_600_000);
        assert_eq!(hour.first().map(|t| t.1.as_str()), Some("Jan 01"));
        assert_eq!(hour.get(1).map(|t| t.1.as_str()), Some("00:15"));
        assert!(hour.len() <= 8);
    }
}

//! The reads of a whole cycle, fanned in: every SLO says what it will read
//! (`Read`), the union reads of [`fanin::plan`] are sent once each, and the
//! answers are filtered per selector into a [`Prefetched`] set. SLOs then
//! read through a [`Reader`], which answers from that set and asks
//! Prometheus directly for anything not in it (a selector read alone, a
//! union that failed or was over the byte cap, a span split in halves).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::fanin::{self, UnionRead};
use super::matching::CompiledSelector;
use super::{PREDECESSOR_LOOKBACK, span_range};
use crate::catalog::promql::Selector;
use crate::labels::Labels;
use crate::prom::{Prometheus, PrometheusError, RawSeries};

/// What one SLO reads in a span: raw samples in `(from, to]`, or each
/// series' last sample at an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ReadKind {
    Raw { from: i64, to: i64 },
    Last { at: i64 },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Read {
    pub selector: Selector,
    pub kind: ReadKind,
}

type Key = (String, ReadKind);

/// Answers fetched for a cycle, per selector text and kind.
#[derive(Debug, Default)]
pub struct Prefetched {
    raw: HashMap<Key, Picked<RawSeries>>,
    last: HashMap<Key, Picked<(Labels, f64)>>,
    pub stats: FanInStats,
}

/// A selector's part of a union's answer: the answer, shared by all its
/// members, and the items this selector selects (all of them when read
/// directly). Nothing is copied per selector, however many share a union.
#[derive(Debug, Clone)]
pub struct Picked<T> {
    all: Arc<Vec<T>>,
    picked: Option<Arc<Vec<usize>>>,
}

impl<T> Picked<T> {
    fn whole(items: Vec<T>) -> Self {
        Picked {
            all: Arc::new(items),
            picked: None,
        }
    }

    /// The selected items, in the answer's order.
    pub fn items(&self) -> Vec<&T> {
        match &self.picked {
            Some(picked) => picked.iter().map(|&k| &self.all[k]).collect(),
            None => self.all.iter().collect(),
        }
    }
}

/// What a fan-in cost and saved, for logs, `/metrics` and benchmarks.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct FanInStats {
    /// Selector reads the SLOs asked for, and how many of them differ (SLOs
    /// with the same selector share one read).
    pub reads: usize,
    pub distinct_reads: usize,
    /// Union queries sent (each replacing two or more reads).
    pub union_queries: usize,
    /// Reads served from a union's answer.
    pub served: usize,
    /// Series the unions returned, and of them those some member used.
    pub series_returned: usize,
    pub series_used: usize,
    /// The most series one union returned.
    pub widest_union: usize,
}

/// What fan-in keeps from one call to the next: the unions measured as
/// wasteful, read member by member until the catalog changes the union or
/// the mark expires; and each selector's compiled matchers, since a backfill
/// reads the same selectors chunk after chunk and compiling a regex is far
/// dearer than testing a label set with it.
#[derive(Debug, Default)]
pub struct FanInMemory {
    until: HashMap<String, i64>,
    compiled: HashMap<String, Option<Arc<CompiledSelector>>>,
    /// Compiled regexes by pattern, shared by the selectors above.
    regexes: HashMap<String, std::sync::Arc<regex::Regex>>,
}

/// How long a union stays split before it is measured again: series come
/// and go, and a union wasteful today may pay tomorrow.
const SPLIT_FOR_MS: i64 = 60 * 60 * 1000;

impl FanInMemory {
    fn current(&mut self, now_ms: i64) -> BTreeSet<String> {
        self.until.retain(|_, until| *until > now_ms);
        self.until.keys().cloned().collect()
    }
}

/// Fetches every union read the `reads` allow, at most `concurrency` at a
/// time. Failures are not errors here: those reads go to Prometheus directly
/// and fail (or succeed) there, each for its own SLO.
pub async fn prefetch(
    prom: &Prometheus,
    reads: Vec<Read>,
    memory: &mut FanInMemory,
    concurrency: usize,
    now_ms: i64,
) -> Prefetched {
    let mut by_kind: HashMap<ReadKind, Vec<Selector>> = HashMap::new();
    let mut seen: BTreeSet<Key> = BTreeSet::new();
    let requested = reads.len();
    for read in reads {
        if seen.insert((read.selector.to_string(), read.kind)) {
            by_kind.entry(read.kind).or_default().push(read.selector);
        }
    }
    let mut out = Prefetched::default();
    out.stats.reads = requested;
    out.stats.distinct_reads = seen.len();
    let skip = memory.current(now_ms);
    let permits = Arc::new(Semaphore::new(concurrency.max(1)));
    let mut tasks = JoinSet::new();
    // Each selector's matchers are compiled once, however many unions and
    // kinds of read it is a member of, and kept while it is read.
    let mut compiled = std::mem::take(&mut memory.compiled);
    let mut in_use: HashMap<String, Option<Arc<CompiledSelector>>> = HashMap::new();
    for (kind, selectors) in by_kind {
        let filters: Arc<Vec<Option<Arc<CompiledSelector>>>> = Arc::new(
            selectors
                .iter()
                .map(|s| {
                    let text = s.to_string();
                    let filter = match compiled.remove(&text) {
                        Some(found) => found,
                        None => in_use.get(&text).cloned().unwrap_or_else(|| {
                            CompiledSelector::sharing(s, &mut memory.regexes)
                                .ok()
                                .map(Arc::new)
                        }),
                    };
                    in_use.insert(text, filter.clone());
                    filter
                })
                .collect(),
        );
        let selectors = Arc::new(selectors);
        for union in fanin::plan(&selectors, &skip) {
            if !union.is_union() {
                continue;
            }
            let (prom, permits) = (prom.clone(), permits.clone());
            let (selectors, filters) = (selectors.clone(), filters.clone());
            tasks.spawn(async move {
                let _permit = permits.acquire_owned().await;
                let answer = fetch_union(&prom, &union, kind).await;
                (kind, union, selectors, filters, answer)
            });
        }
    }
    // Selectors no longer read (the catalog changed) are forgotten, and
    // their patterns once they outnumber the selectors read.
    if memory.regexes.len() > in_use.len() + 64 {
        memory.regexes.clear();
    }
    memory.compiled = in_use;
    while let Some(joined) = tasks.join_next().await {
        let Ok((kind, union, selectors, filters, answer)) = joined else {
            continue;
        };
        let answer = match answer {
            Ok(answer) => answer,
            Err(e) => {
                tracing::debug!(error = %e, "union read failed: its members are read one by one");
                continue;
            }
        };
        let Some(filters) = union
            .members
            .iter()
            .map(|&i| filters[i].as_deref())
            .collect::<Option<Vec<&CompiledSelector>>>()
        else {
            continue;
        };
        let (returned, used) = out.keep(kind, &union, &selectors, &filters, answer);
        out.stats.union_queries += 1;
        out.stats.served += union.members.len();
        out.stats.series_returned += returned;
        out.stats.series_used += used;
        out.stats.widest_union = out.stats.widest_union.max(returned);
        if fanin::should_split(union.members.len(), returned, used) {
            tracing::info!(
                union = %union.selector,
                members = union.members.len(),
                returned,
                used,
                "union read returns far more series than its members use: read separately"
            );
            memory
                .until
                .insert(union.selector.to_string(), now_ms + SPLIT_FOR_MS);
        }
    }
    use crate::health::{self as h, add};
    let stats = out.stats;
    add(&h::FANIN_READS, stats.reads as u64);
    add(&h::FANIN_UNION_QUERIES, stats.union_queries as u64);
    add(&h::FANIN_READS_SERVED, stats.served as u64);
    add(&h::FANIN_SERIES_RETURNED, stats.series_returned as u64);
    add(&h::FANIN_SERIES_USED, stats.series_used as u64);
    out
}

enum Answer {
    Raw(Vec<RawSeries>),
    Last(Vec<(Labels, f64)>),
}

async fn fetch_union(
    prom: &Prometheus,
    union: &UnionRead,
    kind: ReadKind,
) -> Result<Answer, PrometheusError> {
    Ok(match kind {
        ReadKind::Raw { from, to } => Answer::Raw(
            prom.raw_samples(&union.selector, to, span_range(from, to))
                .await?,
        ),
        ReadKind::Last { at } => {
            let text = &union.selector;
            let query = format!("last_over_time({text}[{PREDECESSOR_LOOKBACK}])");
            Answer::Last(prom.instant(&query, at).await?)
        }
    })
}

impl Prefetched {
    /// Whether `read` is answered here.
    pub fn holds(&self, read: &Read) -> bool {
        let key = (read.selector.to_string(), read.kind);
        match read.kind {
            ReadKind::Raw { .. } => self.raw.contains_key(&key),
            ReadKind::Last { .. } => self.last.contains_key(&key),
        }
    }

    /// Adds the answers (and the costs) of another prefetch.
    pub fn absorb(&mut self, other: Prefetched) {
        self.raw.extend(other.raw);
        self.last.extend(other.last);
        let (a, b) = (&mut self.stats, other.stats);
        a.reads += b.reads;
        a.distinct_reads += b.distinct_reads;
        a.union_queries += b.union_queries;
        a.served += b.served;
        a.series_returned += b.series_returned;
        a.series_used += b.series_used;
        a.widest_union = a.widest_union.max(b.widest_union);
    }

    /// Files a union's answer under each member; returns the series returned
    /// and those at least one member selected.
    fn keep(
        &mut self,
        kind: ReadKind,
        union: &UnionRead,
        selectors: &[Selector],
        filters: &[&CompiledSelector],
        answer: Answer,
    ) -> (usize, usize) {
        match answer {
            Answer::Raw(series) => {
                let picked = assign(filters, &series, |s| &s.labels);
                let (n, used) = (series.len(), used(&picked, series.len()));
                let all = Arc::new(series);
                for (&i, mine) in union.members.iter().zip(picked) {
                    let part = Picked {
                        all: Arc::clone(&all),
                        picked: Some(Arc::new(mine)),
                    };
                    self.raw.insert((selectors[i].to_string(), kind), part);
                }
                (n, used)
            }
            Answer::Last(values) => {
                let picked = assign(filters, &values, |(l, _)| l);
                let (n, used) = (values.len(), used(&picked, values.len()));
                let all = Arc::new(values);
                for (&i, mine) in union.members.iter().zip(picked) {
                    let part = Picked {
                        all: Arc::clone(&all),
                        picked: Some(Arc::new(mine)),
                    };
                    self.last.insert((selectors[i].to_string(), kind), part);
                }
                (n, used)
            }
        }
    }
}

/// For each filter, the indexes of the items it selects. Items are indexed
/// by the values of the labels filters test for equality, so each filter
/// tests only the items that hold its rarest equality value: thousands of
/// selectors over thousands of series cost far less than their product.
fn assign<T>(
    filters: &[&CompiledSelector],
    items: &[T],
    labels: impl Fn(&T) -> &Labels,
) -> Vec<Vec<usize>> {
    let indexed: BTreeSet<&str> = filters
        .iter()
        .flat_map(|f| f.equalities().map(|(n, _)| n))
        .collect();
    let mut index: HashMap<(&str, &str), Vec<usize>> = HashMap::new();
    for (k, item) in items.iter().enumerate() {
        for &name in &indexed {
            let value = labels(item).get(name).map_or("", String::as_str);
            index.entry((name, value)).or_default().push(k);
        }
    }
    let all: Vec<usize> = (0..items.len()).collect();
    filters
        .iter()
        .map(|f| {
            let candidates = f
                .equalities()
                .map(|key| index.get(&key).map_or(&[][..], Vec::as_slice))
                .min_by_key(|c| c.len())
                .unwrap_or(&all);
            candidates
                .iter()
                .copied()
                .filter(|&k| f.matches(labels(&items[k])))
                .collect()
        })
        .collect()
}

/// How many items at least one filter picked.
fn used(picked: &[Vec<usize>], items: usize) -> usize {
    let mut seen = vec![false; items];
    for &k in picked.iter().flatten() {
        seen[k] = true;
    }
    seen.into_iter().filter(|&s| s).count()
}

/// How an SLO reads Prometheus: from the cycle's prefetched answers where
/// they hold the read, else directly.
#[derive(Clone)]
pub struct Reader {
    prom: Prometheus,
    prefetched: Option<Arc<Prefetched>>,
}

impl Reader {
    /// Every read goes to Prometheus.
    pub fn direct(prom: &Prometheus) -> Self {
        Reader {
            prom: prom.clone(),
            prefetched: None,
        }
    }

    pub fn with(prom: &Prometheus, prefetched: Arc<Prefetched>) -> Self {
        Reader {
            prom: prom.clone(),
            prefetched: Some(prefetched),
        }
    }

    /// Raw samples of `selector` in `(from, to]`.
    pub async fn raw(
        &self,
        selector: &Selector,
        from: i64,
        to: i64,
    ) -> Result<Picked<RawSeries>, PrometheusError> {
        let text = selector.to_string();
        let key = (text, ReadKind::Raw { from, to });
        if let Some(found) = self.prefetched.as_ref().and_then(|p| p.raw.get(&key)) {
            return Ok(found.clone());
        }
        let series = self
            .prom
            .raw_samples(selector, to, span_range(from, to))
            .await?;
        Ok(Picked::whole(series))
    }

    /// Each series' last sample value at or before `at`, looking back
    /// [`PREDECESSOR_LOOKBACK`].
    pub async fn last(
        &self,
        selector: &Selector,
        at: i64,
    ) -> Result<Picked<(Labels, f64)>, PrometheusError> {
        let text = selector.to_string();
        let key = (text, ReadKind::Last { at });
        if let Some(found) = self.prefetched.as_ref().and_then(|p| p.last.get(&key)) {
            return Ok(found.clone());
        }
        let query = format!("last_over_time({}[{PREDECESSOR_LOOKBACK}])", key.0);
        Ok(Picked::whole(self.prom.instant(&query, at).await?))
    }

    /// Plain PromQL over a range, never prefetched.
    pub async fn range(
        &self,
        query: &str,
        start_ms: i64,
        end_ms: i64,
        step: crate::duration::Duration,
    ) -> Result<Vec<RawSeries>, PrometheusError> {
        self.prom.range(query, start_ms, end_ms, step).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::from_pairs;

    #[test]
    fn indexed_assignment_picks_what_each_selector_matches() {
        let mut items = Vec::new();
        for service in ["a", "b", "c"] {
            for route in ["/x", "/y"] {
                for code in ["200", "500"] {
                    items.push(from_pairs(&[
                        ("service", service),
                        ("route", route),
                        ("code", code),
                    ]));
                }
            }
        }
        items.push(from_pairs(&[("route", "/x"), ("code", "500")]));
        let selectors = [
            r#"m{service="a",route="/x"}"#,
            r#"m{service="b",code=~"5.."}"#,
            r#"m{service="",code="500"}"#,
            r#"m{route!="/x",code!~"2.."}"#,
            r#"m{service="zz"}"#,
            r#"m"#,
        ];
        let filters: Vec<CompiledSelector> = selectors
            .iter()
            .map(|t| CompiledSelector::new(&Selector::parse(t).unwrap()).unwrap())
            .collect();
        let refs: Vec<&CompiledSelector> = filters.iter().collect();
        let picked = assign(&refs, &items, |l| l);
        for ((text, filter), got) in selectors.iter().zip(&filters).zip(&picked) {
            let want: Vec<usize> = (0..items.len())
                .filter(|&k| filter.matches(&items[k]))
                .collect();
            assert_eq!(got, &want, "{text}");
        }
        let counts: Vec<usize> = picked.iter().map(Vec::len).collect();
        assert_eq!(counts, [2, 2, 1, 3, 0, 13]);
        assert_eq!(used(&picked, items.len()), 13);
        assert_eq!(used(&picked[..2], items.len()), 4);
    }
}

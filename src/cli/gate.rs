//! `burnrate gate`: asks a running burnrate whether services may ship,
//! retrying within `--timeout`, prints why, and exits 0 (allow), 1 (deny)
//! or 2 (cannot decide).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration as StdDuration, Instant};

use backon::{ExponentialBuilder, Retryable};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;

use super::Format;
use crate::api::gate::{GateDecision, GateResult};
use crate::duration::Duration;
use crate::secret::Secret;

pub const EXIT_ALLOW: u8 = 0;
pub const EXIT_DENY: u8 = 1;
pub const EXIT_UNDECIDED: u8 = 2;

#[derive(Debug, clap::Args)]
pub struct GateArgs {
    /// Base URL of the burnrate server, e.g. `http://burnrate:8080`.
    #[arg(long, env = "BURNRATE_SERVER")]
    pub server: String,
    /// A service to release; repeat for several. The release is allowed only
    /// when every service is, and the reasons are given per service.
    #[arg(long, required = true)]
    pub service: Vec<String>,
    /// Only this SLO of each service (its name).
    #[arg(long)]
    pub slo: Option<String>,
    /// Exit 0 instead of 2 when the gate cannot decide (server unreachable, no data).
    #[arg(long)]
    pub fail_open: bool,
    /// Output format: `text`, the decision, each service's own decision and
    /// each SLO instance's reasons, for people and CI logs; `json`, the
    /// server's answer plus `exit_code`, `fail_open` and `attempts`
    /// (schemas/gate.schema.json).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// File holding the API token, when the server requires one: the read
    /// token, or the write token for --override.
    #[arg(long, env = "BURNRATE_API_TOKEN_FILE")]
    pub token_file: Option<PathBuf>,
    /// The token itself, from the environment (never printed).
    #[arg(
        long,
        env = "BURNRATE_API_TOKEN",
        hide = true,
        hide_env_values = true,
        conflicts_with = "token_file"
    )]
    pub token: Option<Secret>,
    /// Keep asking for this long: an unreachable server, a 5xx or a 429 is
    /// retried with exponential back-off and jitter, so a burnrate restart
    /// does not fail the deploy. After that the gate cannot decide (exit 2).
    #[arg(long, default_value = "10s")]
    pub timeout: Duration,
    /// Wait until every judged SLO instance has an evaluation newer than this
    /// call, for at most this long (the call may then take up to the longer
    /// of this and --timeout); for gates right after a canary step.
    #[arg(long, value_name = "DURATION")]
    pub wait_fresh: Option<Duration>,
    /// Allow the release even when the gate denies (or cannot decide), for
    /// this reason. Needs the write token; the override and its reason are
    /// recorded and listed at /api/v1/gate/decisions.
    #[arg(long = "override", value_name = "REASON")]
    pub override_reason: Option<String>,
    /// Who asks (for example the CI user), recorded with the decision.
    #[arg(long, env = "BURNRATE_ACTOR")]
    pub actor: Option<String>,
}

/// The answer, or why there is none.
enum Outcome {
    Decided(Box<GateResult>),
    Failed(String),
}

pub fn run(args: &GateArgs, out: &mut dyn Write) -> std::io::Result<ExitCode> {
    let (outcome, attempts) = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(ask(args)),
        Err(e) => (
            Outcome::Failed(format!("cannot start the async runtime: {e}")),
            0,
        ),
    };
    let (code, decision) = match &outcome {
        Outcome::Decided(v) => match v.decision {
            GateDecision::Allow => (EXIT_ALLOW, "allow"),
            GateDecision::Deny => (EXIT_DENY, "deny"),
            GateDecision::Undecided => (EXIT_UNDECIDED, "undecided"),
        },
        Outcome::Failed(_) => (EXIT_UNDECIDED, "undecided"),
    };
    let failed_open = code == EXIT_UNDECIDED && args.fail_open;
    let code = if failed_open { EXIT_ALLOW } else { code };
    match args.format {
        Format::Json => {
            let mut doc = match &outcome {
                Outcome::Decided(v) => serde_json::to_value(v).unwrap_or_default(),
                Outcome::Failed(error) => serde_json::json!({
                    "service": args.service[0],
                    "services": args.service,
                    "slo": args.slo,
                    "decision": "undecided",
                    "error": error,
                }),
            };
            if let Some(obj) = doc.as_object_mut() {
                obj.insert("fail_open".into(), failed_open.into());
                obj.insert("exit_code".into(), code.into());
                obj.insert("attempts".into(), attempts.into());
            }
            writeln!(
                out,
                "{}",
                serde_json::to_string_pretty(&doc).unwrap_or_default()
            )?;
        }
        Format::Text => {
            let services = args.service.join(", ");
            let what = match (&args.slo, args.service.len()) {
                (Some(slo), 1) => format!("{services}/{slo}"),
                (Some(slo), _) => format!("SLO {slo} of services {services}"),
                (None, 1) => format!("service {services}"),
                (None, _) => format!("services {services}"),
            };
            match &outcome {
                Outcome::Decided(v) => print_decision(out, v, decision, &what)?,
                Outcome::Failed(error) => {
                    writeln!(out, "burnrate gate: UNDECIDED for {what}: {error}")?;
                }
            }
            if failed_open {
                writeln!(
                    out,
                    "--fail-open: the gate could not decide, so the release is allowed"
                )?;
            }
        }
    }
    Ok(ExitCode::from(code))
}

fn print_decision(
    out: &mut dyn Write,
    v: &GateResult,
    decision: &str,
    what: &str,
) -> std::io::Result<()> {
    let word = |d: GateDecision| match d {
        GateDecision::Allow => "allow",
        GateDecision::Deny => "deny",
        GateDecision::Undecided => "undecided",
    };
    writeln!(out, "burnrate gate: {} for {what}", decision.to_uppercase())?;
    writeln!(out, "  {}", v.summary)?;
    if let Some(o) = &v.override_ {
        let id = v
            .decision_id
            .map_or("none".to_string(), |id| id.to_string());
        writeln!(
            out,
            "  OVERRIDE of {}: {} (recorded as decision {id})",
            word(o.overridden),
            o.reason
        )?;
    }
    if v.per_service.len() > 1 {
        for s in &v.per_service {
            writeln!(out, "  service {}: {}", s.service, word(s.decision))?;
        }
    }
    for instance in &v.instances {
        let mark = match instance.decision {
            GateDecision::Allow => "ok  ",
            GateDecision::Deny => "DENY",
            GateDecision::Undecided => "??  ",
        };
        writeln!(
            out,
            "  {mark} {}: {}",
            instance.id,
            instance.reasons.join("; ")
        )?;
    }
    if let Some(at) = v.evaluated_at {
        writeln!(
            out,
            "  (statuses evaluated at {})",
            at.to_rfc3339_opts(SecondsFormat::Millis, true)
        )?;
    }
    Ok(())
}

/// Why one attempt gave no decision, and whether another may.
struct Failure {
    message: String,
    retry: bool,
}

/// Asks until decided or `--timeout` (or `--wait-fresh`) runs out, retrying
/// what a restart or overload looks like; returns the outcome and the
/// number of attempts.
async fn ask(args: &GateArgs) -> (Outcome, u32) {
    let token = match (&args.token, &args.token_file) {
        (Some(t), _) => Some(t.clone()),
        (None, Some(path)) => match Secret::from_file(path) {
            Ok(t) => Some(t),
            Err(e) => {
                return (
                    Outcome::Failed(format!("cannot read {}: {e}", path.display())),
                    0,
                );
            }
        },
        (None, None) => None,
    };
    let client = match reqwest::Client::builder().build() {
        Ok(c) => c,
        Err(e) => {
            return (
                Outcome::Failed(format!("cannot build an HTTP client: {e}")),
                0,
            );
        }
    };
    let started = Instant::now();
    let fresh_after = args.wait_fresh.map(|_| Utc::now());
    let budget = args
        .timeout
        .to_std()
        .max(args.wait_fresh.map_or(StdDuration::ZERO, Duration::to_std));
    let deadline = started + budget;
    let request_id = request_id();
    let attempts = AtomicU32::new(0);
    let last_error = Mutex::new(String::new());
    let attempt = || async {
        attempts.fetch_add(1, Ordering::Relaxed);
        let remaining = deadline.saturating_duration_since(Instant::now());
        let result = once(
            args,
            &client,
            token.as_ref(),
            &request_id,
            fresh_after,
            remaining,
        )
        .await;
        if let Err(f) = &result
            && let Ok(mut last) = last_error.lock()
        {
            last.clone_from(&f.message);
        }
        result
    };
    let backoff = ExponentialBuilder::default()
        .with_min_delay(StdDuration::from_millis(200))
        .with_max_delay(StdDuration::from_secs(5))
        .with_jitter()
        .without_max_times();
    let retried = attempt
        .retry(backoff)
        .sleep(tokio::time::sleep)
        .when(|f: &Failure| f.retry);
    let outcome = match tokio::time::timeout_at(deadline.into(), retried).await {
        Ok(Ok(v)) => Outcome::Decided(v),
        Ok(Err(f)) => Outcome::Failed(f.message),
        Err(_) => {
            let last = last_error.lock().map(|l| l.clone()).unwrap_or_default();
            let waited = Duration::from_millis(budget.as_millis() as u64);
            Outcome::Failed(if last.is_empty() {
                format!("no answer within {waited}")
            } else {
                format!("no decision within {waited}; the last attempt: {last}")
            })
        }
    };
    (outcome, attempts.load(Ordering::Relaxed))
}

/// One request, GET (or POST with an override) within `remaining`.
async fn once(
    args: &GateArgs,
    client: &reqwest::Client,
    token: Option<&Secret>,
    request_id: &str,
    fresh_after: Option<DateTime<Utc>>,
    remaining: StdDuration,
) -> Result<Box<GateResult>, Failure> {
    let server = args.server.trim_end_matches('/');
    let url = format!("{server}/api/v1/gate");
    let fresh = fresh_after.map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true));
    let mut request = match &args.override_reason {
        None => {
            let mut query: Vec<(&str, &str)> = args
                .service
                .iter()
                .map(|s| ("service", s.as_str()))
                .collect();
            query.extend(args.slo.as_deref().map(|s| ("slo", s)));
            query.extend(args.actor.as_deref().map(|a| ("actor", a)));
            query.extend(fresh.as_deref().map(|f| ("fresh_after", f)));
            query.push(("request_id", request_id));
            client.get(&url).query(&query)
        }
        Some(reason) => client.post(&url).json(&serde_json::json!({
            "services": args.service,
            "slo": args.slo,
            "actor": args.actor,
            "request_id": request_id,
            "fresh_after": fresh,
            "override": reason,
        })),
    };
    request = request.timeout(remaining.max(StdDuration::from_millis(1)));
    if let Some(token) = token {
        request = request.bearer_auth(token.expose());
    }
    let response = request.send().await.map_err(|e| Failure {
        message: format!(
            "cannot reach burnrate at {}: {}",
            args.server,
            error_chain(&e)
        ),
        retry: true,
    })?;
    let status = response.status();
    let body = response.text().await.map_err(|e| Failure {
        message: format!("reading the answer failed: {}", error_chain(&e)),
        retry: true,
    })?;
    if status.is_success() {
        // The server's own answer type, so a change to it cannot go unnoticed here.
        return serde_json::from_str::<GateResult>(&body)
            .map(Box::new)
            .map_err(|e| Failure {
                message: format!("{url} did not answer with a gate decision: {e}"),
                retry: false,
            });
    }
    let json: Option<Value> = serde_json::from_str(&body).ok();
    let detail = json
        .as_ref()
        .and_then(|v| v["detail"].as_str())
        .map(str::to_string)
        .unwrap_or_else(|| body.chars().take(200).collect());
    Err(Failure {
        message: format!("the server answered {status}: {detail}"),
        // 409: not fresh yet (`--wait-fresh`); 5xx and 429: a restart or
        // overload.
        retry: status.is_server_error() || matches!(status.as_u16(), 409 | 429),
    })
}

/// An id for this call, the same on every retry, so the server records it once.
fn request_id() -> String {
    use std::hash::{BuildHasher, RandomState};
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let random = RandomState::new().hash_one((nanos, std::process::id()));
    format!("{nanos:x}-{:x}-{random:016x}", std::process::id())
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

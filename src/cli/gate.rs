//! `burnrate gate`: asks a running burnrate whether a service may ship, prints
//! why, and exits 0 (allow), 1 (deny) or 2 (cannot decide).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::Value;

use super::Format;
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
    /// The service to release.
    #[arg(long)]
    pub service: String,
    /// Only this SLO of the service (its name).
    #[arg(long)]
    pub slo: Option<String>,
    /// Exit 0 instead of 2 when the gate cannot decide (server unreachable, no data).
    #[arg(long)]
    pub fail_open: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// File holding the API's read token, when the server requires one.
    #[arg(long, env = "BURNRATE_API_TOKEN_FILE")]
    pub token_file: Option<PathBuf>,
    /// The read token itself, from the environment (never printed).
    #[arg(
        long,
        env = "BURNRATE_API_TOKEN",
        hide = true,
        hide_env_values = true,
        conflicts_with = "token_file"
    )]
    pub token: Option<Secret>,
    /// Give up on the server after this long.
    #[arg(long, default_value = "10s")]
    pub timeout: Duration,
}

/// The answer, or why there is none.
enum Outcome {
    Decided(Value),
    Failed(String),
}

pub fn run(args: &GateArgs, out: &mut dyn Write) -> std::io::Result<ExitCode> {
    let outcome = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(ask(args)),
        Err(e) => Outcome::Failed(format!("cannot start the async runtime: {e}")),
    };
    let (code, decision) = match &outcome {
        Outcome::Decided(v) => match v["decision"].as_str() {
            Some("allow") => (EXIT_ALLOW, "allow"),
            Some("deny") => (EXIT_DENY, "deny"),
            _ => (EXIT_UNDECIDED, "undecided"),
        },
        Outcome::Failed(_) => (EXIT_UNDECIDED, "undecided"),
    };
    let failed_open = code == EXIT_UNDECIDED && args.fail_open;
    let code = if failed_open { EXIT_ALLOW } else { code };
    match args.format {
        Format::Json => {
            let mut doc = match &outcome {
                Outcome::Decided(v) => v.clone(),
                Outcome::Failed(error) => serde_json::json!({
                    "service": args.service,
                    "slo": args.slo,
                    "decision": "undecided",
                    "error": error,
                }),
            };
            if let Some(obj) = doc.as_object_mut() {
                obj.insert("fail_open".into(), failed_open.into());
                obj.insert("exit_code".into(), code.into());
            }
            writeln!(
                out,
                "{}",
                serde_json::to_string_pretty(&doc).unwrap_or_default()
            )?;
        }
        Format::Text => {
            let what = match &args.slo {
                Some(slo) => format!("{}/{slo}", args.service),
                None => format!("service {}", args.service),
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
    v: &Value,
    decision: &str,
    what: &str,
) -> std::io::Result<()> {
    writeln!(out, "burnrate gate: {} for {what}", decision.to_uppercase())?;
    if let Some(summary) = v["summary"].as_str() {
        writeln!(out, "  {summary}")?;
    }
    for instance in v["instances"].as_array().into_iter().flatten() {
        let mark = match instance["decision"].as_str() {
            Some("allow") => "ok  ",
            Some("deny") => "DENY",
            _ => "??  ",
        };
        let id = instance["id"].as_str().unwrap_or("?");
        let reasons: Vec<&str> = instance["reasons"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        writeln!(out, "  {mark} {id}: {}", reasons.join("; "))?;
    }
    if let Some(at) = v["evaluated_at"].as_str() {
        writeln!(out, "  (statuses evaluated at {at})")?;
    }
    Ok(())
}

async fn ask(args: &GateArgs) -> Outcome {
    let token = match (&args.token, &args.token_file) {
        (Some(t), _) => Some(t.clone()),
        (None, Some(path)) => match Secret::from_file(path) {
            Ok(t) => Some(t),
            Err(e) => return Outcome::Failed(format!("cannot read {}: {e}", path.display())),
        },
        (None, None) => None,
    };
    let client = match reqwest::Client::builder()
        .timeout(args.timeout.to_std())
        .build()
    {
        Ok(c) => c,
        Err(e) => return Outcome::Failed(format!("cannot build an HTTP client: {e}")),
    };
    let url = format!("{}/api/v1/gate", args.server.trim_end_matches('/'));
    let mut query = vec![("service", args.service.as_str())];
    if let Some(slo) = &args.slo {
        query.push(("slo", slo));
    }
    let mut request = client.get(&url).query(&query);
    if let Some(token) = &token {
        request = request.bearer_auth(token.expose());
    }
    let response = match request.send().await {
        Ok(r) => r,
        Err(e) => {
            return Outcome::Failed(format!(
                "cannot reach burnrate at {}: {}",
                args.server,
                error_chain(&e)
            ));
        }
    };
    let status = response.status();
    let body = match response.text().await {
        Ok(b) => b,
        Err(e) => {
            return Outcome::Failed(format!("reading the answer failed: {}", error_chain(&e)));
        }
    };
    let json: Option<Value> = serde_json::from_str(&body).ok();
    if status.is_success() {
        match json {
            Some(v) if v["decision"].is_string() => Outcome::Decided(v),
            _ => Outcome::Failed(format!("{url} did not answer with a gate decision")),
        }
    } else {
        let detail = json
            .as_ref()
            .and_then(|v| v["detail"].as_str())
            .map(str::to_string)
            .unwrap_or_else(|| body.chars().take(200).collect());
        Outcome::Failed(format!("the server answered {status}: {detail}"))
    }
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

//! A server running as a child process, with its output in a log file.

use std::ffi::OsString;
use std::fs::OpenOptions;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Finds a server binary: `$env_var` when set, else `name` on `PATH`.
/// Panics, pointing at `scripts/test.sh`, when it is missing.
pub fn find_binary(env_var: &str, name: &str) -> PathBuf {
    if let Some(p) = std::env::var_os(env_var).filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        assert!(
            p.is_file(),
            "{env_var}={} does not exist; run the tests through scripts/test.sh, \
             which installs the servers and sets {env_var}",
            p.display()
        );
        return p;
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    panic!(
        "`{name}` not found ({env_var} is unset and it is not on PATH); \
         run the tests through scripts/test.sh, which installs it and sets {env_var}"
    );
}

/// A child process whose stdout and stderr go to `log_path` (appended to
/// across restarts). Killed (SIGKILL) on drop.
pub struct ServerProcess {
    name: String,
    program: PathBuf,
    args: Vec<OsString>,
    log_path: PathBuf,
    child: Option<Child>,
}

impl ServerProcess {
    /// Creates the description; call [`Self::spawn`] to run it.
    pub fn new(name: &str, program: PathBuf, args: Vec<OsString>, log_path: PathBuf) -> Self {
        Self {
            name: name.to_string(),
            program,
            args,
            log_path,
            child: None,
        }
    }

    pub fn set_args(&mut self, args: Vec<OsString>) {
        self.args = args;
    }

    /// Starts the process (it must not be running).
    pub fn spawn(&mut self) {
        assert!(self.child.is_none(), "{} is already running", self.name);
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .unwrap_or_else(|e| panic!("open {}: {e}", self.log_path.display()));
        let log2 = log.try_clone().expect("clone log file handle");
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.args)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2);
        // If the test process dies without running destructors (a nextest
        // timeout kills it), take the server down with it instead of leaving
        // an orphan. PDEATHSIG fires when the *thread* that spawned the child
        // exits; servers are spawned from the test's runtime threads, which
        // live as long as the test.
        // SAFETY: prctl is async-signal-safe and touches no memory of ours.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {} ({}): {e}", self.name, self.program.display()));
        self.child = Some(child);
    }

    /// Whether the process is running; reaps it if it has exited.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut().map(|c| c.try_wait()) {
            Some(Ok(None)) => true,
            Some(_) => {
                self.child = None;
                false
            }
            None => false,
        }
    }

    /// Polls `url` until it answers 2xx. Fails when the process exits or
    /// `timeout` passes; the error includes the end of the log.
    pub async fn wait_ready(
        &mut self,
        client: &reqwest::Client,
        url: &str,
        timeout: Duration,
    ) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        let mut last = String::from("no answer yet");
        loop {
            if !self.is_running() {
                return Err(format!(
                    "{} exited before becoming ready ({last}); log:\n{}",
                    self.name,
                    self.log_tail(4000)
                ));
            }
            match client.get(url).timeout(Duration::from_secs(2)).send().await {
                Ok(r) if r.status().is_success() => return Ok(()),
                Ok(r) => last = format!("HTTP {}", r.status()),
                Err(e) => last = e.to_string(),
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "{} not ready at {url} after {timeout:?} ({last}); log:\n{}",
                    self.name,
                    self.log_tail(4000)
                ));
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Sends SIGTERM and waits for a clean exit; SIGKILL after `timeout`.
    pub async fn terminate(&mut self, timeout: Duration) {
        let Some(child) = self.child.as_mut() else {
            return;
        };
        // SAFETY: plain kill(2) on our own child's pid.
        unsafe {
            libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
        }
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                self.child = None;
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.kill();
    }

    /// SIGKILL, like a crash; waits for the process to be gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// The last `max_bytes` of the log.
    pub fn log_tail(&self, max_bytes: usize) -> String {
        let log = std::fs::read(&self.log_path).unwrap_or_default();
        let start = log.len().saturating_sub(max_bytes);
        String::from_utf8_lossy(&log[start..]).into_owned()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

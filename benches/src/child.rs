//! Child processes of the benches: spawned without the token variables,
//! killed and reaped if dropped running, with their CPU time and peak RSS
//! read from /proc while they run.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::proc;

/// How long a process may take to exit after SIGTERM before it is killed.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// Environment variables that would make the children ask for tokens.
pub const TOKEN_VARS: [&str; 2] = ["VIGIL_INGEST_TOKEN", "VIGIL_API_TOKEN"];

/// CPU time and peak RSS of one process.
#[derive(Debug, Clone, Copy, Default)]
pub struct Usage {
    /// User plus system CPU time.
    pub cpu: Duration,
    /// Peak resident set, bytes.
    pub max_rss: u64,
}

/// A child process that is killed and reaped if it is dropped running.
pub struct Proc {
    /// What it is, for messages (`agent`, `collector`).
    pub name: &'static str,
    /// The running child.
    pub child: Child,
}

impl Proc {
    /// Spawns `cmd` with stdin closed, stderr to `stderr_path`, and stdout
    /// piped (returned) when `pipe_stdout`, else discarded.
    pub fn spawn(
        name: &'static str,
        mut cmd: Command,
        stderr_path: &Path,
        pipe_stdout: bool,
    ) -> Result<(Proc, Option<std::process::ChildStdout>)> {
        let stderr = File::create(stderr_path)
            .with_context(|| format!("cannot create {}", stderr_path.display()))?;
        for var in TOKEN_VARS {
            cmd.env_remove(var);
        }
        cmd.stdin(Stdio::null())
            .stdout(if pipe_stdout {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stderr(Stdio::from(stderr));
        let mut child = cmd.spawn().with_context(|| format!("cannot run {cmd:?}"))?;
        let stdout = child.stdout.take();
        Ok((Proc { name, child }, stdout))
    }

    /// CPU time and peak RSS so far (the process must be running).
    pub fn usage(&self) -> Result<Usage> {
        let pid = self.child.id();
        Ok(Usage {
            cpu: proc::cpu_time(pid).with_context(|| format!("CPU time of the {}", self.name))?,
            max_rss: proc::peak_rss(pid)
                .with_context(|| format!("peak RSS of the {}", self.name))?,
        })
    }

    /// SIGTERM, then waits for the exit ([`STOP_TIMEOUT`], then SIGKILL).
    pub fn stop(&mut self) -> Result<ExitStatus> {
        if let Some(status) = self.child.try_wait()? {
            return Ok(status);
        }
        proc::terminate(self.child.id())?;
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        eprintln!(
            "warning: the {} did not exit within {} s of SIGTERM; killed",
            self.name,
            STOP_TIMEOUT.as_secs()
        );
        self.child.kill()?;
        Ok(self.child.wait()?)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Reads the collector's stdout to its end (so it never blocks on a full
/// pipe), sending the `host:port` of its `listening on http://…` line.
pub fn drain_stdout(out: std::process::ChildStdout, addr: mpsc::Sender<String>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut sent = false;
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if sent {
                continue;
            }
            if let Some((_, url)) = line.split_once("listening on http://") {
                let authority = url.trim().trim_end_matches('/').to_string();
                sent = addr.send(authority).is_ok();
            }
        }
    })
}

/// The last lines of a child's stderr file, for error messages.
pub fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// Removes a folder when dropped.
pub struct RemoveOnDrop(pub PathBuf);

impl RemoveOnDrop {
    /// A fresh, empty folder `<parent>/<name>-<pid>` (absolute, since the
    /// children's configurations name files in it), removed when dropped.
    pub fn fresh(parent: &Path, name: &str) -> Result<RemoveOnDrop> {
        let dir = parent.join(format!("{name}-{}", std::process::id()));
        if dir.exists() {
            std::fs::remove_dir_all(&dir)
                .with_context(|| format!("cannot empty {}", dir.display()))?;
        }
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        Ok(RemoveOnDrop(dir.canonicalize()?))
    }
}

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

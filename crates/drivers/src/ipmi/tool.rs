//! Running `ipmitool`, in two layers so each can be replaced in tests:
//!
//! - [`IpmiTool`]: "run this ipmitool command against this node's BMC".
//!   The interfaces speak only this, so a unit test can script a BMC.
//! - [`ProcessRunner`]: "run this argv with this timeout". [`Ipmitool`]
//!   (the real [`IpmiTool`]) builds the argv, hands the password over in a
//!   private file, serialises calls per BMC and classifies failures; the
//!   runner only spawns. A test runner sees exactly what would be executed,
//!   which is how the suite proves the password is never on a command line
//!   (where every local user could read it in `/proc/*/cmdline`).

use std::collections::HashMap;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tracing::debug;

use super::config::IpmiConfig;
use crate::DriverError;

/// Why an `ipmitool` command failed. Messages name the BMC (`host:port`)
/// and the command, never the password: ipmitool's own output is scrubbed
/// of it before it is put into one of these.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum IpmiError {
    /// ipmitool could not be started at all (not installed, …).
    #[error(
        "Cannot run {program}: {reason}. Install the ipmitool package \
         (scripts/install-ipmi-tools.sh)."
    )]
    Spawn {
        /// The program that was executed.
        program: String,
        /// What the operating system said.
        reason: String,
    },
    /// The password file could not be written.
    #[error("Cannot prepare the IPMI password file: {0}")]
    PasswordFile(String),
    /// No session could be opened: wrong credentials, wrong cipher suite,
    /// privilege level above the user's, or no BMC answering.
    #[error(
        "Cannot open an IPMI session with the BMC at {endpoint}{user}: {message}. Check \
         ipmi_address, ipmi_port, ipmi_username, ipmi_password and ipmi_priv_level \
         (the BMC refused them or did not answer)."
    )]
    Session {
        /// `host:port` of the BMC.
        endpoint: String,
        /// ` as user <name>`, or empty for the anonymous user.
        user: String,
        /// ipmitool's explanation.
        message: String,
    },
    /// ipmitool did not finish in time and was killed.
    #[error("ipmitool {command} against the BMC at {endpoint} did not finish within {secs} s")]
    Timeout {
        /// `host:port` of the BMC.
        endpoint: String,
        /// The ipmitool command (`chassis power status`).
        command: String,
        /// The time limit.
        secs: u64,
    },
    /// The BMC answered the command with an error.
    #[error("The BMC at {endpoint} failed ipmitool {command}: {message}")]
    Command {
        /// `host:port` of the BMC.
        endpoint: String,
        /// The ipmitool command.
        command: String,
        /// ipmitool's explanation (its exit status when it said nothing).
        message: String,
    },
    /// ipmitool succeeded but said something we cannot interpret.
    #[error("Unexpected output from ipmitool {command} against the BMC at {endpoint}: {output:?}")]
    Output {
        /// `host:port` of the BMC.
        endpoint: String,
        /// The ipmitool command.
        command: String,
        /// What it printed.
        output: String,
    },
}

impl From<IpmiError> for DriverError {
    fn from(e: IpmiError) -> DriverError {
        DriverError::Failed(e.to_string())
    }
}

/// What the interfaces need: one ipmitool command against a node's BMC.
#[async_trait]
pub trait IpmiTool: Send + Sync {
    /// Runs `ipmitool <connection options> <command…>` against the BMC of
    /// `config` and returns its standard output; any failure is an error.
    async fn run(&self, config: &IpmiConfig, command: &[&str]) -> Result<String, IpmiError>;
}

/// One process to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// The executable.
    pub program: PathBuf,
    /// Its arguments (argv without argv\[0\]).
    pub args: Vec<String>,
    /// Killed when it runs longer than this.
    pub timeout: Duration,
}

/// How a process ended.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProcessOutput {
    /// Whether it exited with status 0.
    pub success: bool,
    /// Its exit code (`None` when a signal ended it).
    pub code: Option<i32>,
    /// Standard output, lossily decoded.
    pub stdout: String,
    /// Standard error, lossily decoded.
    pub stderr: String,
}

/// Why a process produced no [`ProcessOutput`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RunError {
    /// It could not be started.
    #[error("{0}")]
    Spawn(String),
    /// It ran past its timeout and was killed.
    #[error("timed out")]
    Timeout,
}

/// Spawns processes: the one place a subprocess is created, so tests can
/// substitute a recorder.
#[async_trait]
pub trait ProcessRunner: Send + Sync {
    /// Runs `invocation` to completion or until its timeout.
    async fn run(&self, invocation: &Invocation) -> Result<ProcessOutput, RunError>;
}

/// The real runner: tokio's process support, stdin closed, the child
/// killed when the timeout elapses (or the caller gives up).
#[derive(Debug, Default, Clone, Copy)]
pub struct TokioRunner;

#[async_trait]
impl ProcessRunner for TokioRunner {
    async fn run(&self, invocation: &Invocation) -> Result<ProcessOutput, RunError> {
        let mut cmd = tokio::process::Command::new(&invocation.program);
        cmd.args(&invocation.args)
            // ipmitool would take these for -E; none of ours must leak in.
            .env_remove("IPMI_PASSWORD")
            .env_remove("IPMITOOL_PASSWORD")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let child = cmd.spawn().map_err(|e| RunError::Spawn(e.to_string()))?;
        // Dropping the future on timeout drops the child: kill_on_drop
        // sends SIGKILL and tokio reaps it.
        match tokio::time::timeout(invocation.timeout, child.wait_with_output()).await {
            Err(_) => Err(RunError::Timeout),
            Ok(Err(e)) => Err(RunError::Spawn(e.to_string())),
            Ok(Ok(out)) => Ok(ProcessOutput {
                success: out.status.success(),
                code: out.status.code(),
                stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            }),
        }
    }
}

/// Knobs of the subprocess implementation that are not per node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpmitoolOptions {
    /// The ipmitool executable (found on `PATH` by default).
    pub program: PathBuf,
    /// `-R`: how often ipmitool retries one IPMI request.
    pub retries: u32,
    /// `-N`: seconds between those retries.
    pub retry_interval_secs: u32,
    /// Wall-clock limit of one invocation; the child is killed after it.
    pub timeout: Duration,
}

impl Default for IpmitoolOptions {
    fn default() -> Self {
        IpmitoolOptions {
            program: PathBuf::from("ipmitool"),
            retries: 3,
            retry_interval_secs: 1,
            timeout: Duration::from_secs(60),
        }
    }
}

/// The real [`IpmiTool`]: runs the `ipmitool` program.
pub struct Ipmitool {
    runner: Arc<dyn ProcessRunner>,
    options: IpmitoolOptions,
}

impl Ipmitool {
    /// ipmitool from `PATH` through [`TokioRunner`] with default options.
    pub fn new() -> Ipmitool {
        Ipmitool::with_runner(Arc::new(TokioRunner), IpmitoolOptions::default())
    }

    /// ipmitool run through `runner` (a recorder in tests).
    pub fn with_runner(runner: Arc<dyn ProcessRunner>, options: IpmitoolOptions) -> Ipmitool {
        Ipmitool { runner, options }
    }

    /// The argv (without the program) for `command` against `config`'s
    /// BMC, reading the password from `password_file` when there is one.
    /// The password itself is never an argument.
    pub fn build_args(
        &self,
        config: &IpmiConfig,
        password_file: Option<&Path>,
        command: &[&str],
    ) -> Vec<String> {
        let mut args: Vec<String> = vec![
            "-I".into(),
            config.protocol.interface().into(),
            "-H".into(),
            config.address.clone(),
            "-p".into(),
            config.port.to_string(),
            "-L".into(),
            config.priv_level.as_str().into(),
        ];
        if let Some(user) = &config.username {
            args.extend(["-U".into(), user.clone()]);
        }
        if let Some(suite) = config.cipher_suite {
            args.extend(["-C".into(), suite.to_string()]);
        }
        args.extend([
            "-N".into(),
            self.options.retry_interval_secs.to_string(),
            "-R".into(),
            self.options.retries.to_string(),
        ]);
        args.extend(config.bridging.args());
        if let Some(file) = password_file {
            args.extend(["-f".into(), file.display().to_string()]);
        }
        args.extend(command.iter().map(|s| s.to_string()));
        args
    }
}

impl Default for Ipmitool {
    fn default() -> Self {
        Ipmitool::new()
    }
}

/// The password in a file only its owner can read, removed when dropped
/// (also when the invocation times out or the caller is cancelled).
struct PasswordFile {
    path: PathBuf,
}

impl PasswordFile {
    fn create(password: &str) -> Result<PasswordFile, IpmiError> {
        let path = std::env::temp_dir().join(format!("ferrite-ipmi-{}.pw", uuid::Uuid::new_v4()));
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| IpmiError::PasswordFile(format!("{}: {e}", path.display())))?;
        let guard = PasswordFile { path };
        file.write_all(password.as_bytes())
            .and_then(|()| file.flush())
            .map_err(|e| IpmiError::PasswordFile(format!("{}: {e}", guard.path.display())))?;
        Ok(guard)
    }
}

impl Drop for PasswordFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// One lock per BMC (`host:port`): BMCs handle parallel sessions poorly,
/// so at most one ipmitool runs against each, whichever node asks.
static BMC_LOCKS: LazyLock<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

fn bmc_lock(endpoint: &str) -> Arc<tokio::sync::Mutex<()>> {
    let mut locks = BMC_LOCKS.lock().unwrap_or_else(|p| p.into_inner());
    // Forget locks nobody holds or waits for, so the map stays small.
    locks.retain(|_, l| Arc::strong_count(l) > 1);
    locks.entry(endpoint.to_string()).or_default().clone()
}

/// `text` with every occurrence of the password masked.
fn scrub(text: &str, config: &IpmiConfig) -> String {
    let pw = config.password.expose();
    let text = text.trim();
    if pw.is_empty() {
        text.to_string()
    } else {
        text.replace(pw, "******")
    }
}

/// ipmitool's explanation: its error lines, without the warnings it prints
/// on success too.
fn explanation(out: &ProcessOutput, config: &IpmiConfig) -> String {
    let lines: Vec<&str> = out
        .stderr
        .lines()
        .chain(out.stdout.lines())
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("Unable to Get Channel Cipher Suites"))
        .collect();
    if lines.is_empty() {
        match out.code {
            Some(code) => format!("ipmitool exited with status {code}"),
            None => "ipmitool was killed by a signal".to_string(),
        }
    } else {
        scrub(&lines.join("; "), config)
    }
}

fn is_session_failure(message: &str) -> bool {
    [
        "Unable to establish",
        "RAKP",
        "Activate Session",
        "Get Auth Capabilities",
        "Get Session Challenge",
        "authentication",
        "Invalid user name",
    ]
    .iter()
    .any(|m| message.contains(m))
}

#[async_trait]
impl IpmiTool for Ipmitool {
    async fn run(&self, config: &IpmiConfig, command: &[&str]) -> Result<String, IpmiError> {
        let endpoint = config.endpoint();
        let command_text = command.join(" ");
        let lock = bmc_lock(&endpoint);
        let _serialised = lock.lock().await;
        let password = if config.password.is_empty() {
            None
        } else {
            Some(PasswordFile::create(config.password.expose())?)
        };
        let invocation = Invocation {
            program: self.options.program.clone(),
            args: self.build_args(config, password.as_ref().map(|p| p.path.as_path()), command),
            timeout: self.options.timeout,
        };
        debug!(bmc = %endpoint, command = %command_text, "running ipmitool");
        let result = self.runner.run(&invocation).await;
        drop(password);
        let out = match result {
            Ok(out) => out,
            Err(RunError::Spawn(reason)) => {
                return Err(IpmiError::Spawn {
                    program: self.options.program.display().to_string(),
                    reason,
                });
            }
            Err(RunError::Timeout) => {
                return Err(IpmiError::Timeout {
                    endpoint,
                    command: command_text,
                    secs: self.options.timeout.as_secs(),
                });
            }
        };
        if out.success {
            if !out.stderr.trim().is_empty() {
                debug!(bmc = %endpoint, stderr = %scrub(&out.stderr, config), "ipmitool warnings");
            }
            return Ok(out.stdout);
        }
        let message = explanation(&out, config);
        if is_session_failure(&message) {
            return Err(IpmiError::Session {
                endpoint,
                user: config
                    .username
                    .as_ref()
                    .map(|u| format!(" as user {u}"))
                    .unwrap_or_default(),
                message,
            });
        }
        Err(IpmiError::Command {
            endpoint,
            command: command_text,
            message,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrite_model::Node;
    use serde_json::json;

    fn config(info: serde_json::Value) -> IpmiConfig {
        let serde_json::Value::Object(map) = info else {
            panic!("object")
        };
        let node = Node {
            driver_info: map,
            ..Node::default()
        };
        match IpmiConfig::from_node(&node) {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        }
    }

    struct Canned(ProcessOutput);

    #[async_trait]
    impl ProcessRunner for Canned {
        async fn run(&self, _: &Invocation) -> Result<ProcessOutput, RunError> {
            Ok(self.0.clone())
        }
    }

    fn failing(stderr: &str) -> Ipmitool {
        Ipmitool::with_runner(
            Arc::new(Canned(ProcessOutput {
                success: false,
                code: Some(1),
                stdout: String::new(),
                stderr: stderr.into(),
            })),
            IpmitoolOptions::default(),
        )
    }

    #[tokio::test]
    async fn failures_are_classified_and_scrubbed() {
        let c = config(json!({"ipmi_address": "bmc", "ipmi_username": "root",
                              "ipmi_password": "hunter2-pw"}));
        let e = failing("Error: Unable to establish IPMI v2 / RMCP+ session")
            .run(&c, &["chassis", "power", "status"])
            .await;
        let Err(e @ IpmiError::Session { .. }) = e else {
            panic!("{e:?}")
        };
        let text = e.to_string();
        assert!(text.contains("bmc:623") && text.contains("root"), "{text}");
        assert!(text.contains("ipmi_password"), "{text}");

        let e = failing("echoing hunter2-pw back\nSet Chassis Power Control to Diag failed")
            .run(&c, &["chassis", "power", "diag"])
            .await;
        let Err(e @ IpmiError::Command { .. }) = e else {
            panic!("{e:?}")
        };
        assert!(!e.to_string().contains("hunter2-pw"), "{e}");
        assert!(e.to_string().contains("Diag failed"), "{e}");

        let e = failing("").run(&c, &["raw", "0x00"]).await;
        assert!(
            matches!(&e, Err(IpmiError::Command { message, .. }) if message.contains("status 1")),
            "{e:?}"
        );
    }

    #[tokio::test]
    async fn a_missing_program_says_what_to_install() {
        let tool = Ipmitool::with_runner(
            Arc::new(TokioRunner),
            IpmitoolOptions {
                program: PathBuf::from("/nonexistent/ipmitool"),
                ..IpmitoolOptions::default()
            },
        );
        let c = config(json!({"ipmi_address": "127.0.0.1"}));
        let e = tool.run(&c, &["chassis", "power", "status"]).await;
        assert!(
            matches!(&e, Err(IpmiError::Spawn { reason, .. }) if !reason.is_empty()),
            "{e:?}"
        );
        let Err(e) = e else { panic!("ran") };
        assert!(e.to_string().contains("install-ipmi-tools.sh"), "{e}");
    }

    #[tokio::test]
    async fn the_runner_kills_what_overruns() {
        let started = std::time::Instant::now();
        let r = TokioRunner
            .run(&Invocation {
                program: PathBuf::from("sleep"),
                args: vec!["30".into()],
                timeout: Duration::from_millis(200),
            })
            .await;
        assert_eq!(r, Err(RunError::Timeout));
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}

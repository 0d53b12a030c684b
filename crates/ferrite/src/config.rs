//! Configuration of `ferrite`: one TOML file, `FERRITE_*` environment
//! variables and command-line flags, merged in that order of strength over
//! built-in defaults (defaults < file < environment < flags).
//!
//! Every key here is documented in `docs/configuration.md`; keep the two in
//! step.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use figment::Figment;
use figment::providers::{Env, Format as _, Serialized, Toml};
use serde::{Deserialize, Deserializer, Serialize};

/// The port Ironic has always used; clients default to it.
pub const DEFAULT_PORT: u16 = 6385;

/// Prefix of every environment variable Ferrite reads.
const ENV_PREFIX: &str = "FERRITE_";

/// Top-level keys that may be set from `FERRITE_<KEY>`. Anything else with
/// the prefix (such as `FERRITE_CONFIG`, read by the flag parser) is left
/// alone so that it cannot trip the unknown-key check.
const TOP_LEVEL_ENV_KEYS: &[&str] = &[
    "listen",
    "data_dir",
    "database",
    "auth_strategy",
    "htpasswd",
    "public_url",
    "hostname",
    "log_format",
    "log_level",
    "max_body_bytes",
    "shutdown_timeout",
    "boot_listen",
];

/// How API requests are authenticated. Chosen by the operator because the
/// safe choice depends on who can reach the listeners.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
pub enum AuthStrategy {
    /// No authentication: anyone who reaches the port is admin. Only allowed
    /// when every listener is on loopback.
    #[default]
    #[serde(rename = "noauth")]
    #[value(name = "noauth")]
    NoAuth,
    /// HTTP Basic against an htpasswd file of bcrypt entries, as Ironic
    /// standalone does.
    #[serde(rename = "http_basic")]
    #[value(name = "http_basic")]
    HttpBasic,
}

impl AuthStrategy {
    /// The name used in flags, files and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthStrategy::NoAuth => "noauth",
            AuthStrategy::HttpBasic => "http_basic",
        }
    }
}

/// How log lines are written to standard error: text for people, JSON for
/// log collectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One human-readable line per event.
    #[default]
    Text,
    /// One JSON object per event.
    Json,
}

/// The merged configuration of a `ferrite` process.
///
/// Unknown keys are refused so that a misspelt option fails loudly instead
/// of silently keeping its default.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Addresses the API listens on (one or more `IP:PORT`).
    #[serde(deserialize_with = "deserialize_listen")]
    pub listen: Vec<SocketAddr>,
    /// Directory holding the SQLite database (`ferrite.sqlite`) when
    /// `database` is unset; created if missing.
    pub data_dir: PathBuf,
    /// The database URL: `sqlite:PATH` or `postgresql://USER:PASSWORD@HOST/DB`;
    /// unset means SQLite in `data_dir`.
    pub database: Option<String>,
    /// How requests are authenticated.
    pub auth_strategy: AuthStrategy,
    /// htpasswd file (bcrypt entries) used by `http_basic`.
    pub htpasswd: Option<PathBuf>,
    /// Base URL put into `links` (set when behind a proxy); the request's
    /// Host header is used otherwise.
    pub public_url: Option<String>,
    /// Conductor name shown in `/v1/conductors` and a node's `conductor`;
    /// the machine's hostname when unset.
    pub hostname: Option<String>,
    /// Log line format.
    pub log_format: LogFormat,
    /// Log filter (`info`, `debug`, `ferrite_api=debug,info`, …); when unset
    /// `RUST_LOG` is used, and `info` when that is unset too.
    pub log_level: Option<String>,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Seconds to let in-flight requests finish after SIGTERM/SIGINT before
    /// they are cut off.
    pub shutdown_timeout: u64,
    /// The `[conductor]` section, owned by the conductor crate.
    pub conductor: ferrite_conductor::ConductorConfig,
    /// The `[fake]` section: delays of the `fake` hardware interfaces.
    pub fake: ferrite_drivers::FakeDelays,
    /// The provisioning listener (`IP:PORT`): boot files, images and the
    /// agent's endpoints only, without authentication, for the network
    /// booting machines are on. Off when unset.
    #[serde(deserialize_with = "deserialize_boot_listen")]
    pub boot_listen: Option<SocketAddr>,
    /// The `[boot]` section, owned by the boot crate.
    pub boot: ferrite_boot::BootConfig,
    /// The `[feed]` section: change-feed retention and webhook delivery.
    pub feed: ferrite_conductor::FeedConfig,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            listen: vec![SocketAddr::new(
                IpAddr::V4(Ipv4Addr::LOCALHOST),
                DEFAULT_PORT,
            )],
            data_dir: PathBuf::from("./ferrite-data"),
            database: None,
            auth_strategy: AuthStrategy::NoAuth,
            htpasswd: None,
            public_url: None,
            hostname: None,
            log_format: LogFormat::Text,
            log_level: None,
            // The API's own default, so the binary and the API's tests agree.
            max_body_bytes: ferrite_api::protocol::body::DEFAULT_MAX_BODY,
            shutdown_timeout: 30,
            conductor: Default::default(),
            fake: Default::default(),
            boot_listen: None,
            boot: Default::default(),
            feed: Default::default(),
        }
    }
}

/// Options given on the command line. Every field is optional so that an
/// absent flag leaves the file or environment value in place; present ones
/// are merged last, and so win.
#[derive(Debug, Clone, Default, Serialize, clap::Args)]
pub struct Flags {
    /// TOML configuration file.
    #[arg(long, value_name = "FILE", env = "FERRITE_CONFIG", global = true)]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// Directory for the SQLite database [default: ./ferrite-data].
    #[arg(long, value_name = "DIR", global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    /// Database URL, sqlite:PATH or postgresql://… [default: SQLite in --data-dir].
    #[arg(long, value_name = "URL", global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    /// Log filter such as `info` or `ferrite_api=debug,info` [default: RUST_LOG, else info].
    #[arg(long, value_name = "FILTER", global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_level: Option<String>,
    /// Log line format [default: text].
    #[arg(long, value_name = "FORMAT", global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_format: Option<LogFormat>,
}

/// Flags only `ferrite serve` takes.
#[derive(Debug, Clone, Default, Serialize, clap::Args)]
pub struct ServeFlags {
    /// Address to listen on, IP:PORT; repeat for several [default: 127.0.0.1:6385].
    #[arg(long, value_name = "ADDR:PORT", value_parser = parse_listen)]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub listen: Vec<SocketAddr>,
    /// How API requests are authenticated [default: noauth].
    #[arg(long, value_name = "STRATEGY")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_strategy: Option<AuthStrategy>,
    /// htpasswd file with bcrypt entries, for http_basic.
    #[arg(long, value_name = "FILE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub htpasswd: Option<PathBuf>,
    /// Base URL used in response links, e.g. https://bm.example.com:6385.
    #[arg(long, value_name = "URL")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
    /// Conductor name [default: the machine's hostname].
    #[arg(long, value_name = "NAME")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// Provisioning listener, IP:PORT: boot files, images and the agent's
    /// endpoints only [default: off].
    #[arg(long, value_name = "ADDR:PORT", value_parser = parse_listen)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub boot_listen: Option<SocketAddr>,
}

/// Flags only `ferrite conductor` takes; each has a configuration-file
/// equivalent (`hostname`, `[conductor] conductor_group`, `[conductor]
/// roles`) that the flag overrides.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ConductorFlags {
    /// This conductor's unique name: registered, written into the locks it
    /// holds and shown as a node's `conductor` [default: the machine's
    /// hostname].
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// The conductor group it serves; a node of group G is only ever worked
    /// on by conductors of G [default: "", the default group].
    #[arg(long, value_name = "GROUP")]
    pub group: Option<String>,
    /// The kinds of work it takes, comma-separated: power (power-state
    /// sync), provision (provisioning and driver calls) [default: all].
    #[arg(long, value_name = "ROLE,…", value_delimiter = ',')]
    pub roles: Vec<String>,
}

impl ConductorFlags {
    /// Lays the flags over the loaded settings and checks the roles.
    pub fn apply(&self, settings: &mut Settings) -> anyhow::Result<()> {
        if let Some(name) = &self.name {
            settings.hostname = Some(name.clone());
        }
        if let Some(group) = &self.group {
            settings.conductor.conductor_group = group.clone();
        }
        if !self.roles.is_empty() {
            settings.conductor.roles = self.roles.iter().map(|r| r.trim().to_string()).collect();
        }
        check_roles(&settings.conductor.roles)?;
        if settings.effective_hostname().is_empty() {
            anyhow::bail!("the conductor's name must not be empty");
        }
        Ok(())
    }
}

/// Refuses roles nobody would route work to.
pub fn check_roles(roles: &[String]) -> anyhow::Result<()> {
    for role in roles {
        if !ferrite_conductor::ROLES.contains(&role.as_str()) {
            anyhow::bail!(
                "unknown conductor role {role:?}; known roles: {}",
                ferrite_conductor::ROLES.join(", ")
            );
        }
    }
    Ok(())
}

/// Parses a listener address. `localhost` is accepted as 127.0.0.1 because
/// people type it; other host names are refused so that what is bound (and
/// checked for loopback) is exactly what was asked for.
pub fn parse_listen(s: &str) -> Result<SocketAddr, String> {
    let s = s.trim();
    if let Ok(addr) = s.parse::<SocketAddr>() {
        return Ok(addr);
    }
    if let Some(port) = s.strip_prefix("localhost:")
        && let Ok(port) = port.parse::<u16>()
    {
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port));
    }
    Err(format!(
        "invalid listen address {s:?}: expected IP:PORT such as 127.0.0.1:6385 or [::1]:6385"
    ))
}

/// Accepts `listen` as a list of addresses or as one string holding one or
/// more addresses separated by commas or spaces, so that
/// `FERRITE_LISTEN=127.0.0.1:6385,[::1]:6385` and `listen = "…"` both work.
fn deserialize_listen<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<SocketAddr>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    let items = match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => s
            .split([',', ' '])
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .collect(),
        OneOrMany::Many(v) => v,
    };
    if items.is_empty() {
        return Err(serde::de::Error::custom(
            "listen: at least one address is required",
        ));
    }
    items
        .iter()
        .map(|s| parse_listen(s).map_err(serde::de::Error::custom))
        .collect()
}

/// Accepts `boot_listen` as a string (file or environment), parsed like
/// `listen`.
fn deserialize_boot_listen<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<SocketAddr>, D::Error> {
    Option::<String>::deserialize(d)?
        .map(|s| parse_listen(&s).map_err(serde::de::Error::custom))
        .transpose()
}

/// Builds the layered configuration source. Separate from [`load`] so tests
/// can inspect or extend it.
pub fn figment(flags: &Flags, serve: Option<&ServeFlags>) -> Figment {
    let mut fig = Figment::new();
    if let Some(path) = &flags.config {
        fig = fig.merge(Toml::file_exact(path));
    }
    fig = fig
        .merge(
            Env::prefixed(ENV_PREFIX)
                .only(TOP_LEVEL_ENV_KEYS)
                .lowercase(true),
        )
        // Section keys contain underscores themselves (`deploy_delay`), so
        // the section is split off by prefix rather than at every `_`.
        .merge(section_env("FAKE_", "fake"))
        .merge(section_env("CONDUCTOR_", "conductor"))
        // FERRITE_BOOT_LISTEN is the top-level `boot_listen`, not `[boot] listen`.
        .merge(section_env("BOOT_", "boot").ignore(&["listen"]))
        .merge(section_env("FEED_", "feed"))
        .merge(Serialized::defaults(flags));
    if let Some(serve) = serve {
        fig = fig.merge(Serialized::defaults(serve));
    }
    fig
}

/// `FERRITE_<SECTION>_<KEY>` → `<section>.<key>`.
fn section_env(infix: &str, section: &'static str) -> Env {
    Env::prefixed(&format!("{ENV_PREFIX}{infix}"))
        .lowercase(true)
        .map(move |key| format!("{section}.{}", key.as_str()).into())
}

/// Loads and checks the configuration. A missing `--config` file is an
/// error (the operator named it, so it must exist); without `--config` no
/// file is read.
pub fn load(flags: &Flags, serve: Option<&ServeFlags>) -> anyhow::Result<Settings> {
    if let Some(path) = &flags.config
        && !path.is_file()
    {
        anyhow::bail!(
            "configuration file {} does not exist or is not a file",
            path.display()
        );
    }
    let fig = figment(flags, serve);
    refuse_unknown_section_keys::<ferrite_drivers::FakeDelays>(&fig, "fake")?;
    refuse_unknown_section_keys::<ferrite_conductor::ConductorConfig>(&fig, "conductor")?;
    refuse_unknown_section_keys::<ferrite_boot::BootConfig>(&fig, "boot")?;
    let settings: Settings = fig
        .extract()
        .map_err(|e| anyhow::anyhow!(render_figment_error(e)))
        .context("invalid configuration")?;
    settings.validate()?;
    Ok(settings)
}

/// Refuses keys of `[section]` (from the file or `FERRITE_<SECTION>_*`)
/// that the section's type does not have. The sections' types belong to
/// other crates and accept unknown keys, which would let a misspelt option
/// (`deploy_dealy`) silently keep its default; the known keys are read off
/// the type's own serialized defaults, so this never goes out of date.
fn refuse_unknown_section_keys<T: Serialize + Default>(
    fig: &Figment,
    section: &str,
) -> anyhow::Result<()> {
    let Ok(value) = fig.find_value(section) else {
        return Ok(());
    };
    let Some(given) = value.as_dict() else {
        anyhow::bail!("[{section}] must be a table of keys");
    };
    let known = serde_json::to_value(T::default()).context("cannot list the known keys")?;
    let known: Vec<&String> = known
        .as_object()
        .map(|o| o.keys().collect())
        .unwrap_or_default();
    for key in given.keys() {
        if !known.contains(&key) {
            let from = fig
                .find_metadata(&format!("{section}.{key}"))
                .map(|m| format!(" (from {})", m.name))
                .unwrap_or_default();
            let names: Vec<&str> = known.iter().map(|k| k.as_str()).collect();
            anyhow::bail!(
                "unknown key {key:?} in [{section}]{from}; known keys: {}",
                names.join(", ")
            );
        }
    }
    Ok(())
}

/// figment's errors can carry several causes; show all of them.
fn render_figment_error(err: figment::Error) -> String {
    err.into_iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("; ")
}

impl Settings {
    /// Checks what serde cannot: values that parse but make no sense.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.listen.is_empty() {
            anyhow::bail!("listen: at least one address is required");
        }
        if let Some(url) = &self.public_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            anyhow::bail!("public_url {url:?} must start with http:// or https://");
        }
        if self.effective_hostname().is_empty() {
            anyhow::bail!("hostname must not be empty");
        }
        if self.max_body_bytes == 0 {
            anyhow::bail!("max_body_bytes must be greater than 0");
        }
        self.boot.validate()?;
        check_roles(&self.conductor.roles)?;
        if let Some(url) = &self.database {
            ferrite_store::Backend::of_url(url).context("database")?;
        }
        Ok(())
    }

    /// The database URL: `database` when set, else the SQLite file in
    /// `data_dir` (the directory is created and resolved).
    pub fn database_url(&self) -> anyhow::Result<String> {
        match &self.database {
            Some(url) => Ok(url.clone()),
            None => database_url(&crate::serve::prepare_data_dir(&self.data_dir)?),
        }
    }

    /// The conductor's name: the top-level `hostname` (flag, environment or
    /// file) when set, else `[conductor] hostname`, whose default is the
    /// machine's host name.
    pub fn effective_hostname(&self) -> String {
        match &self.hostname {
            Some(h) => h.trim().to_string(),
            None => self.conductor.hostname.trim().to_string(),
        }
    }

    /// `public_url` without a trailing slash, as links are built by appending
    /// `/v1/…` to it.
    pub fn public_url(&self) -> Option<String> {
        self.public_url
            .as_ref()
            .map(|u| u.trim_end_matches('/').to_string())
    }

    /// Listeners that are not on loopback; under `noauth` any of these is
    /// reason to refuse to start.
    pub fn non_loopback_listeners(&self) -> Vec<SocketAddr> {
        self.listen
            .iter()
            .copied()
            .filter(|a| !is_loopback(a.ip()))
            .collect()
    }
}

/// 127.0.0.0/8, ::1, and IPv4-mapped loopback (`::ffff:127.0.0.1`).
pub fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// The database URL for a data directory.
///
/// `?` and `#` would be read as URL syntax by the SQLite driver, so paths
/// containing them are refused rather than silently opening another file.
pub fn database_url(data_dir: &Path) -> anyhow::Result<String> {
    let path = data_dir.join("ferrite.sqlite");
    let s = path
        .to_str()
        .with_context(|| format!("data directory {} is not valid UTF-8", data_dir.display()))?;
    if s.contains(['?', '#']) {
        anyhow::bail!(
            "data directory {} must not contain '?' or '#'",
            data_dir.display()
        );
    }
    Ok(format!("sqlite:{s}"))
}

#[cfg(test)]
// figment's Jail closures return figment::Error, which is large by design.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;
    use figment::Jail;

    fn load_in_jail(flags: &Flags, serve: Option<&ServeFlags>) -> Result<Settings, figment::Error> {
        figment(flags, serve).extract()
    }

    #[test]
    fn defaults_are_loopback_noauth() {
        Jail::expect_with(|_| {
            let s = load_in_jail(&Flags::default(), None)?;
            assert_eq!(s.listen, vec!["127.0.0.1:6385".parse().unwrap()]);
            assert_eq!(s.data_dir, PathBuf::from("./ferrite-data"));
            assert_eq!(s.auth_strategy, AuthStrategy::NoAuth);
            assert!(s.non_loopback_listeners().is_empty());
            Ok(())
        });
    }

    #[test]
    fn file_then_env_then_flags() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "f.toml",
                r#"
                listen = ["127.0.0.1:7000"]
                data_dir = "/from/file"
                hostname = "file-host"
                log_format = "json"
                "#,
            )?;
            jail.set_env("FERRITE_DATA_DIR", "/from/env");
            jail.set_env("FERRITE_HOSTNAME", "env-host");
            let flags = Flags {
                config: Some("f.toml".into()),
                ..Flags::default()
            };
            let serve = ServeFlags {
                hostname: Some("flag-host".into()),
                ..ServeFlags::default()
            };
            let s = load_in_jail(&flags, Some(&serve))?;
            assert_eq!(s.listen, vec!["127.0.0.1:7000".parse().unwrap()]);
            assert_eq!(s.data_dir, PathBuf::from("/from/env"));
            assert_eq!(s.hostname.as_deref(), Some("flag-host"));
            assert_eq!(s.log_format, LogFormat::Json);
            Ok(())
        });
    }

    #[test]
    fn listen_from_env_accepts_lists() {
        Jail::expect_with(|jail| {
            jail.set_env("FERRITE_LISTEN", "127.0.0.1:1,[::1]:2 localhost:3");
            let s = load_in_jail(&Flags::default(), None)?;
            assert_eq!(
                s.listen,
                vec![
                    "127.0.0.1:1".parse().unwrap(),
                    "[::1]:2".parse().unwrap(),
                    "127.0.0.1:3".parse().unwrap()
                ]
            );
            jail.set_env("FERRITE_LISTEN", "[::1]:6385");
            let s = load_in_jail(&Flags::default(), None)?;
            assert_eq!(s.listen, vec!["[::1]:6385".parse().unwrap()]);
            jail.set_env("FERRITE_LISTEN", "[\"127.0.0.1:1\", \"127.0.0.1:2\"]");
            let s = load_in_jail(&Flags::default(), None)?;
            assert_eq!(s.listen.len(), 2);
            Ok(())
        });
    }

    #[test]
    fn section_env_vars_reach_their_sections() {
        Jail::expect_with(|jail| {
            jail.set_env("FERRITE_FAKE_DEPLOY_DELAY", "3");
            let s = load_in_jail(&Flags::default(), None)?;
            assert_eq!(s.fake.deploy_delay, 3.0);
            jail.set_env("FERRITE_FAKE_NO_SUCH_DELAY", "3");
            let err = refuse_unknown_section_keys::<ferrite_drivers::FakeDelays>(
                &figment(&Flags::default(), None),
                "fake",
            )
            .unwrap_err()
            .to_string();
            assert!(
                err.contains("no_such_delay") && err.contains("FERRITE_FAKE_"),
                "{err}"
            );
            Ok(())
        });
    }

    #[test]
    fn conductor_section_from_file_and_env() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "c.toml",
                "[conductor]\nsweep_interval = 2\nhostname = \"section-host\"\ndeploy_callback_timeout = 5\n",
            )?;
            jail.set_env("FERRITE_CONDUCTOR_DEPLOY_CALLBACK_TIMEOUT", "7.5");
            let flags = Flags {
                config: Some("c.toml".into()),
                ..Flags::default()
            };
            let s = load_in_jail(&flags, None)?;
            assert_eq!(s.conductor.sweep_interval, 2.0);
            assert_eq!(s.conductor.deploy_callback_timeout, 7.5);
            assert_eq!(s.effective_hostname(), "section-host");
            jail.set_env("FERRITE_HOSTNAME", "top-host");
            assert_eq!(load_in_jail(&flags, None)?.effective_hostname(), "top-host");
            jail.set_env("FERRITE_CONDUCTOR_SWEEP_INTERVALL", "1");
            let err = refuse_unknown_section_keys::<ferrite_conductor::ConductorConfig>(
                &figment(&flags, None),
                "conductor",
            )
            .unwrap_err()
            .to_string();
            assert!(err.contains("sweep_intervall"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn boot_listen_and_boot_section() {
        Jail::expect_with(|jail| {
            jail.set_env("FERRITE_BOOT_LISTEN", "192.0.2.1:8080");
            jail.set_env("FERRITE_BOOT_HTTP_URL", "http://192.0.2.1:8080");
            jail.create_file(
                "b.toml",
                "[boot]\ndhcp_hostsdir = \"/h\"\ndhcp_optsdir = \"/o\"\n",
            )?;
            let flags = Flags {
                config: Some("b.toml".into()),
                ..Flags::default()
            };
            let s = load_in_jail(&flags, None)?;
            assert_eq!(s.boot_listen, Some("192.0.2.1:8080".parse().unwrap()));
            assert_eq!(s.boot.http_url.as_deref(), Some("http://192.0.2.1:8080"));
            assert_eq!(s.boot.dhcp_optsdir.as_deref(), Some(Path::new("/o")));
            // An exposed provisioning listener is fine under noauth: it
            // serves no authenticated API.
            assert!(s.non_loopback_listeners().is_empty());
            let serve = ServeFlags {
                boot_listen: Some("127.0.0.1:9".parse().unwrap()),
                ..ServeFlags::default()
            };
            let s = load_in_jail(&flags, Some(&serve))?;
            assert_eq!(s.boot_listen, Some("127.0.0.1:9".parse().unwrap()));
            jail.set_env("FERRITE_BOOT_HTTP_URLL", "x");
            let err = refuse_unknown_section_keys::<ferrite_boot::BootConfig>(
                &figment(&flags, None),
                "boot",
            )
            .unwrap_err()
            .to_string();
            assert!(err.contains("http_urll"), "{err}");
            jail.set_env("FERRITE_BOOT_LISTEN", "not-an-address");
            assert!(load_in_jail(&Flags::default(), None).is_err());
            Ok(())
        });
    }

    #[test]
    fn flag_listen_replaces_configured_list() {
        Jail::expect_with(|jail| {
            jail.set_env("FERRITE_LISTEN", "127.0.0.1:1");
            let serve = ServeFlags {
                listen: vec!["127.0.0.2:9".parse().unwrap()],
                ..ServeFlags::default()
            };
            let s = load_in_jail(&Flags::default(), Some(&serve))?;
            assert_eq!(s.listen, vec!["127.0.0.2:9".parse().unwrap()]);
            Ok(())
        });
    }

    #[test]
    fn unrelated_prefixed_env_is_ignored_but_unknown_file_keys_fail() {
        Jail::expect_with(|jail| {
            jail.set_env("FERRITE_CONFIG", "whatever.toml");
            jail.set_env("FERRITE_SOMETHING_ELSE", "1");
            assert!(load_in_jail(&Flags::default(), None).is_ok());
            jail.create_file("bad.toml", "lisen = \"127.0.0.1:1\"\n")?;
            let flags = Flags {
                config: Some("bad.toml".into()),
                ..Flags::default()
            };
            assert!(load_in_jail(&flags, None).is_err());
            Ok(())
        });
    }

    #[test]
    fn auth_strategy_names() {
        Jail::expect_with(|jail| {
            jail.set_env("FERRITE_AUTH_STRATEGY", "http_basic");
            let s = load_in_jail(&Flags::default(), None)?;
            assert_eq!(s.auth_strategy, AuthStrategy::HttpBasic);
            jail.set_env("FERRITE_AUTH_STRATEGY", "keystone");
            assert!(load_in_jail(&Flags::default(), None).is_err());
            Ok(())
        });
    }

    #[test]
    fn loopback_detection() {
        for ok in ["127.0.0.1", "127.9.9.9", "::1", "::ffff:127.0.0.1"] {
            assert!(is_loopback(ok.parse().unwrap()), "{ok}");
        }
        for bad in [
            "0.0.0.0",
            "::",
            "10.0.0.1",
            "192.168.1.1",
            "::ffff:10.0.0.1",
            "fe80::1",
        ] {
            assert!(!is_loopback(bad.parse().unwrap()), "{bad}");
        }
    }

    #[test]
    fn listen_parser_messages() {
        assert_eq!(
            parse_listen("localhost:80").unwrap(),
            "127.0.0.1:80".parse().unwrap()
        );
        assert!(
            parse_listen("example.com:80")
                .unwrap_err()
                .contains("IP:PORT")
        );
        assert!(parse_listen("127.0.0.1").is_err());
    }

    #[test]
    fn database_url_refuses_url_syntax() {
        assert_eq!(
            database_url(Path::new("/d")).unwrap(),
            "sqlite:/d/ferrite.sqlite"
        );
        assert!(database_url(Path::new("/d?mode=ro")).is_err());
    }

    #[test]
    fn validation() {
        let s = Settings {
            public_url: Some("bm.example.com".into()),
            ..Settings::default()
        };
        assert!(s.validate().is_err());
        let s = Settings {
            public_url: Some("https://bm.example.com/".into()),
            ..Settings::default()
        };
        assert!(s.validate().is_ok());
        assert_eq!(s.public_url().as_deref(), Some("https://bm.example.com"));
    }

    /// The shipped example must load, and show the real defaults.
    #[test]
    fn example_file_loads_and_shows_the_defaults() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "example.toml",
                include_str!("../../../ferrite.example.toml"),
            )?;
            let flags = Flags {
                config: Some("example.toml".into()),
                ..Flags::default()
            };
            let fig = figment(&flags, None);
            let s: Settings = fig.extract()?;
            let d = Settings::default();
            assert_eq!(s.listen, d.listen);
            assert_eq!(s.data_dir, d.data_dir);
            assert_eq!(s.auth_strategy, d.auth_strategy);
            assert_eq!(s.log_format, d.log_format);
            assert_eq!(s.max_body_bytes, d.max_body_bytes);
            assert_eq!(s.shutdown_timeout, d.shutdown_timeout);
            assert_eq!(s.conductor, d.conductor);
            assert_eq!(s.fake, d.fake);
            assert_eq!(s.boot, d.boot);
            assert_eq!(s.boot_listen, d.boot_listen);
            assert_eq!(s.feed, d.feed);
            Ok(())
        });
    }

    /// Every option of the sections must be documented; the key lists come
    /// from the types themselves, so a new option fails this until written up.
    #[test]
    fn every_section_key_is_documented() {
        let doc = include_str!("../../../docs/configuration.md");
        let example = include_str!("../../../ferrite.example.toml");
        let keys = |v: serde_json::Value| -> Vec<String> {
            v.as_object()
                .map(|o| o.keys().cloned().collect())
                .unwrap_or_default()
        };
        let conductor =
            keys(serde_json::to_value(ferrite_conductor::ConductorConfig::default()).unwrap());
        let fake = keys(serde_json::to_value(ferrite_drivers::FakeDelays::default()).unwrap());
        let boot = keys(serde_json::to_value(ferrite_boot::BootConfig::default()).unwrap());
        let feed = keys(serde_json::to_value(ferrite_conductor::FeedConfig::default()).unwrap());
        for key in conductor
            .iter()
            .chain(fake.iter())
            .chain(boot.iter())
            .chain(feed.iter())
            .chain(
                TOP_LEVEL_ENV_KEYS
                    .iter()
                    .map(|k| k.to_string())
                    .collect::<Vec<_>>()
                    .iter(),
            )
        {
            assert!(
                doc.contains(&format!("`{key}`")),
                "docs/configuration.md lacks `{key}`"
            );
            assert!(
                example.contains(key.as_str()),
                "ferrite.example.toml lacks {key}"
            );
        }
    }
}

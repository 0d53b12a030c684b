//! `ferrite serve`: a whole site in one process — the Ironic v1 API and the
//! conductor sharing one database: embedded SQLite by default, or
//! PostgreSQL (`--database postgresql://…`).
//!
//! Order of start-up is chosen so that every refusal (unsafe auth, bad
//! htpasswd, port in use) happens before the database is touched, and the
//! "listening" line is printed only once requests can really be served.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use ferrite_api::{App, Auth};
use ferrite_conductor::ConductorApi;
use ferrite_store::Store;
use tokio::net::TcpListener;
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::config::{AuthStrategy, Settings};

/// Runs the site until SIGTERM or SIGINT, then drains HTTP and stops the
/// conductor. Returns `Ok` on a clean stop, so the process exits 0.
pub async fn run(settings: Settings) -> anyhow::Result<()> {
    let started = Instant::now();
    // Installed first: a signal that arrives at any point after this is a
    // request to stop cleanly, never the default "die at once".
    let mut signals = Signals::install()?;

    refuse_unsafe_noauth(&settings)?;
    let auth = load_auth(&settings)?;
    let hostname = settings.effective_hostname();
    let db_url = settings.database_url()?;
    let db_shown = ferrite_store::redact_url(&db_url);

    let listeners = bind_all(&settings.listen).await?;
    let boot_listener = match settings.boot_listen {
        Some(addr) => bind_all(&[addr]).await?.pop(),
        None => None,
    };

    let store = Store::open(&db_url)
        .await
        .with_context(|| format!("cannot open the database {db_shown}"))?;
    // Boot files live under the data directory whatever the database is.
    // Installed before the conductor starts: it builds drivers from the
    // first sweep.
    let data_dir = prepare_data_dir(&settings.data_dir)?;
    let installed = crate::boot::install(
        &settings,
        &data_dir,
        store.clone(),
        boot_listener.as_ref().map(|(addr, _)| *addr),
    )?;
    let conductor =
        ferrite_conductor::Conductor::start(store.clone(), conductor_config(&settings, &hostname))
            .await
            .context("cannot start the conductor")?;

    let app = App {
        store,
        conductor: conductor.clone() as Arc<dyn ConductorApi>,
        auth,
        public_url: settings.public_url(),
        max_body_bytes: settings.max_body_bytes,
    };
    let router = ferrite_api::router(app.clone());

    let (stop_tx, stop_rx) = watch::channel(false);
    let mut servers = JoinSet::new();
    let mut urls = Vec::with_capacity(listeners.len());
    for (addr, listener) in listeners {
        urls.push(format!("http://{addr}"));
        let service = router
            .clone()
            .into_make_service_with_connect_info::<SocketAddr>();
        let stop = stop_rx.clone();
        servers.spawn(async move {
            axum::serve(listener, service)
                .with_graceful_shutdown(stopped(stop))
                .await
                .with_context(|| format!("listener {addr} failed"))
        });
    }

    if let Some((addr, listener)) = boot_listener {
        let service = crate::boot::router(&installed, app)
            .into_make_service_with_connect_info::<SocketAddr>();
        let stop = stop_rx.clone();
        servers.spawn(async move {
            axum::serve(listener, service)
                .with_graceful_shutdown(stopped(stop))
                .await
                .with_context(|| format!("provisioning listener {addr} failed"))
        });
        tracing::info!(boot_listen = %addr, boot_dir = %installed.boot_dir.display(), "provisioning listener ready");
        println!("ferrite provisioning listener on http://{addr}");
    }

    let ready_ms = (started.elapsed().as_secs_f64() * 10_000.0).round() / 10.0;
    tracing::info!(
        listen = %urls.join(","),
        database = %db_shown,
        conductor = %hostname,
        auth = settings.auth_strategy.as_str(),
        ready_ms,
        "ferrite ready"
    );
    // The one line operators and scripts wait for.
    println!("ferrite listening on {}", urls.join(", "));

    let mut outcome = Ok(());
    tokio::select! {
        name = signals.recv() => tracing::info!(signal = name, "stopping: no new connections, draining requests"),
        ended = servers.join_next() => {
            outcome = match ended {
                Some(Ok(Err(e))) => Err(e),
                Some(Err(e)) => Err(anyhow::anyhow!("a listener task panicked: {e}")),
                _ => Err(anyhow::anyhow!("a listener stopped unexpectedly")),
            };
            tracing::error!("a listener ended; stopping the site");
        }
    }

    let _ = stop_tx.send(true);
    let grace = Duration::from_secs(settings.shutdown_timeout);
    tokio::select! {
        () = drain(&mut servers) => tracing::info!("HTTP drained"),
        () = tokio::time::sleep(grace) => {
            tracing::warn!(timeout_s = settings.shutdown_timeout, "requests still running after shutdown_timeout; cutting them off");
            servers.abort_all();
        }
        name = signals.recv() => {
            tracing::warn!(signal = name, "second signal: cutting off running requests");
            servers.abort_all();
        }
    }

    // The conductor lets running node operations finish (its own
    // graceful_shutdown_timeout) and releases its locks. Another signal
    // stops waiting: whatever is cut off is recovered by the next start.
    tokio::select! {
        () = conductor.shutdown() => {}
        name = signals.recv() => tracing::warn!(
            signal = name,
            "stopping without waiting for running node operations; the next start recovers them"
        ),
    }
    tracing::info!("ferrite stopped");
    outcome
}

/// Waits for every listener task to finish, logging failures on the way.
async fn drain(servers: &mut JoinSet<anyhow::Result<()>>) {
    while let Some(done) = servers.join_next().await {
        match done {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %format!("{e:#}"), "listener ended with an error"),
            Err(e) => tracing::warn!(error = %e, "listener task failed"),
        }
    }
}

/// Resolves once the stop flag is raised (or its sender is gone).
async fn stopped(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|stop| *stop).await;
}

/// SIGTERM and SIGINT as one stream of named events.
struct Signals {
    term: Signal,
    int: Signal,
}

impl Signals {
    fn install() -> anyhow::Result<Signals> {
        Ok(Signals {
            term: signal(SignalKind::terminate()).context("cannot install the SIGTERM handler")?,
            int: signal(SignalKind::interrupt()).context("cannot install the SIGINT handler")?,
        })
    }

    async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.term.recv() => "SIGTERM",
            _ = self.int.recv() => "SIGINT",
        }
    }
}

/// Under `noauth` anyone who can reach a listener controls every machine the
/// site manages, so only loopback listeners are allowed.
pub fn refuse_unsafe_noauth(settings: &Settings) -> anyhow::Result<()> {
    if settings.auth_strategy != AuthStrategy::NoAuth {
        return Ok(());
    }
    let exposed = settings.non_loopback_listeners();
    if exposed.is_empty() {
        return Ok(());
    }
    let list = exposed
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    bail!(
        "refusing to start: auth_strategy is noauth but {list} is not a loopback address, so anyone \
         who can reach it could control every node. Either listen on loopback only \
         (--listen 127.0.0.1:6385) or turn authentication on: \
         --auth-strategy http_basic --htpasswd FILE (bcrypt entries, e.g. made with \
         `htpasswd -cB FILE USER`), or auth_strategy = \"http_basic\" and htpasswd = \"FILE\" in the \
         configuration file."
    )
}

/// Builds the API's authenticator from the settings, reading the htpasswd
/// file once now so a bad file stops the start instead of every request.
pub fn load_auth(settings: &Settings) -> anyhow::Result<Auth> {
    match settings.auth_strategy {
        AuthStrategy::NoAuth => {
            if let Some(path) = &settings.htpasswd {
                tracing::warn!(htpasswd = %path.display(), "htpasswd is ignored: auth_strategy is noauth");
            }
            Ok(Auth::NoAuth)
        }
        AuthStrategy::HttpBasic => {
            let Some(path) = &settings.htpasswd else {
                bail!(
                    "auth_strategy http_basic needs an htpasswd file: --htpasswd FILE (or htpasswd = \"FILE\")"
                );
            };
            let contents = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read htpasswd file {}", path.display()))?;
            let auth = Auth::from_htpasswd(&contents)
                .map_err(|e| anyhow::anyhow!("htpasswd file {}: {e}", path.display()))?;
            if matches!(&auth, Auth::HttpBasic { users } if users.is_empty()) {
                bail!(
                    "htpasswd file {} has no users; nobody could log in",
                    path.display()
                );
            }
            Ok(auth)
        }
    }
}

/// Creates the data directory if missing and returns its absolute path, so
/// logs and the database URL name the real place.
pub fn prepare_data_dir(dir: &Path) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create data directory {}", dir.display()))?;
    dir.canonicalize()
        .with_context(|| format!("cannot resolve data directory {}", dir.display()))
}

/// Binds every listener before anything else is started, so a port in use
/// fails fast and with the address in the message.
async fn bind_all(addrs: &[SocketAddr]) -> anyhow::Result<Vec<(SocketAddr, TcpListener)>> {
    let mut out = Vec::with_capacity(addrs.len());
    for addr in addrs {
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        // With port 0 the kernel picks one; report what was really bound.
        let bound = listener
            .local_addr()
            .with_context(|| format!("cannot read the address bound for {addr}"))?;
        out.push((bound, listener));
    }
    Ok(out)
}

/// The conductor's configuration: the `[conductor]` section plus what the
/// binary decides (its name, the fake delays).
fn conductor_config(settings: &Settings, hostname: &str) -> ferrite_conductor::ConductorConfig {
    let mut config = settings.conductor.clone();
    config.hostname = hostname.to_string();
    config.fake = settings.fake;
    config
}

//! The HTTP front door: connections, latency, fault injection, auth.
//!
//! Connections are served with hyper directly (not `axum::serve`) because
//! the `drop` and `timeout` failures need to end a connection without a
//! response, which a router cannot express: the per-request service returns
//! an error, and hyper then closes the socket without writing anything —
//! exactly what a client sees when a BMC's web server dies mid-request.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderValue, Request, Response, StatusCode, Uri, header};
use axum::response::IntoResponse;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tower::ServiceExt;

use crate::Error;
use crate::auth::{self, AuthCheck};
use crate::config::FailureKind;
use crate::control;
use crate::faults::garbage_body;
use crate::fleet::Fleet;
use crate::oob;
use crate::redfish::{self, RfError};

/// How long open connections get to finish when the server stops.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

/// Returned by the per-request service to make hyper drop the connection.
#[derive(Debug)]
struct DropConnection;

impl std::fmt::Display for DropConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("bmcsim: injected connection drop")
    }
}

impl std::error::Error for DropConnection {}

/// Everything a connection needs, shared by all of them.
struct Front {
    fleet: Arc<Fleet>,
    redfish: Router,
    control: Router,
    garbage: AtomicU64,
}

/// Serves `fleet` on `listener` until `shutdown` completes, running the
/// out-of-band power task alongside. Returns once the listener is closed
/// and open connections have been given a moment to finish.
pub async fn serve<F>(fleet: Arc<Fleet>, listener: TcpListener, shutdown: F) -> Result<(), Error>
where
    F: Future<Output = ()> + Send,
{
    let front = Arc::new(Front {
        redfish: redfish::router(Arc::clone(&fleet)),
        control: control::router(Arc::clone(&fleet)),
        fleet: Arc::clone(&fleet),
        garbage: AtomicU64::new(0),
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let oob_task = oob::spawn(Arc::clone(&fleet), stop_rx.clone());
    let mut conns = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    conns.spawn(connection(Arc::clone(&front), stream, stop_rx.clone()));
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off
                    // instead of spinning; the listener stays usable.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let drain = async { while conns.join_next().await.is_some() {} };
    let _ = tokio::time::timeout(SHUTDOWN_GRACE * 2, drain).await;
    conns.abort_all();
    if let Some(t) = oob_task {
        t.abort();
    }
    Ok(())
}

/// Keeps the open-connection gauge right even when the task is aborted.
struct ConnGuard(Arc<Fleet>);

impl Drop for ConnGuard {
    fn drop(&mut self) {
        self.0.stats.connection_closed();
    }
}

async fn connection(front: Arc<Front>, stream: TcpStream, mut stop: watch::Receiver<bool>) {
    let _ = stream.set_nodelay(true);
    front.fleet.stats.connection_opened();
    let _guard = ConnGuard(Arc::clone(&front.fleet));
    let svc = hyper::service::service_fn(move |req| {
        let front = Arc::clone(&front);
        async move { front.handle(req).await }
    });
    let conn = http1::Builder::new().serve_connection(TokioIo::new(stream), svc);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = stopped(&mut stop) => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(SHUTDOWN_GRACE, conn.as_mut()).await;
        }
    }
}

/// Resolves once the stop flag is raised (or its sender is gone).
pub(crate) async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

/// Drops empty segments, so `/redfish/v1/` and `/redfish/v1` are one
/// resource (sushy asks for the former, links name the latter).
pub(crate) fn normalize(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for seg in path.split('/').filter(|s| !s.is_empty()) {
        out.push('/');
        out.push_str(seg);
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

/// The system a Redfish path addresses, through its system, manager or
/// chassis resources — the unit per-system faults and counters apply to.
fn addressed_system(fleet: &Fleet, path: &str) -> Option<usize> {
    let mut segs = path.split('/').filter(|s| !s.is_empty());
    if segs.next()? != "redfish" || segs.next()? != "v1" {
        return None;
    }
    match segs.next()? {
        "Systems" | "Managers" | "Chassis" => fleet.inventory().resolve(segs.next()?),
        _ => None,
    }
}

fn with_path(uri: &Uri, path: &str) -> Option<Uri> {
    let pq = match uri.query() {
        Some(q) => format!("{path}?{q}"),
        None => path.to_string(),
    };
    pq.parse().ok()
}

impl Front {
    async fn handle(&self, req: Request<Incoming>) -> Result<Response<Body>, DropConnection> {
        let (mut parts, body) = req.into_parts();
        let path = normalize(parts.uri.path());
        let Some(uri) = with_path(&parts.uri, &path) else {
            return Ok(StatusCode::BAD_REQUEST.into_response());
        };
        parts.uri = uri;
        let req = Request::from_parts(parts, body);
        if path == "/bmcsim" || path.starts_with("/bmcsim/") {
            self.fleet.stats.control_request();
            return Ok(route(&self.control, req).await);
        }
        let fleet = &self.fleet;
        fleet.stats.request();
        let verdict = fleet.verdict(addressed_system(fleet, &path));
        if !verdict.delay.is_zero() {
            tokio::time::sleep(verdict.delay).await;
        }
        if let Some(kind) = verdict.fault {
            tracing::debug!(%path, %kind, "injecting failure");
            return self.fail(kind).await;
        }
        if let Some(creds) = &fleet.config().auth
            && !auth::is_public(req.method(), &path)
            && auth::check(creds, &fleet.sessions, req.headers()) == AuthCheck::Denied
        {
            fleet.stats.unauthorized();
            fleet.stats.response(401);
            return Ok(RfError::new(
                StatusCode::UNAUTHORIZED,
                "Base.1.8.NoValidSession",
                "Authentication is required: valid HTTP Basic credentials or an X-Auth-Token.",
            )
            .into_response());
        }
        let resp = route(&self.redfish, req).await;
        fleet.stats.response(resp.status().as_u16());
        Ok(resp)
    }

    async fn fail(&self, kind: FailureKind) -> Result<Response<Body>, DropConnection> {
        match kind {
            FailureKind::Drop => Err(DropConnection),
            FailureKind::Timeout => {
                tokio::time::sleep(self.fleet.config().hang).await;
                Err(DropConnection)
            }
            FailureKind::ServerError => {
                self.fleet.stats.response(500);
                Ok(RfError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Base.1.8.InternalError",
                    "The request failed due to an internal service error. The service is still operational.",
                )
                .into_response())
            }
            FailureKind::Garbage => {
                self.fleet.stats.response(200);
                let n = self.garbage.fetch_add(1, Relaxed);
                let mut resp = Response::new(Body::from(garbage_body(n)));
                resp.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                Ok(resp)
            }
        }
    }
}

async fn route(router: &Router, req: Request<Incoming>) -> Response<Body> {
    match router.clone().oneshot(req).await {
        Ok(resp) => resp,
        Err(never) => match never {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_slashes() {
        assert_eq!(normalize("/redfish/v1/"), "/redfish/v1");
        assert_eq!(normalize("//redfish//v1/Systems/"), "/redfish/v1/Systems");
        assert_eq!(normalize("/"), "/");
        assert_eq!(normalize(""), "/");
    }

    #[test]
    fn finds_addressed_system() {
        let fleet = Fleet::new(crate::Config {
            systems: 3,
            ..crate::Config::default()
        })
        .unwrap();
        assert_eq!(
            addressed_system(&fleet, "/redfish/v1/Systems/sys-00002/Bios"),
            Some(2)
        );
        assert_eq!(
            addressed_system(&fleet, "/redfish/v1/Managers/sys-00001"),
            Some(1)
        );
        assert_eq!(addressed_system(&fleet, "/redfish/v1/Systems"), None);
        assert_eq!(
            addressed_system(&fleet, "/redfish/v1/Systems/sys-00009"),
            None
        );
        assert_eq!(addressed_system(&fleet, "/bmcsim/systems/sys-00001"), None);
    }
}

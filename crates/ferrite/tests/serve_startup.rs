//! Starts the real `ferrite` binary on loopback with a temporary data
//! directory and checks what an operator relies on: it becomes ready and
//! answers, it stops cleanly on SIGTERM/SIGINT, it refuses to expose an
//! unauthenticated API, configuration from the environment is honoured,
//! and the provisioning listener serves boot files and the agent's
//! endpoints but nothing else.

use std::io::{BufRead as _, BufReader, Read as _};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// Generous: a debug build on a loaded 2-core CI machine. The real target
/// (< 0.5 s) is measured and printed, not asserted.
const READY_DEADLINE: Duration = Duration::from_secs(20);
const EXIT_DEADLINE: Duration = Duration::from_secs(10);

/// A `ferrite` child process whose output is collected in the background
/// and which is killed if a test ends without stopping it.
struct Server {
    child: Child,
    stdout_lines: mpsc::Receiver<String>,
    stderr: Arc<Mutex<String>>,
    stderr_reader: Option<thread::JoinHandle<()>>,
}

impl Server {
    fn spawn(args: &[&str], envs: &[(&str, &str)]) -> Server {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ferrite"));
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // The test's own environment must not leak configuration in.
        for (key, _) in std::env::vars() {
            if key.starts_with("FERRITE_") || key == "RUST_LOG" {
                cmd.env_remove(key);
            }
        }
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn the ferrite binary");

        let (tx, stdout_lines) = mpsc::channel();
        let stdout = child.stdout.take().expect("stdout is piped");
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&stderr);
        let mut pipe = child.stderr.take().expect("stderr is piped");
        let stderr_reader = thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                if let Ok(mut s) = sink.lock() {
                    s.push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            }
        });
        Server {
            child,
            stdout_lines,
            stderr,
            stderr_reader: Some(stderr_reader),
        }
    }

    fn stderr(&self) -> String {
        self.stderr.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Waits for the "ferrite listening on URL" line; returns the first URL.
    fn wait_ready(&mut self) -> String {
        let deadline = Instant::now() + READY_DEADLINE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stdout_lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(rest) = line.strip_prefix("ferrite listening on ") {
                        let first = rest.split(", ").next().unwrap_or_default();
                        return first.to_string();
                    }
                }
                Err(_) => {
                    let status = self.child.try_wait().ok().flatten();
                    panic!(
                        "ferrite did not become ready within {READY_DEADLINE:?} (exit: {status:?}); stderr:\n{}",
                        self.stderr()
                    );
                }
            }
        }
    }

    fn signal(&self, sig: libc::c_int) {
        let pid = libc::pid_t::try_from(self.child.id()).expect("pid fits pid_t");
        // SAFETY: kill(2) with a pid we spawned and still own (not yet reaped).
        let rc = unsafe { libc::kill(pid, sig) };
        assert_eq!(rc, 0, "kill({pid}, {sig}) failed");
    }

    /// Waits for the process to exit on its own within `EXIT_DEADLINE`.
    fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + EXIT_DEADLINE;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                // The pipe reaches EOF once the process is gone: wait for the
                // reader so `stderr()` holds everything it wrote.
                if let Some(reader) = self.stderr_reader.take() {
                    let _ = reader.join();
                }
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!(
                    "ferrite did not exit within {EXIT_DEADLINE:?}; stderr:\n{}",
                    self.stderr()
                );
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A port that was free a moment ago (the kernel does not hand it out
/// again right away).
fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    l.local_addr().expect("local addr").port()
}

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("build an HTTP client")
}

fn data_dir_arg(dir: &Path) -> String {
    dir.to_str().expect("temp dir is UTF-8").to_string()
}

/// Asserts that `GET {url}/` is Ironic's root document with the version
/// headers every response carries.
fn assert_root_ok(url: &str) {
    let resp = client().get(format!("{url}/")).send().expect("GET /");
    assert_eq!(resp.status(), 200, "GET / status");
    let headers = resp.headers();
    for h in [
        "x-openstack-ironic-api-minimum-version",
        "x-openstack-ironic-api-maximum-version",
    ] {
        assert!(headers.contains_key(h), "GET / lacks {h}: {headers:?}");
    }
    let body: serde_json::Value = resp.json().expect("GET / is JSON");
    assert_eq!(body["default_version"]["id"], "v1", "root document: {body}");
}

#[test]
fn becomes_ready_answers_and_stops_on_sigterm() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let started = Instant::now();
    let mut server = Server::spawn(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            &data_dir_arg(&data),
        ],
        &[],
    );
    let url = server.wait_ready();
    let ready = started.elapsed();
    eprintln!(
        "ferrite ready in {:.0} ms (debug build, includes process spawn)",
        ready.as_secs_f64() * 1000.0
    );
    assert!(
        url.starts_with("http://127.0.0.1:"),
        "ready line names the bound address: {url}"
    );
    assert!(
        !url.ends_with(":0"),
        "ready line names the real port, not 0: {url}"
    );

    assert_root_ok(&url);
    assert!(
        data.join("ferrite.sqlite").is_file(),
        "database created in the data dir"
    );

    let asked = Instant::now();
    server.signal(libc::SIGTERM);
    let status = server.wait_exit();
    assert_eq!(
        status.code(),
        Some(0),
        "exit status after SIGTERM; stderr:\n{}",
        server.stderr()
    );
    eprintln!(
        "ferrite stopped {:.0} ms after SIGTERM",
        asked.elapsed().as_secs_f64() * 1000.0
    );
    assert!(
        client().get(format!("{url}/")).send().is_err(),
        "nothing answers on {url} after shutdown"
    );
}

#[test]
fn sigint_also_stops_cleanly_and_data_survives_a_restart() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = data_dir_arg(tmp.path());
    for round in 0..2 {
        let mut server = Server::spawn(
            &["serve", "--listen", "127.0.0.1:0", "--data-dir", &data],
            &[],
        );
        let url = server.wait_ready();
        assert_root_ok(&url);
        server.signal(libc::SIGINT);
        let status = server.wait_exit();
        assert_eq!(
            status.code(),
            Some(0),
            "round {round}: exit after SIGINT; stderr:\n{}",
            server.stderr()
        );
    }
}

#[test]
fn refuses_noauth_on_a_non_loopback_listener() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("never-created");
    let port = free_port().to_string();
    let listen = format!("0.0.0.0:{port}");
    let mut server = Server::spawn(
        &[
            "serve",
            "--listen",
            &listen,
            "--data-dir",
            &data_dir_arg(&data),
        ],
        &[],
    );
    let status = server.wait_exit();
    assert!(!status.success(), "must refuse to start; exit {status:?}");
    let stderr = server.stderr();
    assert!(
        stderr.contains("noauth"),
        "message names the problem:\n{stderr}"
    );
    assert!(
        stderr.contains("--auth-strategy http_basic --htpasswd FILE"),
        "message says how to configure auth:\n{stderr}"
    );
    assert!(
        !data.exists(),
        "nothing is created when the start is refused"
    );
}

#[test]
fn refuses_noauth_when_any_of_several_listeners_is_exposed() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let listen = format!("127.0.0.1:0,[::]:{}", free_port());
    let mut server = Server::spawn(
        &["serve", "--data-dir", &data_dir_arg(tmp.path())],
        &[("FERRITE_LISTEN", listen.as_str())],
    );
    let status = server.wait_exit();
    assert!(!status.success(), "must refuse to start; exit {status:?}");
    assert!(
        server.stderr().contains("[::]:"),
        "message names the exposed listener:\n{}",
        server.stderr()
    );
}

#[test]
fn environment_overrides_the_config_file_and_flags_override_both() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let file_port = free_port();
    let env_port = free_port();
    let config = tmp.path().join("ferrite.toml");
    let data = tmp.path().join("from-file");
    std::fs::write(
        &config,
        format!(
            "listen = [\"127.0.0.1:{file_port}\"]\ndata_dir = {:?}\nhostname = \"from-file\"\n",
            data_dir_arg(&data)
        ),
    )
    .expect("write config file");
    let config_arg = data_dir_arg(&config);

    // Environment beats the file.
    let env_listen = format!("127.0.0.1:{env_port}");
    let mut server = Server::spawn(
        &["serve", "--config", &config_arg],
        &[("FERRITE_LISTEN", env_listen.as_str())],
    );
    let url = server.wait_ready();
    assert_eq!(
        url,
        format!("http://127.0.0.1:{env_port}"),
        "FERRITE_LISTEN wins over the file"
    );
    assert_root_ok(&url);
    assert!(
        data.join("ferrite.sqlite").is_file(),
        "data_dir taken from the file"
    );
    server.signal(libc::SIGTERM);
    assert_eq!(server.wait_exit().code(), Some(0));

    // A flag beats the environment.
    let mut server = Server::spawn(
        &["serve", "--config", &config_arg, "--listen", "127.0.0.1:0"],
        &[("FERRITE_LISTEN", env_listen.as_str())],
    );
    let url = server.wait_ready();
    assert_ne!(
        url,
        format!("http://127.0.0.1:{env_port}"),
        "--listen wins over FERRITE_LISTEN"
    );
    server.signal(libc::SIGTERM);
    assert_eq!(server.wait_exit().code(), Some(0));
}

#[test]
fn config_file_via_env_and_bad_keys_are_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let config = tmp.path().join("bad.toml");
    std::fs::write(&config, "lisen = \"127.0.0.1:6385\"\n").expect("write config file");
    let mut server = Server::spawn(&["serve"], &[("FERRITE_CONFIG", &data_dir_arg(&config))]);
    let status = server.wait_exit();
    assert!(!status.success(), "a misspelt key must not be ignored");
    assert!(
        server.stderr().contains("lisen"),
        "message names the key:\n{}",
        server.stderr()
    );
}

#[test]
fn http_basic_requires_an_htpasswd_file_and_checks_it() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = data_dir_arg(tmp.path());

    let mut server = Server::spawn(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            &data,
            "--auth-strategy",
            "http_basic",
        ],
        &[],
    );
    assert!(
        !server.wait_exit().success(),
        "http_basic without --htpasswd must be refused"
    );
    assert!(
        server.stderr().contains("--htpasswd"),
        "{}",
        server.stderr()
    );

    let htpasswd = tmp.path().join("htpasswd");
    let hash = bcrypt::hash("s3cret", 4).expect("bcrypt hash");
    std::fs::write(&htpasswd, format!("admin:{hash}\n")).expect("write htpasswd");
    let htpasswd = data_dir_arg(&htpasswd);
    let mut server = Server::spawn(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            &data,
            "--auth-strategy",
            "http_basic",
            "--htpasswd",
            &htpasswd,
        ],
        &[],
    );
    let url = server.wait_ready();
    assert_root_ok(&url);
    let anon = client()
        .get(format!("{url}/v1/nodes"))
        .send()
        .expect("GET /v1/nodes");
    assert_eq!(anon.status(), 401, "no credentials");
    let authed = client()
        .get(format!("{url}/v1/nodes"))
        .basic_auth("admin", Some("s3cret"))
        .send()
        .expect("GET /v1/nodes");
    assert_eq!(authed.status(), 200, "good credentials");
    server.signal(libc::SIGTERM);
    assert_eq!(server.wait_exit().code(), Some(0));
}

#[test]
fn db_upgrade_and_version() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("d");
    let out = Command::new(env!("CARGO_BIN_EXE_ferrite"))
        .args(["db", "upgrade", "--data-dir", &data_dir_arg(&data)])
        .output()
        .expect("run ferrite db upgrade");
    assert!(
        out.status.success(),
        "db upgrade: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(data.join("ferrite.sqlite").is_file());

    let out = Command::new(env!("CARGO_BIN_EXE_ferrite"))
        .arg("version")
        .output()
        .expect("run ferrite version");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with(&format!("ferrite {}", env!("CARGO_PKG_VERSION"))),
        "{text}"
    );
}

/// Sends `method path` with the latest microversion and a JSON body;
/// returns the status and the parsed body (null when empty).
fn call(
    method: reqwest::Method,
    url: &str,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let mut req = client()
        .request(method, url)
        .header("X-OpenStack-Ironic-API-Version", "latest");
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().unwrap_or_else(|e| panic!("{url}: {e}"));
    let status = resp.status().as_u16();
    let text = resp.text().unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or_default())
}

/// Moves the node along `verbs`, waiting for `state` after each.
fn provision(api: &str, node: &str, steps: &[(&str, &str)]) {
    use reqwest::Method;
    for (verb, state) in steps {
        let (status, body) = call(
            Method::PUT,
            &format!("{api}/v1/nodes/{node}/states/provision"),
            Some(serde_json::json!({ "target": verb })),
        );
        assert_eq!(status, 202, "{verb}: {body}");
        let deadline = Instant::now() + READY_DEADLINE;
        loop {
            let (_, n) = call(Method::GET, &format!("{api}/v1/nodes/{node}"), None);
            if n["provision_state"] == *state {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{verb} never reached {state}: {n}"
            );
            thread::sleep(Duration::from_millis(100));
        }
    }
}

#[test]
fn boot_listener_serves_boot_files_and_agent_endpoints_only() {
    use reqwest::Method;
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = data_dir_arg(&tmp.path().join("d"));
    let kernel = tmp.path().join("vmlinuz");
    std::fs::write(&kernel, b"the agent kernel").expect("write kernel");
    let boot_port = free_port();
    let boot_listen = format!("127.0.0.1:{boot_port}");
    let boot = format!("http://{boot_listen}");
    let mut server = Server::spawn(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            &data,
            "--boot-listen",
            &boot_listen,
        ],
        &[
            // The node stays in `deploying` with its ramdisk prepared.
            ("FERRITE_FAKE_DEPLOY_DELAY", "60"),
            ("FERRITE_CONDUCTOR_AUTOMATED_CLEAN", "false"),
            ("FERRITE_CONDUCTOR_GRACEFUL_SHUTDOWN_TIMEOUT", "1"),
        ],
    );
    let api = server.wait_ready();

    let kernel = data_dir_arg(&kernel);
    let (status, node) = call(
        Method::POST,
        &format!("{api}/v1/nodes"),
        Some(serde_json::json!({
            "driver": "fake-hardware",
            "boot_interface": "ipxe",
            "driver_info": {"deploy_kernel": kernel, "deploy_ramdisk": kernel},
        })),
    );
    assert_eq!(status, 201, "{node}");
    let uuid = node["uuid"].as_str().expect("uuid").to_string();
    let (status, port) = call(
        Method::POST,
        &format!("{api}/v1/ports"),
        Some(serde_json::json!({"node_uuid": uuid, "address": "52:54:00:AB:CD:EF"})),
    );
    assert_eq!(status, 201, "{port}");
    provision(
        &api,
        &uuid,
        &[
            ("manage", "manageable"),
            ("provide", "available"),
            ("active", "deploying"),
        ],
    );

    // The node's iPXE script, by MAC, pointing back at this listener.
    let script_url = format!("{boot}/boot/ipxe/52-54-00-ab-cd-ef.ipxe");
    let deadline = Instant::now() + READY_DEADLINE;
    let script = loop {
        let resp = client().get(&script_url).send().expect("GET script");
        if resp.status() == 200 {
            break resp.text().expect("script text");
        }
        assert!(Instant::now() < deadline, "no script at {script_url}");
        thread::sleep(Duration::from_millis(100));
    };
    let kernel_url = format!("{boot}/boot/nodes/{uuid}/deploy_kernel");
    assert!(script.starts_with("#!ipxe\n"), "{script}");
    assert!(
        script.contains(&format!(
            "kernel --name kernel {kernel_url} initrd=ramdisk ipa-api-url={boot} "
        )),
        "{script}"
    );
    let bytes = client()
        .get(&kernel_url)
        .send()
        .expect("GET kernel")
        .bytes()
        .expect("kernel");
    assert_eq!(&bytes[..], b"the agent kernel");
    let generic = client()
        .get(format!("{boot}/boot/boot.ipxe"))
        .send()
        .expect("GET boot.ipxe");
    assert!(
        generic
            .text()
            .expect("text")
            .contains(&format!("{boot}/boot/ipxe/"))
    );

    // The agent's protocol: version discovery, lookup, heartbeat.
    let (status, root) = call(Method::GET, &format!("{boot}/"), None);
    assert_eq!(status, 200, "{root}");
    let (status, found) = call(
        Method::GET,
        &format!("{boot}/v1/lookup?addresses=52:54:00:ab:cd:ef"),
        None,
    );
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["node"]["uuid"], uuid.as_str());
    let token = found["config"]["agent_token"]
        .as_str()
        .expect("token")
        .to_string();
    let heartbeat = |token: &str| {
        call(
            Method::POST,
            &format!("{boot}/v1/heartbeat/{uuid}"),
            Some(serde_json::json!({
                "callback_url": "http://192.0.2.9:9999",
                "agent_token": token,
                "agent_version": "ferrite-test",
            })),
        )
    };
    assert_eq!(heartbeat("wrong").0, 400);
    assert_eq!(heartbeat(&token).0, 202);
    let (_, n) = call(Method::GET, &format!("{api}/v1/nodes/{uuid}"), None);
    assert_eq!(
        n["driver_internal_info"]["agent_url"],
        "http://192.0.2.9:9999"
    );

    // Nothing else of the API is reachable there.
    for path in [
        "/v1/nodes",
        "/nodes",
        "/v1/ports",
        "/v1/drivers",
        &format!("/v1/nodes/{uuid}"),
    ] {
        let resp = client()
            .get(format!("{boot}{path}"))
            .header("X-OpenStack-Ironic-API-Version", "latest")
            .send()
            .expect("GET");
        assert_eq!(resp.status(), 404, "{path} on the provisioning listener");
        assert!(
            resp.headers()
                .contains_key("x-openstack-ironic-api-max-version")
                || resp
                    .headers()
                    .contains_key("x-openstack-ironic-api-maximum-version")
        );
    }
    let (status, _) = call(
        Method::POST,
        &format!("{boot}/v1/nodes"),
        Some(serde_json::json!({"driver": "fake-hardware"})),
    );
    assert_eq!(status, 404);
    assert_eq!(call(Method::GET, &format!("{api}/v1/nodes"), None).0, 200);

    server.signal(libc::SIGTERM);
    assert_eq!(server.wait_exit().code(), Some(0), "{}", server.stderr());
}

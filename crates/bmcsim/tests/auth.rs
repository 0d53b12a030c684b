//! Authentication as Ironic uses it: HTTP Basic and Redfish sessions.

mod common;

use common::{PASS, Sim, USER};
use ferrite_bmcsim::{Config, Credentials};
use reqwest::StatusCode;
use serde_json::{Value, json};

#[tokio::test]
async fn basic_auth_is_enforced() {
    let s = Sim::start(Config {
        systems: 2,
        auth: Some(Credentials {
            username: "root".into(),
            password: "calvin".into(),
        }),
        ..Config::default()
    })
    .await;
    let url = s.url(&s.sys(0));
    let resp = s.http.get(&url).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert!(resp.headers().contains_key("www-authenticate"));
    let body: Value = resp.json().await.unwrap();
    assert!(body["error"]["code"].is_string());
    let resp = s
        .http
        .get(&url)
        .basic_auth("root", Some("wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let resp = s
        .http
        .get(&url)
        .basic_auth(USER, Some(PASS))
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        StatusCode::UNAUTHORIZED,
        "default credentials are not accepted"
    );
    let resp = s
        .http
        .get(&url)
        .basic_auth("root", Some("calvin"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    // Actions are protected too, and a refused one changes nothing.
    let reset = format!("{url}/Actions/ComputerSystem.Reset");
    let resp = s
        .http
        .post(&reset)
        .json(&json!({"ResetType": "On"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(s.sim.fleet().snapshot(0).unwrap().boot_count, 0);
    // The service root stays public so clients can discover sessions.
    let resp = s.http.get(s.url("/redfish/v1/")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(s.sim.fleet().stats().unauthorized >= 4);
}

#[tokio::test]
async fn session_tokens_work_until_deleted() {
    let s = Sim::with_systems(2).await;
    let sessions = s.url("/redfish/v1/SessionService/Sessions");
    let resp = s
        .http
        .post(&sessions)
        .json(&json!({"UserName": USER, "Password": "bad"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let resp = s
        .http
        .post(&sessions)
        .json(&json!({"UserName": USER, "Password": PASS}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let token = resp.headers()["x-auth-token"].to_str().unwrap().to_string();
    let location = resp.headers()["location"].to_str().unwrap().to_string();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["@odata.id"], location);
    assert_eq!(body["UserName"], USER);

    let sys_url = s.url(&s.sys(1));
    let resp = s
        .http
        .get(&sys_url)
        .header("X-Auth-Token", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let resp = s
        .http
        .post(format!("{sys_url}/Actions/ComputerSystem.Reset"))
        .header("X-Auth-Token", &token)
        .json(&json!({"ResetType": "On"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    // The session is listed and readable.
    let list: Value = s
        .http
        .get(&sessions)
        .header("X-Auth-Token", &token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["Members"][0]["@odata.id"], location);
    // A made-up token is refused.
    let resp = s
        .http
        .get(&sys_url)
        .header("X-Auth-Token", "0123")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    // Logout, then the token no longer works.
    let resp = s
        .http
        .delete(s.url(&location))
        .header("X-Auth-Token", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let resp = s
        .http
        .get(&sys_url)
        .header("X-Auth-Token", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let stats = s.sim.fleet().stats();
    assert_eq!(stats.sessions_created, 1);
    assert_eq!(stats.sessions_active, 0);
}

#[tokio::test]
async fn no_auth_mode_accepts_anonymous_requests() {
    let s = Sim::start(Config {
        systems: 1,
        auth: None,
        ..Config::default()
    })
    .await;
    let resp = s.http.get(s.url(&s.sys(0))).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}

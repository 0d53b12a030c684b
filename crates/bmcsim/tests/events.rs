//! The EventService as a subscriber sees it: subscriptions over Redfish,
//! one event per power change of the systems a subscription names (with
//! its Context), nothing for other systems, nothing after unsubscribing,
//! and a service that can be turned off.

mod common;

use std::time::Duration;

use axum::Router;
use axum::routing::post;
use common::Sim;
use ferrite_bmcsim::{Config, PowerState};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::sync::mpsc;

/// A receiver on a free loopback port; every event body arrives on the
/// channel.
async fn receiver() -> (String, mpsc::UnboundedReceiver<Value>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let app = Router::new().route(
        "/events",
        post(move |body: axum::Json<Value>| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(body.0);
                StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/events", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, rx)
}

async fn delivered(s: &Sim) -> u64 {
    let (_, v) = s.control(Method::GET, "/bmcsim/subscriptions", None).await;
    v["delivered"].as_u64().unwrap_or(0)
}

#[tokio::test]
async fn power_changes_reach_the_subscribers_of_that_system_only() {
    let s = Sim::with_systems(3).await;
    let service = s.get("/redfish/v1/EventService").await;
    assert_eq!(service["ServiceEnabled"], true);
    let (url, mut events) = receiver().await;
    let (status, sub) = s
        .post(
            "/redfish/v1/EventService/Subscriptions",
            json!({"Destination": url, "Context": "secret-1", "Protocol": "Redfish",
                   "OriginResources": [{"@odata.id": s.sys(1)}]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{sub}");
    let path = sub["@odata.id"].as_str().expect("path").to_string();
    assert_eq!(s.get(&path).await["Context"], "secret-1");
    let listed = s.get("/redfish/v1/EventService/Subscriptions").await;
    assert_eq!(listed["Members"][0]["@odata.id"], path.as_str());

    // Another system's change is not sent at all.
    s.sim
        .fleet()
        .set_power_oob(2, PowerState::On)
        .expect("flip 2");
    s.sim
        .fleet()
        .set_power_oob(1, PowerState::On)
        .expect("flip 1");
    let event = tokio::time::timeout(Duration::from_secs(10), events.recv())
        .await
        .expect("an event in time")
        .expect("an event");
    assert_eq!(event["Context"], "secret-1");
    assert_eq!(
        event["Events"][0]["OriginOfCondition"]["@odata.id"],
        s.sys(1).as_str()
    );
    // A Reset through Redfish is a power change too.
    assert_eq!(s.reset(1, "ForceOff").await, StatusCode::NO_CONTENT);
    let event = tokio::time::timeout(Duration::from_secs(10), events.recv())
        .await
        .expect("an event in time")
        .expect("an event");
    assert!(
        event["Events"][0]["Message"]
            .as_str()
            .unwrap_or("")
            .contains("Off"),
        "{event}"
    );
    while delivered(&s).await < 2 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Unsubscribed: no more deliveries.
    let (status, _) = s.call(Method::DELETE, &path, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = s.call(Method::GET, &path, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    s.sim
        .fleet()
        .set_power_oob(1, PowerState::On)
        .expect("flip 1");
    let (_, v) = s.control(Method::GET, "/bmcsim/subscriptions", None).await;
    assert_eq!(v["subscriptions"], json!([]));
    assert_eq!(v["delivered"], 2);
    assert!(events.try_recv().is_err());
}

#[tokio::test]
async fn subscriptions_can_be_lost_and_the_service_turned_off() {
    let s = Sim::with_systems(1).await;
    let (url, _events) = receiver().await;
    for _ in 0..2 {
        let (status, _) = s
            .post(
                "/redfish/v1/EventService/Subscriptions",
                json!({"Destination": url}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let (status, _) = s
        .post(
            "/redfish/v1/EventService/Subscriptions",
            json!({"Destination": "ftp://nowhere"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (_, v) = s
        .control(Method::DELETE, "/bmcsim/subscriptions", None)
        .await;
    assert_eq!(v["removed"], 2);
    let listed = s.get("/redfish/v1/EventService/Subscriptions").await;
    assert_eq!(listed["Members"], json!([]));

    let off = Sim::start(Config {
        systems: 1,
        event_service: false,
        ..Config::default()
    })
    .await;
    assert_eq!(
        off.get("/redfish/v1/EventService").await["ServiceEnabled"],
        false
    );
    let (status, _) = off
        .post(
            "/redfish/v1/EventService/Subscriptions",
            json!({"Destination": url}),
        )
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
}

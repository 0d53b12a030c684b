//! The feed's HTTP contract: errors in Ironic's format (410 with the
//! oldest seq for a trimmed position), filters, authentication, webhook
//! validation, `/metrics`, and the checked-in OpenAPI document.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use ferrite_api::{App, Auth, router};
use ferrite_store::events::Retention;
use serde_json::json;
use tower::ServiceExt;

use crate::common::{Site, fault, send};

async fn enroll(site: &Site, count: usize) {
    for i in 0..count {
        let made = site
            .latest(
                "POST",
                "/v1/nodes",
                Some(json!({"name": format!("a{i}"), "driver": "fake-hardware",
                            "driver_info": {"ipmi_password": "s3cr3t"}})),
            )
            .await;
        assert_eq!(made.status, 201, "{}", made.body);
    }
}

on_both_backends! {
    async fn a_trimmed_position_is_410_naming_the_oldest_seq(backend: Backend) {
        let site = Site::start_on(backend, ferrite_model::MAX_VERSION, |_| {}).await;
        enroll(&site, 10).await;
        let keep = Retention {
            max_count: Some(4),
            max_age: None,
        };
        assert_eq!(site.store.trim_events(keep).await.unwrap(), 6);
        for path in [
            "/ferrite/v1/events?since=2",
            "/ferrite/v1/events/stream?since=2",
        ] {
            let gone = site.latest("GET", path, None).await;
            assert_eq!(gone.status, StatusCode::GONE, "{path}");
            assert!(
                fault(&gone.body).contains("oldest available event is 7"),
                "{path}"
            );
        }
        let whole = site.latest("GET", "/ferrite/v1/events?since=6", None).await;
        assert_eq!(whole.status, 200);
        assert_eq!(whole.body["events"][0]["seq"], 7);
        assert_eq!(whole.body["next_since"], 10);
        let ahead = site
            .latest("GET", "/ferrite/v1/events?since=11", None)
            .await;
        assert_eq!(ahead.status, 400);
        let bad = site.latest("GET", "/ferrite/v1/events?limit=0", None).await;
        assert_eq!(bad.status, 400);
        assert!(fault(&bad.body).contains("limit"));
    }

    async fn events_carry_what_changed_without_secrets_and_filter_by_type(backend: Backend) {
        let site = Site::start_on(backend, ferrite_model::MAX_VERSION, |_| {}).await;
        enroll(&site, 1).await;
        let patched = site
            .latest(
                "PATCH",
                "/v1/nodes/a0",
                Some(json!([{"op": "add", "path": "/extra/k", "value": 1}])),
            )
            .await;
        assert_eq!(patched.status, 200);
        let all = site.latest("GET", "/ferrite/v1/events", None).await.body;
        let events = all["events"].as_array().unwrap();
        assert_eq!(events[0]["type"], "node.created");
        assert_eq!(events[0]["resource"], "node");
        assert_eq!(events[0]["data"]["driver_info"]["ipmi_password"], "******");
        assert!(!all.to_string().contains("s3cr3t"));
        assert_eq!(events[1]["type"], "node.updated");
        assert_eq!(events[1]["data"]["changed"]["extra"], json!({"k": 1}));
        let only = site
            .latest("GET", "/ferrite/v1/events?type=node.updated", None)
            .await
            .body;
        assert_eq!(only["events"].as_array().unwrap().len(), 1);
        // A wait with nothing new returns empty at the head, after the wait.
        let empty = site
            .latest("GET", "/ferrite/v1/events?since=2&wait=0.2", None)
            .await
            .body;
        assert_eq!(empty, json!({"events": [], "next_since": 2}));
    }

    async fn a_long_poll_is_answered_by_the_commit_it_waits_for(backend: Backend) {
        let site = Site::start_on(backend, ferrite_model::MAX_VERSION, |_| {}).await;
        let router = site.router.clone();
        let poll = tokio::spawn(async move {
            send(
                &router,
                "GET",
                "/ferrite/v1/events?since=0&wait=60",
                None,
                None,
            )
            .await
        });
        // The poll is held until a change commits.
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(!poll.is_finished());
        enroll(&site, 1).await;
        let answer = tokio::time::timeout(Duration::from_secs(30), poll)
            .await
            .expect("the poll was not woken")
            .unwrap();
        assert_eq!(answer.body["events"][0]["type"], "node.created");
    }

    async fn the_feed_requires_authentication_like_v1(backend: Backend) {
        let site = Site::start_on(backend, ferrite_model::MAX_VERSION, |_| {}).await;
        let hash = bcrypt::hash("pw", 4).unwrap();
        let app = App {
            store: site.store.clone(),
            conductor: site.conductor.clone(),
            auth: Auth::HttpBasic {
                users: vec![("u".into(), hash)],
            },
            public_url: None,
            max_body_bytes: 1 << 20,
        };
        let secured = router(app);
        for path in ["/ferrite/v1/events", "/ferrite/v1/webhooks", "/metrics"] {
            let denied = send(&secured, "GET", path, None, None).await;
            assert_eq!(denied.status, 401, "{path}");
        }
    }

    async fn webhook_requests_are_validated_and_the_secret_never_shown(backend: Backend) {
        let site = Site::start_on(backend, ferrite_model::MAX_VERSION, |_| {}).await;
        let bad = [
            json!({"url": "ftp://x/", "secret": "0123456789abcdef"}),
            json!({"url": "http://127.0.0.1:9/", "secret": "short"}),
            json!({"url": "http://127.0.0.1:9/", "secret": "0123456789abcdef", "extra": 1}),
            json!({"url": "http://127.0.0.1:9/", "secret": "0123456789abcdef", "since": 5}),
        ];
        for body in bad {
            let refused = site
                .latest("POST", "/ferrite/v1/webhooks", Some(body.clone()))
                .await;
            assert_eq!(refused.status, 400, "{body}");
        }
        let made = site
            .latest(
                "POST",
                "/ferrite/v1/webhooks",
                Some(json!({"url": "http://127.0.0.1:9/", "secret": "0123456789abcdef"})),
            )
            .await;
        assert_eq!(made.status, 201);
        let uuid = made.body["uuid"].as_str().unwrap();
        let changed = site
            .latest(
                "PATCH",
                &format!("/ferrite/v1/webhooks/{uuid}"),
                Some(json!({"types": ["port.*"], "secret": "fedcba9876543210"})),
            )
            .await;
        assert_eq!(changed.status, 200);
        assert_eq!(changed.body["types"], json!(["port.*"]));
        let listed = site.latest("GET", "/ferrite/v1/webhooks", None).await;
        assert!(!listed.body.to_string().contains("fedcba9876543210"));
        let missing = site
            .latest(
                "GET",
                &format!("/ferrite/v1/webhooks/{}", uuid::Uuid::nil()),
                None,
            )
            .await;
        assert_eq!(missing.status, 404);
        assert!(fault(&missing.body).contains("could not be found"));
    }

    async fn metrics_count_requests_by_route_template_and_transitions(backend: Backend) {
        let site = Site::start_on(backend, ferrite_model::MAX_VERSION, |_| {}).await;
        enroll(&site, 1).await;
        let moved = site
            .latest(
                "PUT",
                "/v1/nodes/a0/states/provision",
                Some(json!({"target": "manage"})),
            )
            .await;
        assert_eq!(moved.status, 202);
        site.wait_for("a0", "manageable").await;
        let response = site
            .router
            .clone()
            .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 24)
            .await
            .unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            text.lines()
                .any(|l| l.starts_with("ferrite_http_requests_total")
                    && l.contains("route=\"/v1/nodes/{node}/states/provision\"")
                    && l.contains("status=\"202\"")),
            "{text}"
        );
        assert!(
            text.contains("ferrite_provision_transitions_total{from=\"enroll\",to=\"verifying\"}"),
            "{text}"
        );
        // No per-node labels: neither the name nor any uuid appears.
        assert!(!text.contains("a0"));
        let node = site.latest("GET", "/v1/nodes/a0", None).await.body;
        assert!(!text.contains(node["uuid"].as_str().unwrap()));
    }
}

/// The checked-in OpenAPI document is what the code generates. Run with
/// `FERRITE_UPDATE_OPENAPI=1` to rewrite it after changing the API.
#[test]
fn the_checked_in_openapi_document_matches_the_code() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi/ferrite-v1.json");
    let generated = ferrite_api::ferrite::openapi_json();
    if std::env::var_os("FERRITE_UPDATE_OPENAPI").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &generated).unwrap();
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == generated,
        "docs/openapi/ferrite-v1.json is out of date: run \
         FERRITE_UPDATE_OPENAPI=1 cargo test -p ferrite-api --test feed"
    );
}

//! Conductor registration, heartbeats and listing.

use chrono::{Duration, DurationRound, Utc};
use ferrite_model::Conductor;
use ferrite_store::{Filter, ListQuery, StoreError};
use serde_json::json;

fn conductor(hostname: &str, group: &str) -> Conductor {
    Conductor {
        hostname: hostname.into(),
        conductor_group: group.into(),
        drivers: vec!["fake-hardware".into(), "redfish".into()],
        online: false,
        // Stored to the microsecond on every backend (PostgreSQL's
        // precision), so the fixture is too, to compare it whole.
        created_at: (Utc::now() - Duration::hours(1))
            .duration_trunc(Duration::microseconds(1))
            .unwrap(),
        updated_at: None,
        roles: Vec::new(),
    }
}

fn hosts(list: &[Conductor]) -> Vec<&str> {
    list.iter().map(|c| c.hostname.as_str()).collect()
}

on_both_backends! {
    async fn register_heartbeat_unregister(db: Db) {
        let s = &db.store;
        let c = conductor("c1", "east");
        s.register_conductor(&c).await.unwrap();
        let got = s.conductor("c1").await.unwrap();
        assert!(got.online);
        assert_eq!(got.drivers, c.drivers);
        assert_eq!(got.created_at, c.created_at);
        let first_seen = got.updated_at.unwrap();

        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        s.heartbeat_conductor("c1").await.unwrap();
        let beat = s.conductor("c1").await.unwrap().updated_at.unwrap();
        assert!(beat > first_seen);

        s.unregister_conductor("c1").await.unwrap();
        assert!(!s.conductor("c1").await.unwrap().online);

        // Re-registering brings it back, with new drivers, keeping created_at.
        let again = Conductor {
            drivers: vec!["ipmi".into()],
            created_at: Utc::now(),
            ..c.clone()
        };
        s.register_conductor(&again).await.unwrap();
        let got = s.conductor("c1").await.unwrap();
        assert!(got.online);
        assert_eq!(got.drivers, ["ipmi"]);
        assert_eq!(got.created_at, c.created_at);

        for err in [
            s.conductor("ghost").await.unwrap_err(),
            s.heartbeat_conductor("ghost").await.unwrap_err(),
            s.unregister_conductor("ghost").await.unwrap_err(),
        ] {
            assert_eq!(err.to_string(), "Conductor ghost could not be found.");
        }
    }
}

on_both_backends! {
    async fn list_pages_by_hostname_and_filters_by_group(db: Db) {
        let s = &db.store;
        for (h, g) in [("c3", "east"), ("c1", "east"), ("c2", ""), ("c4", "west")] {
            s.register_conductor(&conductor(h, g)).await.unwrap();
        }
        let all = s.list_conductors(&ListQuery::default()).await.unwrap();
        assert_eq!(hosts(&all), ["c1", "c2", "c3", "c4"]);

        let mut page = ListQuery {
            limit: Some(3),
            sort_desc: true,
            ..ListQuery::default()
        };
        let p1 = s.list_conductors(&page).await.unwrap();
        assert_eq!(hosts(&p1), ["c4", "c3", "c2"]);
        page.marker = Some("c2".into());
        assert_eq!(hosts(&s.list_conductors(&page).await.unwrap()), ["c1"]);

        let east = ListQuery {
            filters: vec![Filter::Eq("conductor_group".into(), json!("east"))],
            ..ListQuery::default()
        };
        assert_eq!(
            hosts(&s.list_conductors(&east).await.unwrap()),
            ["c1", "c3"]
        );

        s.unregister_conductor("c3").await.unwrap();
        let online = ListQuery {
            filters: vec![Filter::Eq("online".into(), json!(true))],
            sort_key: Some("conductor_group".into()),
            ..ListQuery::default()
        };
        assert_eq!(
            hosts(&s.list_conductors(&online).await.unwrap()),
            ["c2", "c1", "c4"]
        );

        let bad = ListQuery {
            marker: Some("nope".into()),
            ..ListQuery::default()
        };
        let err = s.list_conductors(&bad).await.unwrap_err();
        assert!(matches!(
            err,
            StoreError::NotFound {
                kind: "Conductor",
                ..
            }
        ));
    }
}

//! Deploy templates: round trips by uuid and name, the unique name the
//! conductor relies on, and the lookup by a set of trait names.

use chrono::Utc;
use ferrite_model::deploy_template::DeployStep;
use ferrite_model::{DeployTemplate, Dict};
use ferrite_store::{Filter, Ident, ListQuery, StoreError};
use serde_json::json;
use uuid::Uuid;

fn template(name: &str) -> DeployTemplate {
    let mut args = Dict::new();
    args.insert("settings".into(), json!([{"name": "HT", "value": "on"}]));
    DeployTemplate {
        uuid: Uuid::new_v4(),
        name: name.into(),
        steps: vec![DeployStep {
            interface: "bios".into(),
            step: "apply_configuration".into(),
            args,
            priority: 150,
        }],
        description: Some("hyper-threading on".into()),
        created_at: Utc::now(),
        ..DeployTemplate::default()
    }
}

fn conflict_text(e: StoreError) -> String {
    match e {
        StoreError::Conflict(m) => m,
        other => panic!("expected a conflict, got {other:?}"),
    }
}

on_both_backends! {
    async fn template_round_trip_by_uuid_and_name(db: Db) {
        let t = template("CUSTOM_HT_ON");
        assert_eq!(db.store.insert(t.clone()).await.unwrap(), t);
        let by_uuid: DeployTemplate = db.store.get(&Ident::Uuid(t.uuid)).await.unwrap();
        assert_eq!(by_uuid, t);
        let by_name: DeployTemplate = db.store.get(&Ident::parse("CUSTOM_HT_ON")).await.unwrap();
        assert_eq!(by_name, t);
        let err = db
            .store
            .get::<DeployTemplate>(&Ident::parse("CUSTOM_NOPE"))
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "Deploy template CUSTOM_NOPE could not be found."
        );

        let (renamed, ()) = db
            .store
            .update(&Ident::Uuid(t.uuid), |d: &mut DeployTemplate| {
                d.name = "CUSTOM_HT_OFF".into();
                d.steps[0].priority = 10;
                Ok::<_, StoreError>(())
            })
            .await
            .unwrap();
        assert!(renamed.updated_at.is_some());
        let again: DeployTemplate = db.store.get(&Ident::parse("CUSTOM_HT_OFF")).await.unwrap();
        assert_eq!(again.steps[0].priority, 10);
        assert!(
            db.store
                .get::<DeployTemplate>(&Ident::parse("CUSTOM_HT_ON"))
                .await
                .is_err()
        );

        db.store.delete::<DeployTemplate>(t.uuid).await.unwrap();
        let gone = db.store.delete::<DeployTemplate>(t.uuid).await.unwrap_err();
        assert!(matches!(
            gone,
            StoreError::NotFound {
                kind: "Deploy template",
                ..
            }
        ));
    }
}

on_both_backends! {
    async fn template_names_and_uuids_are_unique(db: Db) {
        let first = db.store.insert(template("CUSTOM_A")).await.unwrap();
        let err = db.store.insert(template("CUSTOM_A")).await.unwrap_err();
        assert_eq!(
            conflict_text(err),
            "A deploy template with name CUSTOM_A already exists."
        );
        let same_uuid = DeployTemplate {
            uuid: first.uuid,
            ..template("CUSTOM_B")
        };
        let err = db.store.insert(same_uuid).await.unwrap_err();
        assert_eq!(
            conflict_text(err),
            format!("A deploy template with UUID {} already exists.", first.uuid)
        );
        // Renaming onto a taken name is refused and leaves both untouched.
        let second = db.store.insert(template("CUSTOM_B")).await.unwrap();
        let err = db
            .store
            .update(&Ident::Uuid(second.uuid), |d: &mut DeployTemplate| {
                d.name = "CUSTOM_A".into();
                Ok::<_, StoreError>(())
            })
            .await
            .unwrap_err();
        assert_eq!(
            conflict_text(err),
            "A deploy template with name CUSTOM_A already exists."
        );
        let kept: DeployTemplate = db.store.get(&Ident::Uuid(second.uuid)).await.unwrap();
        assert_eq!(kept.name, "CUSTOM_B");
    }
}

on_both_backends! {
    async fn templates_are_found_by_a_set_of_traits(db: Db) {
        for name in ["CUSTOM_A", "CUSTOM_B", "CUSTOM_C"] {
            db.store.insert(template(name)).await.unwrap();
        }
        let query = ListQuery {
            filters: vec![Filter::In(
                "name".into(),
                vec![json!("CUSTOM_C"), json!("CUSTOM_A"), json!("CUSTOM_Z")],
            )],
            ..ListQuery::default()
        };
        let found: Vec<DeployTemplate> = db.store.list(&query).await.unwrap();
        let names: Vec<&str> = found.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["CUSTOM_A", "CUSTOM_C"]);
        assert_eq!(db.store.count::<DeployTemplate>(&query).await.unwrap(), 2);
    }
}

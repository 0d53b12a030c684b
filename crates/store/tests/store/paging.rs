//! Paging with markers over random data visits every row exactly once, in
//! the order SQLite's ORDER BY defines (NULLs first ascending, last
//! descending; ties by id in the same direction), on both backends.

use std::cmp::Ordering;

use crate::common::{Backend, discard, node, open_on, pg_admin_url};
use ferrite_model::Node;
use ferrite_store::{Filter, ListQuery, Store};
use proptest::prelude::*;
use serde_json::json;

#[derive(Debug, Clone)]
struct Row {
    driver: &'static str,
    resource_class: Option<&'static str>,
    maintenance: bool,
    description: Option<String>,
    named: bool,
}

fn row() -> impl Strategy<Value = Row> {
    (
        prop::sample::select(vec!["ipmi", "redfish", "fake-hardware"]),
        prop::option::of(prop::sample::select(vec!["gpu", "large", "small"])),
        any::<bool>(),
        prop::option::of("[a-cA-C]{0,2}"),
        any::<bool>(),
    )
        .prop_map(
            |(driver, resource_class, maintenance, description, named)| Row {
                driver,
                resource_class,
                maintenance,
                description,
                named,
            },
        )
}

/// A sort value as SQLite orders it: NULL, then numbers, then text.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    Null,
    Int(i64),
    Text(String),
}

fn text(s: &Option<String>) -> Key {
    s.clone().map_or(Key::Null, Key::Text)
}

fn key(n: &Node, id: usize, field: &str) -> Key {
    match field {
        "id" => Key::Int(id as i64),
        "driver" => Key::Text(n.driver.clone()),
        "resource_class" => text(&n.resource_class),
        "maintenance" => Key::Int(i64::from(n.maintenance)),
        "description" => text(&n.description),
        "name" => text(&n.name),
        other => panic!("no key for {other}"),
    }
}

const SORT_KEYS: &[&str] = &[
    "id",
    "driver",
    "resource_class",
    "maintenance",
    "description",
    "name",
];

async fn walk(store: &Store, base: &ListQuery, page: usize) -> Vec<Node> {
    let mut seen = Vec::new();
    let mut query = ListQuery {
        limit: Some(page),
        ..base.clone()
    };
    loop {
        let batch: Vec<Node> = store.list(&query).await.unwrap();
        assert!(batch.len() <= page);
        let Some(last) = batch.last() else { break };
        query.marker = Some(last.uuid.to_string());
        seen.extend(batch);
        assert!(seen.len() <= 200, "paging does not terminate");
    }
    seen
}

async fn check(
    backend: Backend,
    rows: Vec<Row>,
    sort: usize,
    desc: bool,
    page: usize,
    only_maint: bool,
) {
    let db = open_on(backend).await;
    let store = db.store.clone();
    let nodes: Vec<Node> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let mut n = node(r.named.then(|| format!("n{:02}", (i * 7) % 41)).as_deref());
            n.driver = r.driver.into();
            n.resource_class = r.resource_class.map(str::to_string);
            n.maintenance = r.maintenance;
            n.description = r.description.clone();
            n
        })
        .collect();
    // Inserted concurrently so they share commits; the id order is whatever
    // the writer chose, read back from the default (id) order.
    let inserts = nodes.into_iter().map(|n| {
        let s = store.clone();
        async move { s.insert(n).await.unwrap() }
    });
    futures::future::join_all(inserts).await;
    let by_id: Vec<Node> = store.list(&ListQuery::default()).await.unwrap();
    assert_eq!(by_id.len(), rows.len());

    let field = SORT_KEYS[sort];
    let mut want: Vec<(usize, &Node)> = by_id
        .iter()
        .enumerate()
        .filter(|(_, n)| !only_maint || n.maintenance)
        .collect();
    want.sort_by(|(ia, a), (ib, b)| {
        let o = key(a, *ia, field).cmp(&key(b, *ib, field)).then(ia.cmp(ib));
        if desc { o.reverse() } else { o }
    });
    let want: Vec<_> = want.into_iter().map(|(_, n)| n.uuid).collect();

    let filters = if only_maint {
        vec![Filter::Eq("maintenance".into(), json!(true))]
    } else {
        Vec::new()
    };
    let base = ListQuery {
        filters,
        sort_key: Some(field.into()),
        sort_desc: desc,
        ..ListQuery::default()
    };
    let whole: Vec<Node> = store.list(&base).await.unwrap();
    let whole: Vec<_> = whole.iter().map(|n| n.uuid).collect();
    assert_eq!(whole, want, "one-page order, sort {field} desc {desc}");
    let paged: Vec<_> = walk(&store, &base, page)
        .await
        .iter()
        .map(|n| n.uuid)
        .collect();
    assert_eq!(
        paged, want,
        "paged order, sort {field} desc {desc} page {page}"
    );
    assert!(
        want.iter()
            .all(|u| paged.iter().filter(|p| *p == u).count() == 1)
    );
    store.close().await;
    discard(backend, &db.url()).await;
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn marker_paging_visits_every_row_once_on_sqlite(
        rows in prop::collection::vec(row(), 0..30),
        sort in 0..SORT_KEYS.len(),
        desc in any::<bool>(),
        page in 1usize..6,
        only_maint in any::<bool>(),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(check(Backend::Sqlite, rows, sort, desc, page, only_maint));
    }

    #[test]
    fn marker_paging_visits_every_row_once_on_postgres(
        rows in prop::collection::vec(row(), 0..30),
        sort in 0..SORT_KEYS.len(),
        desc in any::<bool>(),
        page in 1usize..6,
        only_maint in any::<bool>(),
    ) {
        if pg_admin_url().is_some() {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(check(Backend::Postgres, rows, sort, desc, page, only_maint));
        }
    }
}

#[test]
fn key_order_matches_sqlite_types() {
    assert_eq!(Key::Null.cmp(&Key::Int(0)), Ordering::Less);
    assert_eq!(Key::Int(1).cmp(&Key::Text(String::new())), Ordering::Less);
}

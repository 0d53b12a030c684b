//! How SQLite spells the store's queries (see [`crate::sql`]): fields are
//! generated columns or `json_extract`, which yields SQL values typed as in
//! the JSON (booleans as 1/0), so one bound value compares with either.

use std::borrow::Cow;

use serde_json::Value;

use crate::schema::{Field, Source};
use crate::sql::{Arg, Comparison, Dialect, Page, plain_page, push_limit, push_where};

/// The SQLite dialect.
pub(crate) struct Sqlite;

impl Dialect for Sqlite {
    fn placeholder(&self, _n: usize) -> String {
        "?".to_string()
    }

    fn value(&self, src: Source, field: &str) -> Cow<'static, str> {
        match src.field(field) {
            Field::Column(c) => Cow::Borrowed(c),
            Field::Path(p) => Cow::Owned(format!("json_extract(doc, '$.{p}')")),
            Field::Absent => Cow::Borrowed("NULL"),
        }
    }

    fn sort(&self, src: Source, field: &str) -> Cow<'static, str> {
        self.value(src, field)
    }

    fn compare(&self, src: Source, field: &str, v: &Value) -> Comparison {
        Comparison {
            expr: self.value(src, field),
            arg: Arg::from_json(v).unwrap_or(Arg::Text(String::new())),
            cast: None,
        }
    }

    fn eq_nocase(&self, expr: &str, ph: &str) -> String {
        format!("{expr} = {ph} COLLATE NOCASE")
    }

    fn contains(&self, expr: &str, ph: &str) -> String {
        // SQLite's lower() folds ASCII only, as the needle was folded.
        format!("instr(lower({expr}), {ph}) > 0")
    }

    fn never(&self) -> &'static str {
        "0"
    }

    fn order(&self, desc: bool) -> &'static str {
        // SQLite's own NULL placement is the one the store promises.
        if desc { "DESC" } else { "ASC" }
    }

    fn page(&self, src: Source, p: &Page<'_>) -> String {
        let key = src.key();
        let dir = self.order(p.desc);
        let Source::Docs(t) = src else {
            return plain_page(
                self,
                src,
                "hostname, conductor_group, drivers, online, created_at, updated_at, roles",
                p,
            );
        };
        let mut text = p.with.clone();
        if p.sort != key {
            // Sort keys only, then fetch each document of the page by rowid:
            // SQLite's sorter is several times slower when it has to carry
            // the documents along (4.6 ms against 1.2 ms for 500 nodes).
            let mut inner = format!(
                "SELECT {key} AS k_key, {} AS k_sort FROM {}",
                p.sort, p.from
            );
            push_where(&mut inner, &p.conds);
            inner.push_str(&format!(" ORDER BY {} {dir}, {key} {dir}", p.sort));
            push_limit(&mut inner, p);
            text.push_str(&format!(
                "SELECT {} FROM (SELECT t.doc AS doc FROM ({inner}) AS k CROSS JOIN {} AS t \
                 ON t.{key} = k.k_key ORDER BY k.k_sort {dir}, k.k_key {dir})",
                page_of_docs("doc"),
                t.name
            ));
        } else {
            // The page comes back as one JSON array in one row: sqlx's
            // SQLite worker hands rows over one at a time (a thread wake-up
            // each), which cost more than the query for 1,000 documents.
            let mut inner = format!("SELECT doc FROM {}", p.from);
            push_where(&mut inner, &p.conds);
            inner.push_str(&format!(" ORDER BY {} {dir}, {key} {dir}", p.sort));
            push_limit(&mut inner, p);
            text.push_str(&format!("SELECT {} FROM ({inner})", page_of_docs("doc")));
        }
        text
    }
}

/// The aggregate that joins a page's documents into one JSON array. It
/// reads the rows in the order its ordered subquery produces them: SQLite
/// never flattens a subquery with ORDER BY into an aggregate, and an
/// `ORDER BY` inside `group_concat` would sort the documents a second time
/// in a temporary B-tree (spilling megabytes to disk for a 1,000-node page).
/// The store's paging tests, in every sort order, guard this.
fn page_of_docs(doc: &str) -> String {
    format!("'[' || coalesce(group_concat({doc}, ','), '') || ']'")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{NODES, PORTS};
    use crate::sql::{count, list};
    use crate::{Filter, ListQuery};
    use serde_json::json;

    #[test]
    fn fields_read_columns_or_json() {
        let s = Source::Docs(&NODES);
        assert_eq!(Sqlite.value(s, "name"), "name");
        assert_eq!(
            Sqlite.value(s, "last_error"),
            "json_extract(doc, '$.last_error')"
        );
        assert_eq!(Sqlite.value(s, "x'); DROP TABLE nodes; --"), "NULL");
    }

    #[test]
    fn filters_bind_values_not_text() {
        let q = ListQuery {
            filters: vec![
                Filter::Eq("maintenance".into(), json!(true)),
                Filter::Eq("owner".into(), Value::Null),
                Filter::In("driver".into(), vec![json!("a"), Value::Null, json!("b")]),
                Filter::In("driver".into(), vec![]),
            ],
            ..ListQuery::default()
        };
        let sql = count(&Sqlite, Source::Docs(&NODES), &q);
        assert_eq!(
            sql.text,
            "SELECT COUNT(*) FROM nodes WHERE maintenance = ? AND owner IS NULL AND \
             (driver IN (?, ?) OR driver IS NULL) AND 0"
        );
        assert_eq!(
            sql.args,
            vec![
                Arg::Bool(true),
                Arg::Text("a".into()),
                Arg::Text("b".into())
            ]
        );
    }

    #[test]
    fn id_order_pages_by_key_alone() {
        let q = ListQuery {
            limit: Some(5),
            sort_desc: true,
            ..ListQuery::default()
        };
        let sql = list(&Sqlite, Source::Docs(&PORTS), &q, Some(Arg::Int(7)));
        assert_eq!(
            sql.text,
            "SELECT '[' || coalesce(group_concat(doc, ','), '') || ']' \
             FROM (SELECT doc FROM ports WHERE id < ? ORDER BY id DESC, id DESC LIMIT ?)"
        );
        assert_eq!(sql.args, vec![Arg::Int(7), Arg::Int(5)]);
    }
}

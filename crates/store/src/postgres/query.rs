//! How PostgreSQL spells the store's queries (see [`crate::sql`]).
//!
//! Columns are typed (text in the "C" collation, boolean, integer,
//! timestamptz), so a value is compared with a column only when its JSON
//! type matches the column's; anything else, and every field without a
//! column, is compared as JSONB (`doc->'field' = '…'::jsonb`), which is
//! JSON equality: `true` never equals `1`, `"5"` never equals `5`. Sorting
//! on a field without a column sorts its text.

use std::borrow::Cow;

use serde_json::Value;

use crate::schema::{Field, Source};
use crate::sql::{Arg, Comparison, Dialect, Page, plain_page};

/// The PostgreSQL dialect.
pub(crate) struct Postgres;

/// The SQL type of a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ty {
    Text,
    Bool,
    Int,
    Timestamp,
}

/// The type of column `c` of `src` (see migrations/postgres).
fn column_type(src: Source, c: &str) -> Ty {
    match (src, c) {
        (_, "id" | "boot_index" | "priority") => Ty::Int,
        (_, "maintenance" | "online") => Ty::Bool,
        (Source::Conductors, "created_at" | "updated_at") => Ty::Timestamp,
        _ => Ty::Text,
    }
}

impl Dialect for Postgres {
    fn placeholder(&self, n: usize) -> String {
        format!("${n}")
    }

    fn value(&self, src: Source, field: &str) -> Cow<'static, str> {
        match src.field(field) {
            Field::Column(c) if column_type(src, c) == Ty::Text => Cow::Borrowed(c),
            Field::Column(c) => Cow::Owned(format!("{c}::text")),
            Field::Path(p) => Cow::Owned(format!("(doc->>'{p}')")),
            Field::Absent => Cow::Borrowed("NULL::text"),
        }
    }

    fn sort(&self, src: Source, field: &str) -> Cow<'static, str> {
        match src.field(field) {
            Field::Column(c) => Cow::Borrowed(c),
            Field::Path(p) => Cow::Owned(format!("(doc->>'{p}') COLLATE \"C\"")),
            Field::Absent => Cow::Borrowed("NULL::text"),
        }
    }

    fn compare(&self, src: Source, field: &str, v: &Value) -> Comparison {
        let typed = |c: &'static str, arg: Arg, cast| Comparison {
            expr: Cow::Borrowed(c),
            arg,
            cast,
        };
        let as_json = |expr: String| Comparison {
            expr: Cow::Owned(expr),
            arg: Arg::Text(v.to_string()),
            cast: Some("jsonb"),
        };
        match src.field(field) {
            Field::Column(c) => match (column_type(src, c), v) {
                (Ty::Text, Value::String(s)) => typed(c, Arg::Text(s.clone()), None),
                (Ty::Bool, Value::Bool(b)) => typed(c, Arg::Bool(*b), None),
                (Ty::Int, Value::Number(n)) if n.is_i64() => {
                    typed(c, Arg::Int(n.as_i64().unwrap_or_default()), None)
                }
                (Ty::Timestamp, Value::String(s)) => {
                    typed(c, Arg::Text(s.clone()), Some("timestamptz"))
                }
                _ => match src {
                    Source::Docs(_) => as_json(format!("(doc->'{field}')")),
                    Source::Conductors => as_json(format!("to_jsonb({c})")),
                },
            },
            Field::Path(p) => as_json(format!("(doc->'{p}')")),
            Field::Absent => as_json("NULL::jsonb".to_string()),
        }
    }

    fn eq_nocase(&self, expr: &str, ph: &str) -> String {
        // Under "C", lower() folds ASCII letters only, as SQLite's NOCASE.
        format!("lower(({expr}) COLLATE \"C\") = lower({ph} COLLATE \"C\")")
    }

    fn contains(&self, expr: &str, ph: &str) -> String {
        format!("strpos(lower(({expr}) COLLATE \"C\"), {ph}) > 0")
    }

    fn never(&self) -> &'static str {
        "FALSE"
    }

    fn order(&self, desc: bool) -> &'static str {
        // PostgreSQL puts NULLs last ascending; the store promises SQLite's
        // placement.
        if desc {
            "DESC NULLS LAST"
        } else {
            "ASC NULLS FIRST"
        }
    }

    fn page(&self, src: Source, p: &Page<'_>) -> String {
        let select = match src {
            Source::Docs(_) => "doc::text",
            Source::Conductors => {
                "hostname, conductor_group, drivers::text, online, created_at, updated_at, roles::text"
            }
        };
        plain_page(self, src, select, p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::NODES;
    use crate::sql::count;
    use crate::{Filter, ListQuery};
    use serde_json::json;

    #[test]
    fn values_compare_with_columns_of_their_type_else_as_json() {
        let q = ListQuery {
            filters: vec![
                Filter::Eq("maintenance".into(), json!(true)),
                Filter::Eq("name".into(), json!(5)),
                Filter::In("driver".into(), vec![json!("a"), Value::Null, json!("b")]),
                Filter::Eq("retired".into(), json!(true)),
                Filter::In("driver".into(), vec![]),
            ],
            ..ListQuery::default()
        };
        let sql = count(&Postgres, Source::Docs(&NODES), &q);
        assert_eq!(
            sql.text,
            "SELECT COUNT(*) FROM nodes WHERE maintenance = $1 AND (doc->'name') = $2::jsonb \
             AND (driver IN ($3, $4) OR driver IS NULL) AND (doc->'retired') = $5::jsonb \
             AND FALSE"
        );
        assert_eq!(
            sql.args,
            vec![
                Arg::Bool(true),
                Arg::Text("5".into()),
                Arg::Text("a".into()),
                Arg::Text("b".into()),
                Arg::Text("true".into()),
            ]
        );
    }
}

//! How a [`ListQuery`] becomes one SELECT with its bound arguments, for any
//! backend: the shape of the statement (filters, marker paging, counts) is
//! built here once, and a [`Dialect`] says how each backend spells a
//! field, a placeholder, a comparison and a page.

use std::borrow::Cow;

use serde_json::Value;

use crate::schema::Source;
use crate::{Filter, ListQuery};

/// A value bound to a placeholder.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Arg {
    Int(i64),
    Real(f64),
    Bool(bool),
    Text(String),
}

impl Arg {
    /// A JSON scalar as the value bound for it; containers are bound as
    /// their compact JSON text.
    pub(crate) fn from_json(v: &Value) -> Option<Arg> {
        match v {
            Value::Null => None,
            Value::Bool(b) => Some(Arg::Bool(*b)),
            Value::Number(n) => Some(match n.as_i64() {
                Some(i) => Arg::Int(i),
                None => Arg::Real(n.as_f64().unwrap_or(f64::NAN)),
            }),
            Value::String(s) => Some(Arg::Text(s.clone())),
            other => Some(Arg::Text(other.to_string())),
        }
    }
}

/// A statement and its arguments, in placeholder order.
#[derive(Debug, Default)]
pub(crate) struct Sql {
    pub text: String,
    pub args: Vec<Arg>,
}

/// The parts of a page query, handed to [`Dialect::page`] to assemble.
pub(crate) struct Page<'a> {
    /// `WITH …` reading the marker row, or empty.
    pub with: String,
    /// The table, joined with the marker row when there is one.
    pub from: String,
    /// Conditions that all must hold.
    pub conds: Vec<String>,
    /// The sort expression (the key when the client chose none).
    pub sort: Cow<'a, str>,
    /// Descending order.
    pub desc: bool,
    /// The placeholder of the page size, when there is one.
    pub limit: Option<String>,
}

/// How one backend spells what the builder needs.
pub(crate) trait Dialect {
    /// The placeholder for the `n`-th argument (1-based).
    fn placeholder(&self, n: usize) -> String;
    /// `field` as a scalar value: what `IS NULL` tests and text functions
    /// read.
    fn value(&self, src: Source, field: &str) -> Cow<'static, str>;
    /// The expression a list sorts `field` by.
    fn sort(&self, src: Source, field: &str) -> Cow<'static, str>;
    /// The expression compared with the non-null `v` for equality and
    /// the argument bound for `v` (the placeholder is filled in by the
    /// caller from [`Dialect::placeholder`], wrapped by `cast`).
    fn compare(&self, src: Source, field: &str, v: &Value) -> Comparison;
    /// `expr` equals the text at `ph`, ASCII letters folded.
    fn eq_nocase(&self, expr: &str, ph: &str) -> String;
    /// The text at `ph` (already folded to lower case) occurs in `expr`,
    /// ASCII letters folded.
    fn contains(&self, expr: &str, ph: &str) -> String;
    /// A condition no row meets.
    fn never(&self) -> &'static str;
    /// `ASC` or `DESC`, with NULLs first ascending and last descending.
    fn order(&self, desc: bool) -> &'static str;
    /// Assembles the page query of `src` from `p`.
    fn page(&self, src: Source, p: &Page<'_>) -> String;
}

/// One side of an equality: the expression and how its argument binds.
pub(crate) struct Comparison {
    pub expr: Cow<'static, str>,
    pub arg: Arg,
    /// Wraps the placeholder (a cast), or `None` to use it bare.
    pub cast: Option<&'static str>,
}

/// Arguments and their placeholders, numbered as they are pushed.
struct Binder<'d, D: ?Sized> {
    dialect: &'d D,
    args: Vec<Arg>,
}

impl<D: Dialect + ?Sized> Binder<'_, D> {
    fn push(&mut self, a: Arg) -> String {
        self.args.push(a);
        self.dialect.placeholder(self.args.len())
    }

    fn push_cast(&mut self, a: Arg, cast: Option<&str>) -> String {
        let ph = self.push(a);
        match cast {
            Some(ty) => format!("{ph}::{ty}"),
            None => ph,
        }
    }

    /// One filter as a boolean SQL expression, pushing its arguments.
    fn condition(&mut self, src: Source, f: &Filter) -> String {
        let d = self.dialect;
        match f {
            Filter::Eq(field, v) => self.equals_any(src, field, std::slice::from_ref(v)),
            Filter::In(field, values) if values.is_empty() => d.never().to_string(),
            Filter::In(field, values) => self.equals_any(src, field, values),
            Filter::EqIgnoreCase(field, s) => {
                let ph = self.push(Arg::Text(s.clone()));
                d.eq_nocase(&d.value(src, field), &ph)
            }
            Filter::IsNull(field, true) => format!("{} IS NULL", d.value(src, field)),
            Filter::IsNull(field, false) => format!("{} IS NOT NULL", d.value(src, field)),
            Filter::Contains(field, s) => {
                let ph = self.push(Arg::Text(s.to_ascii_lowercase()));
                d.contains(&d.value(src, field), &ph)
            }
            Filter::OwnerOrLessee(project) => {
                let owner = self.equals_any(src, "owner", &[Value::String(project.clone())]);
                let lessee = self.equals_any(src, "lessee", &[Value::String(project.clone())]);
                format!("({owner} OR {lessee})")
            }
            Filter::OfNodes(inner) => {
                let nodes = Source::Docs(&crate::schema::NODES);
                format!(
                    "{} IN (SELECT uuid FROM nodes WHERE {})",
                    d.value(src, "node_uuid"),
                    self.condition(nodes, inner)
                )
            }
        }
    }

    /// `field` equals one of `values` (null matching null or absent):
    /// values compared through the same expression share one `IN`.
    fn equals_any(&mut self, src: Source, field: &str, values: &[Value]) -> String {
        let mut groups: Vec<(Cow<'static, str>, Vec<String>)> = Vec::new();
        let mut null = false;
        for v in values {
            if v.is_null() {
                null = true;
                continue;
            }
            let c = self.dialect.compare(src, field, v);
            let ph = self.push_cast(c.arg, c.cast);
            match groups.iter_mut().find(|(e, _)| *e == c.expr) {
                Some((_, phs)) => phs.push(ph),
                None => groups.push((c.expr, vec![ph])),
            }
        }
        let mut parts: Vec<String> = groups
            .into_iter()
            .map(|(expr, phs)| match phs.as_slice() {
                [one] if values.len() == 1 => format!("{expr} = {one}"),
                _ => format!("{expr} IN ({})", phs.join(", ")),
            })
            .collect();
        if null {
            parts.push(format!("{} IS NULL", self.dialect.value(src, field)));
        }
        match parts.len() {
            1 if values.len() == 1 => parts.remove(0),
            _ => format!("({})", parts.join(" OR ")),
        }
    }

    fn conditions(&mut self, src: Source, q: &ListQuery) -> Vec<String> {
        q.filters.iter().map(|f| self.condition(src, f)).collect()
    }

    fn finish(self, text: String) -> Sql {
        Sql {
            text,
            args: self.args,
        }
    }
}

fn binder<D: Dialect + ?Sized>(dialect: &D) -> Binder<'_, D> {
    Binder {
        dialect,
        args: Vec::new(),
    }
}

/// `SELECT COUNT(*)` over the filters of `q`.
pub(crate) fn count<D: Dialect + ?Sized>(d: &D, src: Source, q: &ListQuery) -> Sql {
    let mut b = binder(d);
    let conds = b.conditions(src, q);
    let mut text = format!("SELECT COUNT(*) FROM {}", src.table());
    push_where(&mut text, &conds);
    b.finish(text)
}

/// `SELECT value, COUNT(*)` per distinct value of `field` (as text),
/// largest group first (ties by value, so the order is stable).
pub(crate) fn count_by<D: Dialect + ?Sized>(d: &D, src: Source, field: &str, q: &ListQuery) -> Sql {
    let mut b = binder(d);
    let conds = b.conditions(src, q);
    let c = d.sort(src, field);
    let mut text = format!("SELECT {c} AS value, COUNT(*) AS n FROM {}", src.table());
    push_where(&mut text, &conds);
    text.push_str(&format!(" GROUP BY {c} ORDER BY n DESC, value"));
    b.finish(text)
}

/// Finds the key of the marker row, to page after it.
pub(crate) fn marker_key<D: Dialect + ?Sized>(d: &D, src: Source) -> String {
    format!(
        "SELECT {} FROM {} WHERE {} = {}",
        src.key(),
        src.table(),
        src.marker_column(),
        d.placeholder(1)
    )
}

/// The page of `q` as one SELECT. `marker` is the key of the row the page
/// starts after (from [`marker_key`]). Rows are ordered by the sort
/// expression then the key, both in the requested direction, NULLs first
/// ascending and last descending; "after the marker" follows exactly that
/// order, so paging visits every row once even across NULLs.
pub(crate) fn list<D: Dialect + ?Sized>(
    d: &D,
    src: Source,
    q: &ListQuery,
    marker: Option<Arg>,
) -> Sql {
    let mut b = binder(d);
    let key = src.key();
    let sort = q
        .sort_key
        .as_deref()
        .map_or(Cow::Borrowed(key), |f| d.sort(src, f));
    let cmp = if q.sort_desc { "<" } else { ">" };
    let mut from = src.table().to_string();
    let mut with = String::new();
    let mut conds = Vec::new();

    if let Some(m) = marker {
        let ph = b.push(m);
        if sort == key {
            conds.push(format!("{key} {cmp} {ph}"));
        } else {
            // The marker row's sort value, read in the same statement so it
            // is consistent with the rows compared against it.
            with = format!(
                "WITH m(mv, mk) AS (SELECT {sort}, {key} FROM {} WHERE {key} = {ph}) ",
                src.table()
            );
            from.push_str(", m");
            conds.push(if q.sort_desc {
                format!(
                    "(CASE WHEN m.mv IS NULL THEN ({sort} IS NULL AND {key} < m.mk) \
                     ELSE ({sort} < m.mv OR ({sort} = m.mv AND {key} < m.mk) OR {sort} IS NULL) \
                     END)"
                )
            } else {
                format!(
                    "(CASE WHEN m.mv IS NULL THEN ({sort} IS NOT NULL OR {key} > m.mk) \
                     ELSE ({sort} > m.mv OR ({sort} = m.mv AND {key} > m.mk)) END)"
                )
            });
        }
    }
    conds.extend(b.conditions(src, q));
    let limit = q
        .limit
        .map(|l| b.push(Arg::Int(i64::try_from(l).unwrap_or(i64::MAX))));
    let page = Page {
        with,
        from,
        conds,
        sort,
        desc: q.sort_desc,
        limit,
    };
    let text = d.page(src, &page);
    b.finish(text)
}

/// The statement both dialects use for a list of typed rows (conductors):
/// `select` from the page's table, filtered, ordered, limited.
pub(crate) fn plain_page<D: Dialect + ?Sized>(
    d: &D,
    src: Source,
    select: &str,
    p: &Page<'_>,
) -> String {
    let key = src.key();
    let dir = d.order(p.desc);
    let mut text = format!("{}SELECT {select} FROM {}", p.with, p.from);
    push_where(&mut text, &p.conds);
    if p.sort == key {
        text.push_str(&format!(" ORDER BY {key} {dir}"));
    } else {
        text.push_str(&format!(" ORDER BY {} {dir}, {key} {dir}", p.sort));
    }
    push_limit(&mut text, p);
    text
}

/// Appends ` LIMIT ph` when the page has a size.
pub(crate) fn push_limit(text: &mut String, p: &Page<'_>) {
    if let Some(ph) = &p.limit {
        text.push_str(" LIMIT ");
        text.push_str(ph);
    }
}

/// Appends ` WHERE` and the conditions joined by `AND`, when there are any.
pub(crate) fn push_where(text: &mut String, conds: &[String]) {
    if !conds.is_empty() {
        text.push_str(" WHERE ");
        text.push_str(&conds.join(" AND "));
    }
}

/// The bound values of a statement as the driver's arguments.
pub(crate) fn arguments<'q, DB>(args: Vec<Arg>) -> Result<DB::Arguments<'q>, crate::StoreError>
where
    DB: sqlx::Database,
    i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    f64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    bool: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    use sqlx::Arguments as _;
    let mut out = DB::Arguments::default();
    for a in args {
        let added = match a {
            Arg::Int(i) => out.add(i),
            Arg::Real(r) => out.add(r),
            Arg::Bool(b) => out.add(b),
            Arg::Text(s) => out.add(s),
        };
        added.map_err(sqlx::Error::Encode)?;
    }
    Ok(out)
}

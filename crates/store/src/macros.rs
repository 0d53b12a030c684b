//! Code both backends need in their own types, written once.

/// The write methods of a backend: each resolves the document's table and
/// hands its `write` module's function to the backend's `writer`, so the
/// two backends' write paths differ only in those two modules.
macro_rules! write_methods {
    () => {
        pub(crate) async fn insert<D: Document>(&self, doc: D) -> Result<D, StoreError> {
            let t = table_for(D::KIND)?;
            self.writer
                .submit(move |c| -> BoxFuture<'_, _> { Box::pin(write::insert(c, t, doc)) })
                .await
        }

        pub(crate) async fn put<D: Document>(&self, doc: D) -> Result<D, StoreError> {
            let t = table_for(D::KIND)?;
            self.writer
                .submit(move |c| -> BoxFuture<'_, _> { Box::pin(write::put(c, t, doc)) })
                .await
        }

        pub(crate) async fn update<D, T, E, F>(&self, ident: &Ident, change: F) -> Result<(D, T), E>
        where
            D: Document,
            T: Send + 'static,
            E: From<StoreError> + Send + 'static,
            F: FnOnce(&mut D) -> Result<T, E> + Send + 'static,
        {
            let t = table_for(D::KIND)?;
            let ident = ident.clone();
            self.writer
                .submit(move |c| -> BoxFuture<'_, _> {
                    Box::pin(write::update(c, t, ident, change))
                })
                .await
        }

        pub(crate) async fn delete<D: Document>(&self, uuid: Uuid) -> Result<(), StoreError> {
            let t = table_for(D::KIND)?;
            self.writer
                .submit(move |c| -> BoxFuture<'_, _> { Box::pin(write::delete::<D>(c, t, uuid)) })
                .await
        }

        pub(crate) async fn register_conductor(&self, c: &Conductor) -> Result<(), StoreError> {
            let c = c.clone();
            self.writer
                .submit(move |conn| -> BoxFuture<'_, _> {
                    Box::pin(write::register_conductor(conn, c))
                })
                .await
        }

        pub(crate) async fn heartbeat_conductor(&self, hostname: &str) -> Result<(), StoreError> {
            let h = hostname.to_string();
            self.writer
                .submit(move |conn| -> BoxFuture<'_, _> {
                    Box::pin(write::heartbeat_conductor(conn, h))
                })
                .await
        }

        pub(crate) async fn unregister_conductor(&self, hostname: &str) -> Result<(), StoreError> {
            let h = hostname.to_string();
            self.writer
                .submit(move |conn| -> BoxFuture<'_, _> {
                    Box::pin(write::unregister_conductor(conn, h))
                })
                .await
        }

        pub(crate) async fn renew_leases(
            &self,
            holder: &str,
            until: chrono::DateTime<chrono::Utc>,
        ) -> Result<u64, StoreError> {
            let h = holder.to_string();
            self.writer
                .submit(move |conn| -> BoxFuture<'_, _> {
                    Box::pin(write::renew_leases(conn, h, until))
                })
                .await
        }

        pub(crate) fn write_stats(&self) -> crate::WriteStats {
            self.writer.stats()
        }
    };
}

/// The read methods of a backend, the same SQL shapes on both: they need
/// in scope the backend's reader pool `self.read`, its `Dialect`, its
/// and the statements
/// `DOC` (the document as text), `PENDING_INTENT` and `CONDUCTOR`. Each
/// backend writes `list_json` itself: how a page comes back differs.
macro_rules! read_methods {
    () => {
        pub(crate) async fn get<D: Document>(&self, ident: &Ident) -> Result<D, StoreError> {
            let t = table_for(D::KIND)?;
            let (column, key) = lookup(t, ident)?;
            let sql = format!(
                "SELECT {DOC} FROM {} WHERE {column} = {}",
                t.name,
                crate::sql::Dialect::placeholder(&Dialect, 1)
            );
            let row = sqlx::query(&sql)
                .bind(key)
                .fetch_optional(&self.read)
                .await?;
            match row {
                Some(row) => decode(row.try_get::<&str, _>(0)?),
                None => Err(not_found(t.kind, ident)),
            }
        }

        /// The key of the marker row, or `NotFound` in the resource's words.
        async fn marker(
            &self,
            src: Source,
            kind: &'static str,
            q: &ListQuery,
        ) -> Result<Option<Arg>, StoreError> {
            let Some(marker) = &q.marker else {
                return Ok(None);
            };
            let row = sqlx::query(&sql::marker_key(&Dialect, src))
                .bind(marker)
                .fetch_optional(&self.read)
                .await?
                .ok_or_else(|| not_found(kind, marker))?;
            Ok(Some(match src {
                Source::Docs(_) => Arg::Int(row.try_get(0)?),
                Source::Conductors => Arg::Text(row.try_get(0)?),
            }))
        }

        pub(crate) async fn list<D: Document>(&self, q: &ListQuery) -> Result<Vec<D>, StoreError> {
            decode_page(&self.list_json::<D>(q).await?)
        }

        pub(crate) async fn count<D: Document>(&self, q: &ListQuery) -> Result<u64, StoreError> {
            let t = table_for(D::KIND)?;
            let sql = sql::count(&Dialect, Source::Docs(t), q);
            let n: i64 =
                sqlx::query_scalar_with(&sql.text, crate::sql::arguments::<Driver>(sql.args)?)
                    .fetch_one(&self.read)
                    .await?;
            Ok(u64::try_from(n).unwrap_or(0))
        }

        pub(crate) async fn count_by<D: Document>(
            &self,
            field: &str,
            q: &ListQuery,
        ) -> Result<Vec<(Value, u64)>, StoreError> {
            let t = table_for(D::KIND)?;
            let sql = sql::count_by(&Dialect, Source::Docs(t), field, q);
            let rows: Vec<(Option<String>, i64)> =
                sqlx::query_as_with(&sql.text, crate::sql::arguments::<Driver>(sql.args)?)
                    .fetch_all(&self.read)
                    .await?;
            Ok(rows
                .into_iter()
                .map(|(value, n)| {
                    (
                        value.map_or(Value::Null, Value::String),
                        u64::try_from(n).unwrap_or(0),
                    )
                })
                .collect())
        }

        pub(crate) async fn nodes_with_pending_intent(&self) -> Result<Vec<Uuid>, StoreError> {
            let rows: Vec<String> = sqlx::query_scalar(PENDING_INTENT)
                .fetch_all(&self.read)
                .await?;
            rows.iter()
                .map(|u| {
                    Uuid::parse_str(u)
                        .map_err(|e| StoreError::Corrupt(format!("node uuid {u}: {e}")))
                })
                .collect()
        }

        pub(crate) async fn conductor(&self, hostname: &str) -> Result<Conductor, StoreError> {
            let row: Option<ConductorRow> = sqlx::query_as(CONDUCTOR)
                .bind(hostname)
                .fetch_optional(&self.read)
                .await?;
            conductor_from_row(row.ok_or_else(|| not_found("Conductor", hostname))?)
        }

        pub(crate) async fn list_conductors(
            &self,
            q: &ListQuery,
        ) -> Result<Vec<Conductor>, StoreError> {
            let src = Source::Conductors;
            let marker = self.marker(src, "Conductor", q).await?;
            let sql = sql::list(&Dialect, src, q, marker);
            let rows: Vec<ConductorRow> =
                sqlx::query_as_with(&sql.text, crate::sql::arguments::<Driver>(sql.args)?)
                    .fetch_all(&self.read)
                    .await?;
            rows.into_iter().map(conductor_from_row).collect()
        }
    };
}

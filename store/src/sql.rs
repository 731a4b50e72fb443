//! The queries of the SQL backends, written once for SQLite and PostgreSQL.
//!
//! Both dialects accept `$N` placeholders and `RETURNING`, and the schema uses only text and 64-bit
//! integer columns, so one generic [`SqlStore`] serves both. Opening a database (options, TLS, file
//! mode) and choosing its migrations belong to `sqlite` and `postgres`; nothing in here may branch
//! on the dialect. Changes are broadcast by the caller, after each method has committed.

use std::collections::BTreeMap;

use serde_json::Value;
use sqlx::decode::Decode;
use sqlx::encode::Encode;
use sqlx::error::ErrorKind;
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{ColumnIndex, Database, Executor, IntoArguments, Pool, Row, SqlSafeStr, Type};
use time::OffsetDateTime;

use super::{Change, ChangeKind, Error, Key, MESH_KIND, Record, Write};

const SELECT_ONE: &str = "SELECT kind, mesh, name, version, spec, labels, creation_time, \
    modification_time FROM resources WHERE kind = $1 AND mesh = $2 AND name = $3";
const SELECT_KIND: &str = "SELECT kind, mesh, name, version, spec, labels, creation_time, \
    modification_time FROM resources WHERE kind = $1 ORDER BY mesh, name";
const SELECT_KIND_IN_MESH: &str = "SELECT kind, mesh, name, version, spec, labels, \
    creation_time, modification_time FROM resources WHERE kind = $1 AND mesh = $2 ORDER BY name";
const INSERT: &str = "INSERT INTO resources (kind, mesh, name, version, spec, labels, \
    creation_time, modification_time) VALUES ($1, $2, $3, 1, $4, $5, $6, $6)";
// Optimistic concurrency: the row changes only if nobody wrote since the caller read it.
const UPDATE: &str = "UPDATE resources SET version = version + 1, spec = $4, labels = $5, \
    modification_time = $6 WHERE kind = $1 AND mesh = $2 AND name = $3 AND version = $7 \
    RETURNING version, creation_time";
const SELECT_VERSION: &str =
    "SELECT version FROM resources WHERE kind = $1 AND mesh = $2 AND name = $3";
const DELETE: &str =
    "DELETE FROM resources WHERE kind = $1 AND mesh = $2 AND name = $3 RETURNING version";
const DELETE_MESH_RECORD: &str =
    "DELETE FROM resources WHERE kind = $1 AND mesh = '' AND name = $2 RETURNING version";
const DELETE_IN_MESH: &str = "DELETE FROM resources WHERE mesh = $1 RETURNING kind, name, version";

/// A pool of one dialect plus the queries above.
pub(super) struct SqlStore<DB: Database> {
    pool: Pool<DB>,
}

impl<DB: Database> Clone for SqlStore<DB> {
    fn clone(&self) -> Self {
        Self { pool: self.pool.clone() }
    }
}

impl<DB> SqlStore<DB>
where
    DB: Database,
    DB::Arguments: IntoArguments<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'c> &'c Pool<DB>: Executor<'c, Database = DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> String: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    usize: ColumnIndex<DB::Row>,
{
    /// Wraps a pool whose schema is already migrated.
    pub(super) fn new(pool: Pool<DB>) -> Self {
        Self { pool }
    }

    pub(super) async fn close(&self) {
        self.pool.close().await;
    }

    pub(super) async fn create(
        &self,
        key: Key,
        spec: Value,
        labels: BTreeMap<String, String>,
        now: OffsetDateTime,
    ) -> Result<Record, Error> {
        let mut conn = self.pool.acquire().await.map_err(backend)?;
        Self::insert(&mut conn, &key, &spec, &labels, now).await?;
        Ok(Record { key, version: 1, spec, labels, creation_time: now, modification_time: now })
    }

    pub(super) async fn update(
        &self,
        key: Key,
        spec: Value,
        labels: BTreeMap<String, String>,
        expected_version: u64,
        now: OffsetDateTime,
    ) -> Result<Record, Error> {
        let mut conn = self.pool.acquire().await.map_err(backend)?;
        let (version, creation_time) =
            Self::replace(&mut conn, &key, &spec, &labels, expected_version, now).await?;
        Ok(Record { key, version, spec, labels, creation_time, modification_time: now })
    }

    pub(super) async fn delete(&self, key: &Key) -> Result<u64, Error> {
        let mut conn = self.pool.acquire().await.map_err(backend)?;
        Self::remove(&mut conn, key).await
    }

    pub(super) async fn get(&self, key: &Key) -> Result<Record, Error> {
        let row = sqlx::query(SELECT_ONE)
            .bind(key.kind.as_str())
            .bind(key.mesh.as_str())
            .bind(key.name.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        match row {
            Some(row) => record(&row),
            None => Err(Error::NotFound { key: key.clone() }),
        }
    }

    pub(super) async fn list(&self, kind: &str, mesh: Option<&str>) -> Result<Vec<Record>, Error> {
        let rows = match mesh {
            Some(mesh) => {
                sqlx::query(SELECT_KIND_IN_MESH).bind(kind).bind(mesh).fetch_all(&self.pool).await
            }
            None => sqlx::query(SELECT_KIND).bind(kind).fetch_all(&self.pool).await,
        }
        .map_err(backend)?;
        rows.iter().map(record).collect()
    }

    /// Removes the `Mesh` record and everything in it in one transaction. Returns the removed
    /// keys with their last versions, the Mesh first.
    pub(super) async fn delete_mesh(&self, mesh: &str) -> Result<Vec<(Key, u64)>, Error> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        // Dropping the transaction on an error rolls it back; nothing was written.
        let removed = Self::remove_mesh(&mut tx, mesh).await?;
        tx.commit().await.map_err(backend)?;
        Ok(removed)
    }

    /// Performs `writes` in order in one transaction; the first failure rolls back all of them.
    pub(super) async fn write_all(
        &self,
        writes: Vec<Write>,
        now: OffsetDateTime,
    ) -> Result<Vec<Change>, Error> {
        // Every statement of a batch writes, the first one too, so SQLite takes its write lock
        // (waiting out the busy timeout) up front instead of failing to upgrade a read snapshot.
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let mut changes = Vec::with_capacity(writes.len());
        for write in writes {
            let conn = &mut *tx;
            match write {
                Write::Create { key, spec, labels } => {
                    Self::insert(conn, &key, &spec, &labels, now).await?;
                    changes.push(Change { kind: ChangeKind::Create, key, version: 1 });
                }
                Write::Update { key, spec, labels, expected_version } => {
                    let (version, _) =
                        Self::replace(conn, &key, &spec, &labels, expected_version, now).await?;
                    changes.push(Change { kind: ChangeKind::Update, key, version });
                }
                Write::Delete { key } => {
                    let version = Self::remove(conn, &key).await?;
                    changes.push(Change { kind: ChangeKind::Delete, key, version });
                }
                Write::DeleteMesh { name } => {
                    let removed = Self::remove_mesh(conn, &name).await?;
                    changes.extend(removed.into_iter().map(|(key, version)| Change {
                        kind: ChangeKind::Delete,
                        key,
                        version,
                    }));
                }
            }
        }
        tx.commit().await.map_err(backend)?;
        Ok(changes)
    }

    async fn insert(
        conn: &mut DB::Connection,
        key: &Key,
        spec: &Value,
        labels: &BTreeMap<String, String>,
        now: OffsetDateTime,
    ) -> Result<(), Error> {
        let result = sqlx::query(INSERT)
            .bind(key.kind.as_str())
            .bind(key.mesh.as_str())
            .bind(key.name.as_str())
            .bind(spec.to_string())
            .bind(labels_json(labels)?)
            .bind(micros(now)?)
            .execute(&mut *conn)
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(sqlx::Error::Database(e)) if e.kind() == ErrorKind::UniqueViolation => {
                Err(Error::AlreadyExists { key: key.clone() })
            }
            Err(e) => Err(backend(e)),
        }
    }

    /// Returns the new version and the creation time.
    async fn replace(
        conn: &mut DB::Connection,
        key: &Key,
        spec: &Value,
        labels: &BTreeMap<String, String>,
        expected_version: u64,
        now: OffsetDateTime,
    ) -> Result<(u64, OffsetDateTime), Error> {
        let row = sqlx::query(UPDATE)
            .bind(key.kind.as_str())
            .bind(key.mesh.as_str())
            .bind(key.name.as_str())
            .bind(spec.to_string())
            .bind(labels_json(labels)?)
            .bind(micros(now)?)
            .bind(to_i64(expected_version)?)
            .fetch_optional(&mut *conn)
            .await
            .map_err(backend)?;
        if let Some(row) = row {
            let version = from_i64(row.try_get(0).map_err(backend)?)?;
            let creation_time = from_micros(row.try_get(1).map_err(backend)?)?;
            return Ok((version, creation_time));
        }
        // Nothing matched: tell a missing record from a newer version. A write in between can only
        // make the answer more recent, never wrong.
        let actual: Option<i64> = sqlx::query_scalar(SELECT_VERSION)
            .bind(key.kind.as_str())
            .bind(key.mesh.as_str())
            .bind(key.name.as_str())
            .fetch_optional(&mut *conn)
            .await
            .map_err(backend)?;
        let key = key.clone();
        match actual {
            Some(actual) => {
                Err(Error::Conflict { key, expected: expected_version, actual: from_i64(actual)? })
            }
            None => Err(Error::NotFound { key }),
        }
    }

    /// Returns the removed record's last version.
    async fn remove(conn: &mut DB::Connection, key: &Key) -> Result<u64, Error> {
        let version: Option<i64> = sqlx::query_scalar(DELETE)
            .bind(key.kind.as_str())
            .bind(key.mesh.as_str())
            .bind(key.name.as_str())
            .fetch_optional(&mut *conn)
            .await
            .map_err(backend)?;
        match version {
            Some(version) => from_i64(version),
            None => Err(Error::NotFound { key: key.clone() }),
        }
    }

    /// Removes a Mesh record and everything in its mesh, inside the caller's transaction. Returns
    /// the removed keys with their last versions, the Mesh first and the rest sorted.
    async fn remove_mesh(conn: &mut DB::Connection, mesh: &str) -> Result<Vec<(Key, u64)>, Error> {
        let mesh_key = Key::global(MESH_KIND, mesh);
        let version: Option<i64> = sqlx::query_scalar(DELETE_MESH_RECORD)
            .bind(MESH_KIND)
            .bind(mesh)
            .fetch_optional(&mut *conn)
            .await
            .map_err(backend)?;
        let Some(version) = version else {
            return Err(Error::NotFound { key: mesh_key });
        };
        let rows =
            sqlx::query(DELETE_IN_MESH).bind(mesh).fetch_all(&mut *conn).await.map_err(backend)?;
        let mut inside = rows
            .iter()
            .map(|row| {
                let kind: String = row.try_get(0).map_err(backend)?;
                let name: String = row.try_get(1).map_err(backend)?;
                let version = from_i64(row.try_get(2).map_err(backend)?)?;
                Ok((Key::mesh_scoped(&kind, mesh, &name), version))
            })
            .collect::<Result<Vec<_>, Error>>()?;
        inside.sort();
        let mut removed = vec![(mesh_key, from_i64(version)?)];
        removed.extend(inside);
        Ok(removed)
    }
}

/// Builds a migrator from embedded SQL files, as `(version, description, sql)`.
pub(super) fn migrator(migrations: &[(i64, &'static str, &'static str)]) -> Migrator {
    Migrator::with_migrations(
        migrations
            .iter()
            .map(|&(version, description, sql)| {
                Migration::new(
                    version,
                    description.into(),
                    MigrationType::Simple,
                    sql.into_sql_str(),
                    false,
                )
            })
            .collect(),
    )
}

fn record<R>(row: &R) -> Result<Record, Error>
where
    R: Row,
    usize: ColumnIndex<R>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
{
    let kind: String = row.try_get(0).map_err(backend)?;
    let mesh: String = row.try_get(1).map_err(backend)?;
    let name: String = row.try_get(2).map_err(backend)?;
    let spec: String = row.try_get(4).map_err(backend)?;
    let labels: String = row.try_get(5).map_err(backend)?;
    Ok(Record {
        key: Key { kind, mesh, name },
        version: from_i64(row.try_get(3).map_err(backend)?)?,
        spec: serde_json::from_str(&spec).map_err(backend)?,
        labels: serde_json::from_str(&labels).map_err(backend)?,
        creation_time: from_micros(row.try_get(6).map_err(backend)?)?,
        modification_time: from_micros(row.try_get(7).map_err(backend)?)?,
    })
}

fn labels_json(labels: &BTreeMap<String, String>) -> Result<String, Error> {
    serde_json::to_string(labels).map_err(backend)
}

fn micros(time: OffsetDateTime) -> Result<i64, Error> {
    i64::try_from(time.unix_timestamp_nanos() / 1_000).map_err(backend)
}

fn from_micros(micros: i64) -> Result<OffsetDateTime, Error> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1_000).map_err(backend)
}

fn to_i64(version: u64) -> Result<i64, Error> {
    i64::try_from(version).map_err(backend)
}

fn from_i64(version: i64) -> Result<u64, Error> {
    u64::try_from(version).map_err(backend)
}

fn backend(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Error {
    Error::Backend(e.into())
}

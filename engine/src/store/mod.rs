//! The node's redb database: opening it, its schema version and migrations.
//!
//! One `tandem.redb` per node. Modules own their tables (the `local` tracker
//! its `local_*` tables; the sync pipeline its own) and open them through
//! [`Store::db`]; this module owns only the file and the schema version, so a
//! newer binary can migrate an older file and an older binary refuses a newer
//! one instead of misreading it.

use std::path::Path;
use std::sync::Arc;

use redb::{Database, DatabaseError, ReadableDatabase, ReadableTable, TableDefinition};

/// The schema this binary writes. Bump it with a step in [`migrate`].
pub const SCHEMA_VERSION: u64 = 1;

const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

/// Opens a table for reading; `None` when nothing was ever written to it (a
/// fresh node), which for a reader means "empty", not an error.
pub fn open_read<K: redb::Key + 'static, V: redb::Value + 'static>(
    read: &redb::ReadTransaction,
    table: TableDefinition<K, V>,
) -> Result<Option<redb::ReadOnlyTable<K, V>>, redb::TableError> {
    match read.open_table(table) {
        Ok(t) => Ok(Some(t)),
        Err(redb::TableError::TableDoesNotExist(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another process (normally `tandem serve`) holds the database.
    #[error(
        "the node's database is in use by another process (is `tandem serve` running on this data dir?)"
    )]
    InUse,
    #[error(
        "the database was written by a newer tandem (schema {found}, this binary knows {SCHEMA_VERSION}); upgrade tandem"
    )]
    TooNew { found: u64 },
    #[error("database: {0}")]
    Db(String),
}

impl StoreError {
    pub(crate) fn db(e: impl std::fmt::Display) -> Self {
        StoreError::Db(e.to_string())
    }
}

/// The opened database, shared by every module of the node.
#[derive(Clone)]
pub struct Store {
    db: Arc<Database>,
}

impl Store {
    /// Opens (creating if needed) and migrates the database at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let db = Database::create(path).map_err(|e| match e {
            DatabaseError::DatabaseAlreadyOpen => StoreError::InUse,
            other => StoreError::db(other),
        })?;
        let store = Store { db: Arc::new(db) };
        store.migrate()?;
        Ok(store)
    }

    /// The database, for modules that own tables in it.
    pub fn db(&self) -> &Database {
        &self.db
    }

    /// The schema version on disk.
    pub fn schema_version(&self) -> Result<u64, StoreError> {
        let read = self.db.begin_read().map_err(StoreError::db)?;
        let Some(table) = open_read(&read, META).map_err(StoreError::db)? else {
            return Ok(0);
        };
        Ok(table
            .get("schema_version")
            .map_err(StoreError::db)?
            .map_or(0, |v| v.value()))
    }

    fn migrate(&self) -> Result<(), StoreError> {
        let found = self.schema_version()?;
        if found > SCHEMA_VERSION {
            return Err(StoreError::TooNew { found });
        }
        if found == SCHEMA_VERSION {
            return Ok(());
        }
        let write = self.db.begin_write().map_err(StoreError::db)?;
        {
            let mut meta = write.open_table(META).map_err(StoreError::db)?;
            // Version 0 -> 1: the first schema; tables are created on first use.
            // Later steps go here, each in this one transaction.
            meta.insert("schema_version", SCHEMA_VERSION)
                .map_err(StoreError::db)?;
        }
        write.commit().map_err(StoreError::db)
    }
}

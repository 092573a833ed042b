//! Errors of the lake sink. Each names the table or location it concerns and says, through
//! [`LakeError::retryable`], whether trying the same call again can help.

use deltalake::DeltaTableError;
use deltalake::arrow::error::ArrowError;

pub type Result<T, E = LakeError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum LakeError {
    /// The tokio runtime behind the blocking API could not start.
    #[error("cannot start the lake's i/o runtime: {0}")]
    Runtime(#[source] std::io::Error),

    /// The lake root (or a table directory in it) cannot be created or used.
    #[error("lake location {location}: {message}")]
    Location { location: String, message: String },

    /// A Delta operation failed; `retry` is decided from the kind of failure.
    #[error("table {table}: {action} failed: {source}")]
    Delta {
        table: String,
        action: &'static str,
        #[source]
        source: Box<DeltaTableError>,
    },

    /// Listing or checking files in storage failed.
    #[error("lake storage at {location}: {source}")]
    Storage {
        location: String,
        #[source]
        source: Box<deltalake::ObjectStoreError>,
    },

    /// An existing table does not have the schema the code expects.
    #[error(
        "table {table} exists with a different schema: column `{column}` {difference}; \
         migrate the table or move it aside (it lives in {location})"
    )]
    SchemaMismatch { table: String, location: String, column: String, difference: String },

    /// The table is not in the lake.
    #[error("no table {name} in the lake at {location}; known tables: {}", known_list(.known))]
    UnknownTable { name: String, location: String, known: Vec<String> },

    /// Rows do not convert to the schema given to [`super::to_batch`].
    #[error("rows do not convert to the schema: {0}")]
    Convert(#[source] ArrowError),

    /// A staged file named by a checkpoint is gone, so committing would reference a missing file.
    #[error(
        "table {table}: staged file {path} no longer exists (vacuumed before its epoch {epoch} was committed?); \
         this epoch cannot be committed, replay it from the source with a longer vacuum retention"
    )]
    StagedFileMissing { table: String, path: String, epoch: u64 },

    /// Concurrent commits kept winning the race for the next table version.
    #[error("table {table}: commit of epoch {epoch} lost {attempts} races with concurrent commits; try again")]
    Contention { table: String, epoch: u64, attempts: u32 },

    /// Delta stores application transaction versions as signed 64-bit numbers.
    #[error("table {table}: epoch {epoch} is larger than a delta transaction version can hold ({})", i64::MAX)]
    EpochTooLarge { table: String, epoch: u64 },
}

impl LakeError {
    /// Whether the same call may succeed if tried again (storage hiccup, lost commit race), as
    /// opposed to a problem that needs a change of data, schema or configuration.
    pub fn retryable(&self) -> bool {
        match self {
            LakeError::Runtime(_) | LakeError::Storage { .. } | LakeError::Contention { .. } => true,
            LakeError::Delta { source, .. } => delta_retryable(source),
            LakeError::Location { .. }
            | LakeError::SchemaMismatch { .. }
            | LakeError::UnknownTable { .. }
            | LakeError::Convert(_)
            | LakeError::StagedFileMissing { .. }
            | LakeError::EpochTooLarge { .. } => false,
        }
    }

    pub(crate) fn storage(location: impl Into<String>, source: deltalake::ObjectStoreError) -> LakeError {
        LakeError::Storage { location: location.into(), source: Box::new(source) }
    }

    pub(crate) fn delta(table: impl Into<String>, action: &'static str, source: DeltaTableError) -> LakeError {
        LakeError::Delta { table: table.into(), action, source: Box::new(source) }
    }
}

fn delta_retryable(error: &DeltaTableError) -> bool {
    use deltalake::kernel::transaction::TransactionError;
    match error {
        DeltaTableError::ObjectStore { .. }
        | DeltaTableError::Io { .. }
        | DeltaTableError::VersionAlreadyExists(_)
        | DeltaTableError::VersionMismatch(..) => true,
        DeltaTableError::Transaction { source } => matches!(
            source,
            TransactionError::CommitConflict(_)
                | TransactionError::MaxCommitAttempts(_)
                | TransactionError::VersionAlreadyExists(_)
                | TransactionError::ObjectStore { .. }
        ),
        _ => false,
    }
}

fn known_list(known: &[String]) -> String {
    if known.is_empty() { "none yet".to_string() } else { known.join(", ") }
}

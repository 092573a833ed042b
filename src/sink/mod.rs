//! Sinks: where the stream processor's results land. Today the Delta Lake ([`lake`]).
//!
//! # The guarantee: every epoch's rows appear in each table exactly once
//!
//! The stream processor works in *epochs*. At the end of an epoch, and in this order, it:
//!
//! 1. **stages** each table's rows with [`LakeTable::stage`]: the rows are written as Parquet data
//!    files into the table's directory, but no commit is made, so no reader sees them. What comes
//!    back is a [`Staged`]: the Delta `add` actions describing those files, serialisable as JSON;
//! 2. **writes its checkpoint** atomically (temp file, fsync, rename, fsync dir). The checkpoint
//!    includes every table's [`Staged`] next to the source offsets, operator state and watermarks;
//! 3. **commits** each table with [`LakeTable::commit`]: one Delta commit per table per epoch,
//!    carrying the staged `add` actions and the application transaction `(app_id, epoch)` (a Delta
//!    `txn` action). The commit is made only when the table's recorded transaction version for
//!    `app_id` is below `epoch`; otherwise it is a no-op that reports
//!    [`CommitOutcome::AlreadyCommitted`]. A commit is made even for an epoch that staged no rows,
//!    so that [`LakeTable::committed_epoch`] always names the last epoch the table has absorbed.
//!
//! After a crash the processor loads its last checkpoint and re-runs step 3 with the [`Staged`]
//! recorded there. Step 3 is idempotent, so whether the crash came before, during or after the
//! commits, each table ends up with that epoch's rows exactly once. Then the processor resumes from
//! the checkpoint's offsets, which re-creates the rows of the epoch that was in progress; they are
//! staged into new files and committed under the next epoch number.
//!
//! Files staged by an epoch whose checkpoint was never written (a crash before step 2) are in no
//! commit, so readers never see them; `streamify lake vacuum` deletes them once they are older than
//! its retention. That retention must therefore be longer than any epoch plus the time a processor
//! may stay down between writing a checkpoint and committing it: a commit whose staged files have
//! already been vacuumed is refused with [`LakeError::StagedFileMissing`] rather than committed.
//!
//! What concurrency is allowed: several processes may create the same table at once (creation is
//! idempotent), and writers with different application ids may commit to one table concurrently
//! (Delta's optimistic concurrency resolves them). Two writers using the *same* application id at
//! once is a deployment error; the loser of such a race reloads the table and finds its epoch
//! recorded, or retries. `lake optimize` may run beside the processor; it rewrites files without
//! changing rows or application transactions.
//!
//! [`LakeTable::stage`]: lake::LakeTable::stage
//! [`LakeTable::commit`]: lake::LakeTable::commit
//! [`LakeTable::committed_epoch`]: lake::LakeTable::committed_epoch
//! [`Staged`]: lake::Staged
//! [`CommitOutcome::AlreadyCommitted`]: lake::CommitOutcome::AlreadyCommitted
//! [`LakeError::StagedFileMissing`]: error::LakeError::StagedFileMissing

pub mod batch;
pub mod error;
pub mod lake;
mod maintain;
pub mod tables;

pub use batch::to_batch;
pub use error::{LakeError, Result};
pub use lake::{CommitOutcome, Lake, LakeTable, Layer, Staged, Stager, TableInfo, TableSpec};
pub use maintain::{OptimizeReport, VacuumReport};

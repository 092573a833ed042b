//! `streamify ingest FILE|DIR ...`: JSON-lines and CSV files onto the bus (see [`crate::ingest`]).
//!
//! Prints notes about skipped and failed files on stderr, then one summary line (or, with
//! `--json`, one JSON object) on stdout. Exits 1 when a file failed or the run stopped early;
//! the summary still counts what was acknowledged.

use crate::ingest::{self, Format, IngestOptions};
use crate::model::EventKind;
use crate::telemetry::Progress;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Files, or directories whose supported files are taken (sorted by name, not recursive).
    #[arg(required = true, value_name = "FILE|DIR")]
    pub paths: Vec<PathBuf>,

    /// The format of the files, instead of their extension's (.jsonl, .ndjson, .json: json;
    /// .csv: csv). In a directory, only files of this format are taken.
    #[arg(long, value_enum)]
    pub format: Option<FormatArg>,

    /// The schema of the events, instead of detecting it from the CSV header or the first JSON
    /// object (`transaction_id`: transaction, `event_id`: click).
    #[arg(long, value_enum)]
    pub schema: Option<SchemaArg>,

    /// Ingest files even when the same content (SHA-256) was ingested before.
    #[arg(long)]
    pub force: bool,

    /// Print the summary as one JSON object.
    #[arg(long)]
    pub json: bool,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum FormatArg {
    Json,
    Csv,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum SchemaArg {
    Transaction,
    Click,
}

pub fn run(ctx: &super::Context, args: Args) -> anyhow::Result<()> {
    let format = args.format.map(|f| match f {
        FormatArg::Json => Format::Json,
        FormatArg::Csv => Format::Csv,
    });
    let options = IngestOptions {
        format,
        schema: args.schema.map(|s| match s {
            SchemaArg::Transaction => EventKind::Transaction,
            SchemaArg::Click => EventKind::Click,
        }),
        force: args.force,
        config: ctx.config.ingest.clone(),
        max_record_bytes: ctx.config.bus.log.max_record_bytes,
        validator: ctx.validator(),
        clock: ctx.clock.clone(),
        manifest_dir: ctx.data_dir.join("ingest"),
    };
    let log = ctx.open_log()?;
    let mut producer = log.producer();
    let progress = Progress::new(Some(ingest::planned_bytes(&args.paths, format)), "bytes", true);
    let outcome = ingest::ingest(&args.paths, &options, &mut producer, &progress);
    progress.finish();
    let (summary, stopped) = match outcome {
        Ok(summary) => (summary, None),
        Err(aborted) => (*aborted.summary, Some(aborted.error)),
    };
    for note in summary.per_file.iter().filter_map(|f| f.note()) {
        eprintln!("{note}");
    }
    if args.json {
        println!("{}", serde_json::to_string(&summary)?);
    } else {
        println!("{}", summary.text());
    }
    if let Some(error) = stopped {
        anyhow::bail!("ingestion stopped early ({error}); the summary counts what was acknowledged");
    }
    if summary.failed > 0 {
        let s = if summary.failed == 1 { "" } else { "s" };
        anyhow::bail!("{} file{s} could not be ingested (see above)", summary.failed);
    }
    Ok(())
}

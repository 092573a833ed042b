//! `streamify lake ...`: list the Delta tables under the data dir, compact them, vacuum them.

use crate::sink::{Lake, TableInfo};
use anyhow::Context as _;
use std::fmt::Write as _;
use std::time::Duration;

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// The lake's tables: SQL name, version, files, size and rows.
    Tables(TablesArgs),
    /// Compact each partition's small files into files of about --target-size.
    Optimize(OptimizeArgs),
    /// Delete data files that no commit references (compacted away, or staged by an epoch that was
    /// never committed) once they are older than --retention.
    Vacuum(VacuumArgs),
}

#[derive(clap::Args, Debug)]
pub struct TablesArgs {
    /// Print the tables as a JSON array.
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args, Debug)]
pub struct OptimizeArgs {
    /// Only this table (its SQL name, e.g. `silver_transactions`); default: every table.
    #[arg(long)]
    pub table: Option<String>,
    /// Size of the compacted files, like "128MiB", "64MB" or a number of bytes.
    #[arg(long, default_value = "128MiB", value_parser = parse_size)]
    pub target_size: u64,
    /// Print the reports as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args, Debug)]
pub struct VacuumArgs {
    /// Keep unreferenced files younger than this ("168h", "7d"). It must exceed the longest time a
    /// processor may take between staging an epoch and committing it, restarts included.
    #[arg(long, default_value = "168h", value_parser = humantime::parse_duration)]
    pub retention: Duration,
    /// List what would be deleted, delete nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the reports as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(ctx: &super::Context, command: Command) -> anyhow::Result<()> {
    let lake = open_lake(ctx)?;
    let root = lake.root().to_string();
    match command {
        Command::Tables(args) => {
            let tables = lake.tables().with_context(|| format!("listing the tables of the lake at {root}"))?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&tables)?);
            } else {
                print!("{}", render_tables(&tables));
            }
        }
        Command::Optimize(args) => {
            let reports = lake
                .optimize(args.table.as_deref(), args.target_size)
                .with_context(|| format!("optimizing the lake at {root}"))?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&reports)?);
            }
            for r in reports.iter().filter(|_| !args.json) {
                println!(
                    "{}: {} files compacted into {} (version {})",
                    r.table, r.files_removed, r.files_added, r.version
                );
            }
        }
        Command::Vacuum(args) => {
            let reports =
                lake.vacuum(args.retention, args.dry_run).with_context(|| format!("vacuuming the lake at {root}"))?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&reports)?);
            }
            let verb = if args.dry_run { "would delete" } else { "deleted" };
            for r in reports.iter().filter(|_| !args.json) {
                println!("{}: {verb} {} files", r.table, r.files.len());
                for file in r.files.iter().filter(|_| args.dry_run) {
                    println!("  {file}");
                }
            }
        }
    }
    Ok(())
}

/// The lake under the data dir; an error saying how to make one when there is none.
pub(super) fn open_lake(ctx: &super::Context) -> anyhow::Result<Lake> {
    let dir = ctx.data_dir.join("lake");
    if !dir.is_dir() {
        anyhow::bail!(
            "no lake under {}: run `streamify quickstart` or `streamify process` first (or pass the --data-dir that \
             holds it)",
            ctx.data_dir.display()
        );
    }
    Lake::open(&dir).with_context(|| format!("opening the lake in {}", dir.display()))
}

fn render_tables(tables: &[TableInfo]) -> String {
    if tables.is_empty() {
        return "no tables yet\n".to_string();
    }
    let mut rows = vec![["table", "layer", "version", "files", "size", "rows"].map(String::from)];
    for t in tables {
        rows.push([
            t.sql_name.clone(),
            t.layer.to_string(),
            t.version.to_string(),
            t.files.to_string(),
            human_bytes(t.bytes),
            t.rows.map_or_else(|| "?".to_string(), |r| r.to_string()),
        ]);
    }
    let widths: Vec<usize> = (0..6).map(|c| rows.iter().map(|r| r[c].len()).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for r in &rows {
        let mut line = format!("{:<w0$}  {:<w1$}", r[0], r[1], w0 = widths[0], w1 = widths[1]);
        for c in 2..6 {
            let _ = write!(line, "  {:>w$}", r[c], w = widths[c]);
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{bytes} B") } else { format!("{value:.1} {}", UNITS[unit]) }
}

/// Parses sizes like "128MiB", "64MB", "1.5GiB", "4096" (bytes).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "kib" => 1 << 10,
        "m" | "mb" => 1_000_000,
        "mib" => 1 << 20,
        "g" | "gb" => 1_000_000_000,
        "gib" => 1 << 30,
        other => return Err(format!("unknown size unit {other:?}; use B, KiB, MiB, GiB (or KB, MB, GB)")),
    };
    let value: f64 = number.parse().map_err(|_| format!("{text:?} is not a size like \"128MiB\""))?;
    let bytes = value * factor as f64;
    if !(bytes >= 1.0 && bytes < u64::MAX as f64) {
        return Err(format!("{text:?}: use a size of at least one byte"));
    }
    Ok(bytes as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lake_sizes_parse_with_binary_and_decimal_units() {
        assert_eq!(parse_size("128MiB"), Ok(128 << 20));
        assert_eq!(parse_size("64MB"), Ok(64_000_000));
        assert_eq!(parse_size("1.5GiB"), Ok(3 << 29));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("0").is_err());
        assert!(parse_size("12 parsecs").unwrap_err().contains("unit"));
        assert!(parse_size("MiB").is_err());
    }
}

//! `streamify log ...`: inspect the embedded log without disturbing the processes using it.

use crate::bus::log::{LogStats, stats};
use anyhow::Context as _;
use std::fmt::Write as _;

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Topics, partitions, record counts, bytes and consumer-group lag.
    Stats(StatsArgs),
}

#[derive(clap::Args, Debug)]
pub struct StatsArgs {
    /// Print the figures as JSON (`topics.<name>.records`, `groups.<name>.lag`, ...).
    #[arg(long)]
    pub json: bool,
}

pub fn run(ctx: &super::Context, command: Command) -> anyhow::Result<()> {
    match command {
        Command::Stats(args) => run_stats(ctx, &args),
    }
}

fn run_stats(ctx: &super::Context, args: &StatsArgs) -> anyhow::Result<()> {
    let dir = ctx.log_dir();
    if !dir.is_dir() {
        anyhow::bail!(
            "no log yet: {} does not exist; it is created by the first `streamify generate` or `streamify ingest` \
             (or pass the --data-dir that holds it)",
            dir.display()
        );
    }
    let stats = stats(&dir).with_context(|| format!("reading the log in {}", dir.display()))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&stats)?);
    } else {
        print!("{}", render(&stats));
    }
    Ok(())
}

/// The stats as readable tables.
pub fn render(stats: &LogStats) -> String {
    let mut out = String::new();
    if stats.topics.is_empty() {
        out.push_str("no topics yet\n");
    } else {
        let mut rows = vec![row(["topic", "partition", "start", "end", "records", "bytes", "segments"])];
        for (name, topic) in &stats.topics {
            for p in &topic.partitions {
                rows.push(row([
                    name.as_str(),
                    &p.partition.to_string(),
                    &p.start_offset.to_string(),
                    &p.end_offset.to_string(),
                    &p.records.to_string(),
                    &human_bytes(p.bytes),
                    &p.segments.to_string(),
                ]));
            }
            rows.push(row([name.as_str(), "all", "", "", &topic.records.to_string(), &human_bytes(topic.bytes), ""]));
        }
        table(&mut out, &rows);
    }
    if !stats.groups.is_empty() {
        out.push('\n');
        let mut rows = vec![row(["group", "topic", "partition", "committed", "lag"])];
        for (group, figures) in &stats.groups {
            for p in &figures.partitions {
                rows.push(row([
                    group.as_str(),
                    &p.topic,
                    &p.partition.to_string(),
                    &p.committed.to_string(),
                    &p.lag.to_string(),
                ]));
            }
            rows.push(row([group.as_str(), "all", "", "", &figures.lag.to_string()]));
        }
        table(&mut out, &rows);
    }
    out
}

fn row<const N: usize>(cells: [&str; N]) -> Vec<String> {
    cells.iter().map(|c| c.to_string()).collect()
}

/// Left-aligned first column, right-aligned numbers.
fn table(out: &mut String, rows: &[Vec<String>]) {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> =
        (0..columns).map(|c| rows.iter().map(|r| r.get(c).map_or(0, String::len)).max().unwrap_or(0)).collect();
    for r in rows {
        let mut line = String::new();
        for (c, cell) in r.iter().enumerate() {
            let _ = match c {
                0 => write!(line, "{cell:<w$}", w = widths[c]),
                _ => write!(line, "  {cell:>w$}", w = widths[c]),
            };
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::log::{GroupPartitionStats, GroupStats, PartitionStats, TopicStats};

    #[test]
    fn stats_render_as_aligned_tables() {
        let mut stats = LogStats::default();
        stats.topics.insert(
            "transactions".into(),
            TopicStats {
                records: 1500,
                bytes: 400_000,
                partitions: vec![PartitionStats {
                    partition: 0,
                    start_offset: 0,
                    end_offset: 1500,
                    records: 1500,
                    bytes: 400_000,
                    segments: 1,
                }],
            },
        );
        stats.groups.insert(
            "processor".into(),
            GroupStats {
                lag: 500,
                partitions: vec![GroupPartitionStats {
                    topic: "transactions".into(),
                    partition: 0,
                    committed: 1000,
                    lag: 500,
                }],
            },
        );
        let text = render(&stats);
        assert!(text.contains("transactions          0      0  1500     1500  390.6 KiB         1"), "{text}");
        assert!(text.contains("processor  transactions          0       1000  500"), "{text}");
    }
}

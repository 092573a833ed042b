//! `streamify sql [QUERY]`: SQL over the lake. With a query, prints its result; without, reads
//! statements from stdin, each ended by `;` (or by the end of input), and prints each result.
//! `\d` lists the tables, `\q` quits. Every statement sees the lake's latest commits.

use crate::serve::sql::{Format, SqlSession, render};
use crate::sink::Lake;
use anyhow::Context as _;
use std::io::{BufRead, IsTerminal, Write};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The statement to run, e.g. "select count(*) from silver_transactions". Without it, statements
    /// are read from stdin (an interactive prompt on a terminal).
    pub query: Option<String>,
    /// How results are printed: an aligned table, CSV with a header, or one JSON array of rows.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
}

pub fn run(ctx: &super::Context, args: Args) -> anyhow::Result<()> {
    let lake = super::lake::open_lake(ctx)?;
    match args.query {
        Some(query) => {
            let text = execute(&lake, &query, args.format)?;
            std::io::stdout().write_all(text.as_bytes())?;
            Ok(())
        }
        None => {
            let terminal = std::io::stdin().is_terminal();
            let failed = prompt(&lake, args.format, std::io::stdin().lock(), &mut std::io::stdout(), terminal)?;
            if failed > 0 && !terminal {
                anyhow::bail!("{failed} statement(s) failed");
            }
            Ok(())
        }
    }
}

/// Opens a fresh session (so the latest commits are visible) and runs one statement.
fn execute(lake: &Lake, query: &str, format: Format) -> anyhow::Result<String> {
    let session = SqlSession::open(lake).with_context(|| format!("reading the lake at {}", lake.root()))?;
    let batches = session.query(query)?;
    Ok(render(&batches, format)?)
}

/// The statement loop. Results go to `out`, errors to stderr; returns how many statements failed.
pub fn prompt(
    lake: &Lake,
    format: Format,
    input: impl BufRead,
    out: &mut impl Write,
    show_prompt: bool,
) -> anyhow::Result<usize> {
    let mut statement = String::new();
    let mut failed = 0;
    let mut lines = input.lines();
    loop {
        if show_prompt {
            write!(out, "{}", if statement.is_empty() { "sql> " } else { "  -> " })?;
            out.flush()?;
        }
        let Some(line) = lines.next().transpose().context("reading statements from stdin")? else { break };
        let trimmed = line.trim();
        if statement.is_empty() && trimmed.starts_with('\\') {
            match trimmed {
                "\\q" => return Ok(failed),
                "\\d" => match lake.tables() {
                    Ok(tables) if tables.is_empty() => writeln!(out, "no tables yet")?,
                    Ok(tables) => tables.iter().try_for_each(|t| writeln!(out, "{}", t.sql_name))?,
                    Err(error) => {
                        failed += 1;
                        eprintln!("error: {error}");
                    }
                },
                other => eprintln!("unknown command {other}: use \\d to list tables, \\q to quit"),
            }
            continue;
        }
        if trimmed.is_empty() && statement.is_empty() {
            continue;
        }
        statement.push_str(&line);
        statement.push('\n');
        if trimmed.ends_with(';') {
            failed += run_one(lake, &statement, format, out)?;
            statement.clear();
        }
    }
    if !statement.trim().is_empty() {
        failed += run_one(lake, &statement, format, out)?;
    }
    Ok(failed)
}

fn run_one(lake: &Lake, statement: &str, format: Format, out: &mut impl Write) -> anyhow::Result<usize> {
    match execute(lake, statement.trim().trim_end_matches(';'), format) {
        Ok(text) => {
            out.write_all(text.as_bytes())?;
            Ok(0)
        }
        Err(error) => {
            eprintln!("error: {error:#}");
            Ok(1)
        }
    }
}

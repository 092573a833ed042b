//! `streamify config show`: the effective configuration (defaults, file, environment) as TOML,
//! with every secret redacted.

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Print the effective configuration, secrets redacted.
    Show,
}

pub fn run(ctx: &super::Context, command: Command) -> anyhow::Result<()> {
    match command {
        Command::Show => print!("{}", ctx.config.to_toml()),
    }
    Ok(())
}

//! `streamify auth`: credentials for the HTTP server. Only digests go into the configuration:
//! a token is printed once and stored as its SHA-256, a password as an Argon2id hash.

use crate::serve::Role;
use crate::serve::auth::{hash_password, issue_jwt, new_token};
use anyhow::Context as _;
use std::io::BufRead as _;

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// A new random API token, and its [[serve.auth.tokens]] entry (only the digest).
    Token {
        #[arg(long, value_enum)]
        role: Role,
        /// Who uses it (shown in logs and 403 messages).
        #[arg(long)]
        name: String,
    },
    /// Reads a password from stdin and prints a [[serve.auth.users]] entry with its Argon2id hash.
    HashPassword {
        #[arg(long, value_enum)]
        role: Role,
        #[arg(long)]
        name: String,
    },
    /// A signed JWT (HS256, with serve.auth.jwt_secret) for a subject and role.
    Jwt {
        #[arg(long, value_enum)]
        role: Role,
        #[arg(long)]
        subject: String,
        /// How long it is valid, e.g. "1h", "30d".
        #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
        ttl: std::time::Duration,
    },
}

fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

pub fn run(ctx: &super::Context, command: Command) -> anyhow::Result<()> {
    match command {
        Command::Token { role, name } => {
            let (token, digest) = new_token().map_err(anyhow::Error::msg)?;
            println!("token (shown once; give it to the client): {token}");
            println!("add to [serve.auth] tokens:");
            println!("  {{ name = {}, role = \"{}\", sha256 = \"{digest}\" }}", toml_string(&name), role.as_str());
        }
        Command::HashPassword { role, name } => {
            anyhow::ensure!(!name.is_empty() && !name.contains(':'), "--name must be non-empty and without ':'");
            let mut password = String::new();
            std::io::stdin().lock().read_line(&mut password).context("reading the password from stdin")?;
            let password = password.trim_end_matches(['\r', '\n']);
            anyhow::ensure!(password.len() >= 8, "the password must have at least 8 characters");
            let hash = hash_password(password).map_err(anyhow::Error::msg)?;
            println!("add to [serve.auth] users:");
            println!(
                "  {{ name = {}, role = \"{}\", password_hash = {} }}",
                toml_string(&name),
                role.as_str(),
                toml_string(&hash)
            );
        }
        Command::Jwt { role, subject, ttl } => {
            let now = (ctx.clock.now().micros() / 1_000_000).max(0) as u64;
            let token =
                issue_jwt(&ctx.config.serve.auth, &subject, role, now, ttl.as_secs()).map_err(anyhow::Error::msg)?;
            println!("{token}");
        }
    }
    Ok(())
}

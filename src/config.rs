//! Configuration: embedded defaults < config file < `STREAMIFY__SECTION__KEY` env < flags.
//!
//! `config/default.toml` is compiled into the binary and documents every setting. A user's file
//! and environment variables are merged over it key by key; command-line flags are applied by the
//! CLI last. The merged result is validated once, and every problem is reported at once: unknown
//! keys, wrong types (one per section) and out-of-range values.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::Path;

pub const DEFAULT_TOML: &str = include_str!("../config/default.toml");
const ENV_PREFIX: &str = "STREAMIFY__";

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Config {
    pub bus: BusConfig,
    pub privacy: PrivacyConfig,
    pub validation: ValidationConfig,
    pub generate: crate::generate::GenerateConfig,
    pub ingest: crate::ingest::IngestConfig,
    pub fraud: crate::fraud::FraudConfig,
    pub stream: crate::stream::runtime::StreamConfig,
    pub serve: crate::serve::ServeConfig,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BusConfig {
    /// Partitions per topic, fixed when a topic is created.
    pub partitions: u32,
    pub log: crate::bus::log::LogConfig,
}

#[derive(Clone, Serialize, Deserialize)]
pub struct PrivacyConfig {
    /// HMAC key for e-mail pseudonyms (a secret: never printed).
    #[serde(serialize_with = "redact")]
    pub email_key: String,
    pub email_key_version: u32,
}

impl fmt::Debug for PrivacyConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivacyConfig")
            .field("email_key", &"<redacted>")
            .field("email_key_version", &self.email_key_version)
            .finish()
    }
}

fn redact<S: serde::Serializer>(_: &str, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str("<redacted>")
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ValidationConfig {
    /// How far past the clock an event may be timestamped.
    #[serde(with = "duration")]
    pub max_future: std::time::Duration,
}

/// Every problem found in the configuration, reported together.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigErrors(pub Vec<String>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid configuration ({} problem{}):", self.0.len(), if self.0.len() == 1 { "" } else { "s" })?;
        for p in &self.0 {
            write!(f, "\n  - {p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

impl Config {
    /// The embedded defaults alone.
    pub fn defaults() -> Config {
        Config::load(None, std::iter::empty()).expect("embedded defaults are valid")
    }

    /// Loads defaults, then `file`, then the `STREAMIFY__*` variables among `env`.
    pub fn load(file: Option<&Path>, env: impl IntoIterator<Item = (String, String)>) -> Result<Config, ConfigErrors> {
        let mut problems = Vec::new();
        let mut merged: toml::Table = DEFAULT_TOML.parse().expect("embedded config/default.toml parses");
        if let Some(path) = file {
            match std::fs::read_to_string(path) {
                Ok(text) => match text.parse::<toml::Table>() {
                    Ok(user) => merge(&mut merged, user),
                    Err(e) => problems.push(format!("config file {}: {}", path.display(), e.to_string().trim())),
                },
                Err(e) => problems.push(format!("config file {}: {e}", path.display())),
            }
        }
        for (name, value) in env {
            let Some(rest) = name.strip_prefix(ENV_PREFIX) else { continue };
            let path: Vec<String> = rest.split("__").map(|p| p.to_ascii_lowercase()).collect();
            if path.iter().any(|p| p.is_empty()) {
                problems.push(format!("environment variable {name}: empty key segment; use STREAMIFY__SECTION__KEY"));
                continue;
            }
            set_path(&mut merged, &path, env_value(&value));
        }
        let config = parse_sections(merged, &mut problems);
        if let Some(config) = &config {
            config.check(&mut problems);
        }
        match config {
            Some(config) if problems.is_empty() => Ok(config),
            _ => Err(ConfigErrors(problems)),
        }
    }

    /// Range and consistency checks after parsing.
    pub fn check(&self, problems: &mut Vec<String>) {
        if !(1..=1024).contains(&self.bus.partitions) {
            problems.push(format!("bus.partitions = {}: use 1 to 1024", self.bus.partitions));
        }
        if self.privacy.email_key.len() < 16 {
            problems.push("privacy.email_key: use at least 16 characters".to_string());
        }
        self.bus.log.check(problems);
        self.generate.check(problems);
        self.ingest.check(problems);
        self.fraud.check(problems);
        self.stream.check(problems);
        self.serve.check(problems);
    }

    /// The effective configuration as TOML, secrets redacted.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_default()
    }

    /// The pseudonymizer this configuration sets up.
    pub fn pseudonymizer(&self) -> crate::model::Pseudonymizer {
        crate::model::Pseudonymizer::new(self.privacy.email_key.as_bytes(), self.privacy.email_key_version)
    }
}

fn merge(base: &mut toml::Table, over: toml::Table) {
    for (key, value) in over {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

fn set_path(table: &mut toml::Table, path: &[String], value: toml::Value) {
    let (last, parents) = path.split_last().expect("non-empty path");
    let mut current = table;
    for p in parents {
        let entry = current.entry(p.clone()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if !entry.is_table() {
            *entry = toml::Value::Table(toml::Table::new());
        }
        current = entry.as_table_mut().expect("just made a table");
    }
    current.insert(last.clone(), value);
}

/// An env value is read as a TOML value when it is one (`8`, `true`, `0.5`), else as a string.
fn env_value(text: &str) -> toml::Value {
    match format!("v = {text}").parse::<toml::Table>() {
        Ok(mut t) => t.remove("v").unwrap_or_else(|| toml::Value::String(text.to_string())),
        Err(_) => toml::Value::String(text.to_string()),
    }
}

/// Deserializes section by section so that one bad section does not hide another's problems.
fn parse_sections(mut merged: toml::Table, problems: &mut Vec<String>) -> Option<Config> {
    fn section<T: serde::de::DeserializeOwned>(
        merged: &mut toml::Table,
        name: &str,
        problems: &mut Vec<String>,
    ) -> Option<T> {
        let value = merged.remove(name).unwrap_or_else(|| toml::Value::Table(toml::Table::new()));
        let mut unknown = Vec::new();
        let parsed = serde_ignored::deserialize(value, |path| unknown.push(path.to_string()));
        for key in unknown {
            problems
                .push(format!("unknown setting `{name}.{key}`; see config/default.toml for the settings that exist"));
        }
        match parsed {
            Ok(v) => Some(v),
            Err(e) => {
                problems.push(format!("[{name}]: {}", e.to_string().trim()));
                None
            }
        }
    }
    let bus = section(&mut merged, "bus", problems);
    let privacy = section(&mut merged, "privacy", problems);
    let validation = section(&mut merged, "validation", problems);
    let generate = section(&mut merged, "generate", problems);
    let ingest = section(&mut merged, "ingest", problems);
    let stream = section(&mut merged, "stream", problems);
    let serve = section(&mut merged, "serve", problems);
    // Its own parser: it reports every unknown key although the struct denies unknown fields.
    let fraud = crate::fraud::FraudConfig::from_toml_value(
        merged.remove("fraud").unwrap_or_else(|| toml::Value::Table(toml::Table::new())),
        problems,
    );
    for key in merged.keys() {
        problems.push(format!("unknown section `[{key}]`; see config/default.toml for the sections that exist"));
    }
    Some(Config {
        bus: bus?,
        privacy: privacy?,
        validation: validation?,
        generate: generate?,
        ingest: ingest?,
        fraud: fraud?,
        stream: stream?,
        serve: serve?,
    })
}

/// Serde for durations written like "10s", "500ms", "7d".
pub mod duration {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(&text)
            .map_err(|e| serde::de::Error::custom(format!("{text:?} is not a duration like \"10s\" or \"500ms\": {e}")))
    }

    pub fn serialize<S: Serializer>(value: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*value).to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn layers_apply_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("s.toml");
        std::fs::write(&file, "[bus]\npartitions = 8\n[generate]\nseed = 7\n").unwrap();
        let c = Config::load(Some(&file), env(&[("STREAMIFY__GENERATE__SEED", "9"), ("OTHER", "x")])).unwrap();
        assert_eq!(c.bus.partitions, 8);
        assert_eq!(c.generate.seed, 9);
        let c = Config::load(None, env(&[("STREAMIFY__BUS__LOG__FSYNC_INTERVAL", "250ms")])).unwrap();
        assert_eq!(c.bus.log.fsync_interval, std::time::Duration::from_millis(250));
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("s.toml");
        std::fs::write(&file, "[bus]\npartitions = 0\ncolour = 1\n[validation]\nmax_future = \"soon\"\n[nope]\n")
            .unwrap();
        let errors = Config::load(Some(&file), env(&[("STREAMIFY__GENERATE__FRAUD_RATE", "2")])).unwrap_err();
        let text = errors.to_string();
        assert!(text.contains("unknown setting `bus.colour`"), "{text}");
        assert!(text.contains("[validation]") && text.contains("\"soon\""), "{text}");
        assert!(text.contains("unknown section `[nope]`"), "{text}");
        // Range checks need every section parsed; the type error above stops them, so check alone:
        let errors =
            Config::load(None, env(&[("STREAMIFY__BUS__PARTITIONS", "0"), ("STREAMIFY__GENERATE__FRAUD_RATE", "2")]))
                .unwrap_err();
        assert_eq!(errors.0.len(), 2, "{errors}");
    }

    #[test]
    fn the_key_never_shows() {
        let c = Config::load(None, env(&[("STREAMIFY__PRIVACY__EMAIL_KEY", "super-secret-value-123")])).unwrap();
        assert!(!c.to_toml().contains("super-secret"));
        assert!(!format!("{c:?}").contains("super-secret"));
    }
}

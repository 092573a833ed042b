use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::time::Duration;

/// A progress bar with rate and ETA when stderr is a terminal; silent otherwise.
pub struct Progress {
    bar: ProgressBar,
}

impl Progress {
    /// `total` is the expected count (bytes or events), if known; `unit` names what is counted.
    pub fn new(total: Option<u64>, unit: &str, enabled: bool) -> Self {
        let visible = enabled && std::io::stderr().is_terminal();
        let bar = match total {
            Some(n) => ProgressBar::with_draw_target(Some(n), ProgressDrawTarget::hidden()),
            None => ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden()),
        };
        if visible {
            let template = match (total, unit) {
                (Some(_), "bytes") => {
                    "{spinner:.green} {msg} [{wide_bar:.cyan/blue}] {bytes}/{total_bytes} ({bytes_per_sec}, ETA {eta})"
                }
                (Some(_), _) => {
                    "{spinner:.green} {msg} [{wide_bar:.cyan/blue}] {human_pos}/{human_len} {unit} ({per_sec}, ETA {eta})"
                }
                (None, _) => "{spinner:.green} {msg} {human_pos} {unit} ({per_sec})",
            };
            let style = ProgressStyle::with_template(&template.replace("{unit}", unit))
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> ");
            bar.set_style(style);
            bar.set_draw_target(ProgressDrawTarget::stderr_with_hz(8));
            bar.enable_steady_tick(Duration::from_millis(250));
        }
        Progress { bar }
    }

    pub fn inc(&self, n: u64) {
        self.bar.inc(n);
    }

    pub fn set_message(&self, msg: impl Into<std::borrow::Cow<'static, str>>) {
        self.bar.set_message(msg);
    }

    /// Removes the bar; the caller prints the summary.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

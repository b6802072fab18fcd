//! A progress bar on stderr for long runs: shown only when stderr is a terminal (never in
//! pipes, files or CI logs), not with `--quiet`, and only once a run has lasted a second.

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Counts bytes read from the inputs and draws them while a run lasts.
pub struct Progress {
    counter: Arc<AtomicU64>,
    ticker: Option<(JoinHandle<()>, Arc<AtomicBool>)>,
}

impl Progress {
    /// Starts the bar for `inputs` unless `quiet` or stderr is not a terminal.
    pub fn start(inputs: &[String], quiet: bool) -> Self {
        let counter = Arc::new(AtomicU64::new(0));
        if quiet || !std::io::stderr().is_terminal() {
            return Progress { counter, ticker: None };
        }
        // Regular files have a size; stdin does not (then a spinner with the byte count).
        let total: Option<u64> = inputs
            .iter()
            .map(|p| if p == "-" { None } else { std::fs::metadata(p).ok().map(|m| m.len()) })
            .sum();
        let stop = Arc::new(AtomicBool::new(false));
        let (c, s) = (counter.clone(), stop.clone());
        let handle = thread::spawn(move || {
            let started = Instant::now();
            let bar = match total {
                Some(t) => ProgressBar::with_draw_target(Some(t), ProgressDrawTarget::stderr()).with_style(
                    ProgressStyle::with_template("{bar:30} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
                        .unwrap_or_else(|_| ProgressStyle::default_bar()),
                ),
                None => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()).with_style(
                    ProgressStyle::with_template("{spinner} {bytes} {bytes_per_sec}")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                ),
            };
            bar.set_draw_target(ProgressDrawTarget::hidden());
            while !s.load(Ordering::Relaxed) {
                if started.elapsed() > Duration::from_secs(1) && bar.is_hidden() {
                    bar.set_draw_target(ProgressDrawTarget::stderr());
                }
                bar.set_position(c.load(Ordering::Relaxed));
                thread::sleep(Duration::from_millis(100));
            }
            bar.finish_and_clear();
        });
        Progress { counter, ticker: Some((handle, stop)) }
    }

    /// The counter the readers add to.
    pub fn counter(&self) -> Option<Arc<AtomicU64>> {
        Some(self.counter.clone())
    }

    /// Stops and clears the bar.
    pub fn finish(mut self) {
        if let Some((handle, stop)) = self.ticker.take() {
            stop.store(true, Ordering::Relaxed);
            let _ = handle.join();
        }
    }
}

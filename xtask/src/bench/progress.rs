//! A progress bar per workload on standard error: redrawn in place on a
//! terminal, one plain line per round of runs otherwise (CI logs, pipes).

use std::io::{IsTerminal, Write};
use std::time::Instant;

/// Progress through one workload's runs.
pub(crate) struct Progress {
    workload: String,
    total: usize,
    done: usize,
    per_round: usize,
    started: Instant,
    terminal: bool,
}

const WIDTH: usize = 28;

impl Progress {
    /// Starts a bar for `total` runs, `per_round` of them per round.
    pub(crate) fn start(workload: &str, total: usize, per_round: usize) -> Self {
        let progress = Progress {
            workload: workload.to_owned(),
            total,
            done: 0,
            per_round: per_round.max(1),
            started: Instant::now(),
            terminal: std::io::stderr().is_terminal(),
        };
        progress.draw("starting");
        progress
    }

    /// Announces the run about to start.
    pub(crate) fn running(&self, implementation: &str, run: usize, runs: usize) {
        self.draw(&format!("{implementation} (run {run}/{runs})"));
    }

    /// Counts one finished run.
    pub(crate) fn finished_one(&mut self) {
        self.done += 1;
        if !self.terminal && (self.done.is_multiple_of(self.per_round) || self.done == self.total) {
            eprintln!(
                "  {}: {}/{} runs done ({:.1}s)",
                self.workload,
                self.done,
                self.total,
                self.started.elapsed().as_secs_f64()
            );
        }
    }

    /// Closes the bar with a one-line summary.
    pub(crate) fn finish(&self, summary: &str) {
        let seconds = self.started.elapsed().as_secs_f64();
        if self.terminal {
            eprintln!(
                "\r\x1b[2K{:<22} [{}] {}/{} {seconds:>5.1}s  {summary}",
                self.workload,
                "#".repeat(WIDTH),
                self.done,
                self.total
            );
        } else {
            eprintln!("  {}: done in {seconds:.1}s  {summary}", self.workload);
        }
    }

    fn draw(&self, what: &str) {
        if !self.terminal {
            if self.done == 0 && what == "starting" {
                eprintln!("{}: {} runs", self.workload, self.total);
            }
            return;
        }
        let filled = WIDTH * self.done / self.total.max(1);
        let bar = format!("{}{}", "#".repeat(filled), "-".repeat(WIDTH - filled));
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\r\x1b[2K{:<22} [{bar}] {}/{} {:>5.1}s  {what}",
            self.workload,
            self.done,
            self.total,
            self.started.elapsed().as_secs_f64()
        );
        let _ = err.flush();
    }
}

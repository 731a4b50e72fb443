//! The results: one [`Figure`] per measurement, the table printed to the terminal and the
//! `BENCHMARKS.md` page. Hand-written findings between the `<!-- findings -->` markers of an
//! existing page are kept when the page is written again, so reruns refresh the numbers without
//! losing the analysis.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;

const FINDINGS_START: &str = "<!-- findings -->";
const FINDINGS_END: &str = "<!-- /findings -->";

/// One measured figure.
#[derive(Debug, Clone)]
pub struct Figure {
    /// The issue's number for it (1–7); extra rows share the number of the figure they explain.
    pub id: u8,
    /// What was measured.
    pub name: String,
    /// The measurement, with its unit.
    pub measured: String,
    /// The target, in words; empty for a row that only explains another.
    pub target: String,
    /// The raw cryptographic operation measured in the same run, and the ratio to it.
    pub raw: Option<Raw>,
    /// Whether the target was met; `None` for an explanatory row.
    pub pass: Option<bool>,
    /// Conditions of the run (counts, store backend).
    pub conditions: String,
}

/// The raw operation a throughput figure is compared with.
#[derive(Debug, Clone)]
pub struct Raw {
    /// e.g. "ECDSA P-256 sign".
    pub op: String,
    /// Its rate on one core, per second.
    pub per_sec: f64,
    /// The figure's rate divided by the raw rate.
    pub ratio: f64,
}

/// The machine the run happened on.
#[derive(Debug, Clone)]
pub struct Machine {
    /// `nproc`.
    pub cores: usize,
    /// `model name` from /proc/cpuinfo.
    pub cpu: String,
    /// `MemTotal` from /proc/meminfo.
    pub memory: String,
    /// `uname -sr` equivalent.
    pub kernel: String,
}

impl Figure {
    /// A row that states a target.
    pub fn target(id: u8, name: &str, measured: String, target: &str, pass: bool) -> Self {
        Self {
            id,
            name: name.to_owned(),
            measured,
            target: target.to_owned(),
            raw: None,
            pass: Some(pass),
            conditions: String::new(),
        }
    }

    /// A row that explains another and has no target of its own.
    pub fn info(id: u8, name: &str, measured: String) -> Self {
        Self {
            id,
            name: name.to_owned(),
            measured,
            target: String::new(),
            raw: None,
            pass: None,
            conditions: String::new(),
        }
    }

    /// Adds the run's conditions.
    pub fn when(mut self, conditions: impl Into<String>) -> Self {
        self.conditions = conditions.into();
        self
    }

    fn result(&self) -> &'static str {
        match self.pass {
            Some(true) => "pass",
            Some(false) => "MISS",
            None => "",
        }
    }

    fn raw_text(&self) -> (String, String) {
        match &self.raw {
            Some(raw) => (
                format!("{}: {}/s", raw.op, thousands(raw.per_sec)),
                format!("{:.0} %", raw.ratio * 100.0),
            ),
            None => (String::new(), String::new()),
        }
    }
}

impl Machine {
    /// Reads the machine's description from /proc.
    pub fn probe() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = proc_field(&cpuinfo, "model name").unwrap_or_else(|| "unknown".to_owned());
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let memory = proc_field(&meminfo, "MemTotal").unwrap_or_else(|| "unknown".to_owned());
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| format!("Linux {}", s.trim()))
            .unwrap_or_else(|_| "unknown".to_owned());
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Self { cores, cpu, memory, kernel }
    }
}

/// Formats `x` with thousands separators and no decimals.
pub fn thousands(x: f64) -> String {
    let digits = format!("{:.0}", x.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The table for the terminal.
pub fn table(figures: &[Figure]) -> String {
    let mut out = String::new();
    for f in figures {
        let (raw, ratio) = f.raw_text();
        let _ = writeln!(
            out,
            "{:>2} {:<4} {:<58} {:>22}  {:<34} {:<32} {:>6}",
            f.id,
            f.result(),
            f.name,
            f.measured,
            f.target,
            raw,
            ratio
        );
    }
    out
}

/// The whole `BENCHMARKS.md`, keeping `previous`'s findings section if it has one.
pub fn markdown(figures: &[Figure], machine: &Machine, command: &str, previous: &str) -> String {
    let mut out = String::new();
    out.push_str("# Benchmarks\n\n");
    out.push_str(
        "Measured by `kuma-bench` (crate `bench/`) against the limit the cryptography sets, in the \
         same run: every throughput figure is shown beside the raw operation it is built on and \
         the ratio between the two. Everything runs on loopback with OS-chosen ports; the \
         control planes are the real `global` and `zone` apps (in-process) or the release \
         `kuma-cp` binary (a separate process).\n\n",
    );
    out.push_str("| # | figure | measured | target | raw op, same run | ratio | result |\n");
    out.push_str("|---|---|---|---|---|---|---|\n");
    for f in figures {
        let (raw, ratio) = f.raw_text();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} |",
            f.id,
            f.name,
            f.measured,
            f.target,
            raw,
            ratio,
            match f.pass {
                Some(true) => "pass",
                Some(false) => "**miss**",
                None => "",
            }
        );
    }
    out.push_str("\nConditions of each row:\n\n");
    for f in figures.iter().filter(|f| !f.conditions.is_empty()) {
        let _ = writeln!(out, "- {} ({}): {}", f.id, f.name, f.conditions);
    }
    let _ = write!(
        out,
        "\n## Machine\n\n- {} cores (`nproc`), {}\n- memory: {}\n- {}\n",
        machine.cores, machine.cpu, machine.memory, machine.kernel
    );
    out.push_str("\n## How to reproduce\n\n```sh\n");
    out.push_str("cargo build --release --locked -p kuma-cp -p kuma-bench\n");
    let _ = writeln!(out, "{command}\n```\n");
    out.push_str(
        "`kuma-bench --help` lists the options (which figures, counts, iterations, store \
         backend, the `kuma-cp` binary). Figures 5 to 7 spawn `target/release/kuma-cp`; figures \
         5 and 7 try to raise the open-file limit of the bench and of the zone with `prlimit`; \
         when that is refused they keep the current limit, which must exceed the proxy count. \
         The whole run takes about six minutes on 2 cores, most of it setting up the proxies.\n\n",
    );
    out.push_str("## Findings\n\n");
    out.push_str(FINDINGS_START);
    out.push('\n');
    out.push_str(findings(previous).unwrap_or("\n(not written yet)\n\n"));
    out.push_str(FINDINGS_END);
    out.push('\n');
    out
}

/// Writes the page to `path`, keeping the findings of the page already there.
pub fn write(
    path: &Path,
    figures: &[Figure],
    machine: &Machine,
    command: &str,
) -> anyhow::Result<()> {
    let previous = std::fs::read_to_string(path).unwrap_or_default();
    std::fs::write(path, markdown(figures, machine, command, &previous))
        .with_context(|| format!("writing {}", path.display()))
}

fn findings(page: &str) -> Option<&str> {
    let start = page.find(FINDINGS_START)? + FINDINGS_START.len() + 1;
    let end = page[start..].find(FINDINGS_END)? + start;
    Some(&page[start..end])
}

fn proc_field(text: &str, name: &str) -> Option<String> {
    text.lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_are_separated() {
        assert_eq!(thousands(0.0), "0");
        assert_eq!(thousands(999.4), "999");
        assert_eq!(thousands(1000.0), "1,000");
        assert_eq!(thousands(1_234_567.0), "1,234,567");
    }

    #[test]
    fn findings_survive_a_rewrite() {
        let machine = Machine {
            cores: 2,
            cpu: "cpu".to_owned(),
            memory: "1 kB".to_owned(),
            kernel: "Linux".to_owned(),
        };
        let fig = Figure::target(1, "x", "1/s".to_owned(), "≥ 1/s", true);
        let first = markdown(std::slice::from_ref(&fig), &machine, "run", "");
        assert!(first.contains("(not written yet)"));
        let edited = first.replace("(not written yet)", "the analysis");
        let second = markdown(&[fig], &machine, "run", &edited);
        assert!(second.contains("the analysis"));
        assert!(!second.contains("(not written yet)"));
    }
}

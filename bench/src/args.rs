//! The command line and the order in which figures run.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};

use crate::report::{self, Figure, Machine};
use crate::{crypto, dps, kds, startup, xds};

/// Measures the control plane against the cryptography it is built on; prints a table and writes
/// BENCHMARKS.md.
#[derive(Debug, Parser)]
#[command(name = "kuma-bench")]
pub struct Args {
    /// Figures to run (1–10); all when not given.
    #[arg(long = "only", value_delimiter = ',')]
    pub only: Vec<u8>,
    /// Where to write the report; `-` writes nothing.
    #[arg(long, default_value = "BENCHMARKS.md")]
    pub write: PathBuf,
    /// Seconds each throughput loop runs (figures 1 and 2).
    #[arg(long, default_value_t = 3.0)]
    pub seconds: f64,
    /// Changes written on the global for figure 3.
    #[arg(long, default_value_t = 200)]
    pub changes: usize,
    /// Resources already on the global during figure 3.
    #[arg(long, default_value_t = 1000)]
    pub background: usize,
    /// Resources synced to a new zone in figure 4.
    #[arg(long, default_value_t = 10_000)]
    pub resources: usize,
    /// Store backend of the in-process control planes (figures 3 and 4).
    #[arg(long, value_enum, default_value_t = StoreKind::Sqlite)]
    pub store: StoreKind,
    /// Simulated data plane proxies for figures 5 and 7.
    #[arg(long, default_value_t = 10_000)]
    pub dps: usize,
    /// Proxies connecting at the same time while they are being set up (figure 5).
    #[arg(long, default_value_t = 200)]
    pub concurrency: usize,
    /// Starts measured for figure 6 (the median is reported).
    #[arg(long, default_value_t = 7)]
    pub starts: usize,
    /// Simulated ADS clients for figures 9 and 10.
    #[arg(long, default_value_t = 1000)]
    pub ads_clients: usize,
    /// TrafficPermission changes timed in figure 9.
    #[arg(long, default_value_t = 10)]
    pub ads_changes: usize,
    /// The `kuma-cp` binary for figures 5–7, 9 and 10; by default the one beside this binary.
    #[arg(long)]
    pub kuma_cp: Option<PathBuf>,
}

/// Which store the in-process control planes use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StoreKind {
    /// The default of `kuma-cp run`: a SQLite file in the work dir.
    Sqlite,
    /// In memory.
    Memory,
}

impl StoreKind {
    /// The value of `KUMA_STORE_TYPE`.
    pub fn env(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Memory => "memory",
        }
    }
}

impl Args {
    fn wants(&self, id: u8) -> bool {
        self.only.is_empty() || self.only.contains(&id)
    }

    fn kuma_cp(&self) -> anyhow::Result<PathBuf> {
        match &self.kuma_cp {
            Some(path) => Ok(path.clone()),
            None => {
                let me = std::env::current_exe()?;
                Ok(me.with_file_name("kuma-cp"))
            }
        }
    }

    /// The command line that reproduces this run.
    fn command(&self) -> String {
        let mut cmd = String::from("./target/release/kuma-bench");
        if !self.only.is_empty() {
            let ids: Vec<String> = self.only.iter().map(u8::to_string).collect();
            cmd.push_str(&format!(" --only {}", ids.join(",")));
        }
        cmd.push_str(&format!(
            " --store {} --dps {} --resources {} --changes {} --background {}",
            self.store.env(),
            self.dps,
            self.resources,
            self.changes,
            self.background
        ));
        cmd
    }
}

/// Runs the chosen figures in order, printing each as it completes, then writes the report.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let time = Duration::from_secs_f64(args.seconds);
    let machine = Machine::probe();
    eprintln!("{} cores, {}", machine.cores, machine.cpu);
    let mut figures: Vec<Figure> = Vec::new();
    let show = |new: Vec<Figure>, all: &mut Vec<Figure>| {
        print!("{}", report::table(&new));
        all.extend(new);
    };
    if args.wants(1) {
        show(crypto::issuance(time).await?, &mut figures);
    }
    if args.wants(2) {
        show(crypto::validation(time).await?, &mut figures);
    }
    if args.wants(3) {
        show(kds::propagation(args.store, args.background, args.changes).await?, &mut figures);
    }
    if args.wants(4) {
        show(kds::full_sync(args.store, args.resources).await?, &mut figures);
    }
    if args.wants(6) {
        show(startup::to_ready(&args.kuma_cp()?, args.starts).await?, &mut figures);
    }
    if args.wants(5) || args.wants(7) {
        let plan = dps::Plan {
            dps: args.dps,
            concurrency: args.concurrency,
            storm: args.wants(7),
            memory: args.wants(5),
        };
        show(dps::run(&args.kuma_cp()?, plan).await?, &mut figures);
    }
    if args.wants(8) {
        show(xds::generation(1000, 5000, time), &mut figures);
    }
    if args.wants(9) || args.wants(10) {
        show(xds::ads(&args.kuma_cp()?, args.ads_clients, args.ads_changes).await?, &mut figures);
    }
    if args.write.as_os_str() != "-" {
        report::write(&args.write, &figures, &machine, &args.command())?;
        eprintln!("wrote {}", args.write.display());
    }
    Ok(())
}

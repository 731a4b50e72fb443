//! What each fuzz target does with its input, and the seed inputs it starts from.
//!
//! Every target drives the same public functions the servers call with bytes from the network,
//! with real keys, a real CA and a real (in-memory) store, and asserts properties that must hold
//! for any input: no panic, and round trips that give back what went in. The `fuzz_targets/`
//! binaries only wire these into libFuzzer.

use std::path::Path;

pub mod csr;
pub mod kds;
pub mod resources;
pub mod tokens;

/// The environment variable that makes a target write its seeds into the directory it names and
/// exit, instead of fuzzing (`scripts/fuzz` uses it to fill a fresh corpus).
pub const SEEDS_VAR: &str = "KUMA_FUZZ_WRITE_SEEDS";

/// The seeds of target `name`.
pub fn seeds(name: &str) -> Vec<Vec<u8>> {
    match name {
        "tokens" => tokens::seeds(),
        "token_claims" => tokens::claim_seeds(),
        "csr" => csr::seeds(),
        "kds" => kds::seeds(),
        "resources" => resources::seeds(),
        other => panic!("no fuzz target named {other:?}"),
    }
}

/// Runs before fuzzing: with [`SEEDS_VAR`] set, writes the seeds of `name` there and exits.
pub fn init(name: &str) {
    let Some(dir) = std::env::var_os(SEEDS_VAR) else { return };
    let dir = Path::new(&dir);
    std::fs::create_dir_all(dir).expect("creating the seed directory");
    for (i, seed) in seeds(name).iter().enumerate() {
        std::fs::write(dir.join(format!("seed-{i:03}")), seed).expect("writing a seed");
    }
    std::process::exit(0);
}

/// A single-threaded runtime for the async store calls; the fuzzer calls targets from one thread.
pub(crate) fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread().build().expect("building a tokio runtime")
    })
}

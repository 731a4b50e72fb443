//! Figure 6: `kuma-cp run` in a fresh work dir (certificates generated, SQLite created and
//! migrated, keys made) until `GET /ready` on diagnostics answers 200.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use shared::testing::cp::http_client;

use crate::process;
use crate::report::Figure;

/// Starts `kuma-cp run` `starts` times in the default mode (a zone) and reports the median.
pub async fn to_ready(bin: &Path, starts: usize) -> anyhow::Result<Vec<Figure>> {
    let client = http_client();
    let mut times = Vec::with_capacity(starts);
    for _ in 0..starts.max(1) {
        let home = tempfile::tempdir()?;
        let env = process::env(home.path(), &[]);
        let cp = process::spawn(bin, &env, None, "diagnostics server listening").await?;
        let port = cp.ports.diagnostics.context("kuma-cp did not log its diagnostics port")?;
        let url = format!("http://127.0.0.1:{port}/ready");
        let ready = loop {
            if let Ok(resp) = client.get(&url).send().await
                && resp.status().is_success()
            {
                break Instant::now();
            }
            if cp.spawned.elapsed() > Duration::from_secs(30) {
                anyhow::bail!("/ready did not turn 200 within 30 s");
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        };
        times.push(ready.duration_since(cp.spawned));
        cp.stop().await?;
    }
    times.sort();
    let median = times[times.len() / 2];
    let all: Vec<String> = times.iter().map(|t| format!("{}", t.as_millis())).collect();
    Ok(vec![
        Figure::target(
            6,
            "`kuma-cp run` to ready, fresh work dir",
            format!("{} ms", median.as_millis()),
            "≤ 300 ms",
            median <= Duration::from_millis(300),
        )
        .when(format!(
            "median of {} starts of the release binary in the default mode (zone, SQLite), \
             clock from spawn to the first 200 of GET /ready; all runs (ms, sorted): {}",
            times.len(),
            all.join(", ")
        )),
    ])
}

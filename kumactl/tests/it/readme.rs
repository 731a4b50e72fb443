//! The README's kumactl section runs as written: its YAML files are written out, and each `$K`
//! command of its shell blocks runs through `sh` against a fresh zone whose work dir is
//! `~/.kuma`, as after the quick start. Only the ports differ (the test's are chosen by the OS),
//! and the commands marked for a global are left out.

use std::path::Path;
use std::process::Output;

use testkit::Zone;

const README: &str = include_str!("../../../README.md");

/// The text of the `## kumactl` section.
fn section() -> &'static str {
    let start = README.find("\n## kumactl\n").expect("a kumactl section");
    let rest = &README[start + 1..];
    let end = rest[1..].find("\n## ").map_or(rest.len(), |i| i + 1);
    &rest[..end]
}

/// The fenced blocks of `text` with the given info string, in order.
fn blocks<'a>(text: &'a str, info: &str) -> Vec<&'a str> {
    let fence = format!("```{info}\n");
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(&fence) {
        let body = &rest[start + fence.len()..];
        let end = body.find("```").expect("a closed block");
        out.push(&body[..end]);
        rest = &body[end..];
    }
    out
}

/// The `$K` commands of a shell block, continuation lines joined, comments left in (sh drops
/// them).
fn commands(block: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in block.lines() {
        let (code, comment) = line.split_once(" #").unwrap_or((line, ""));
        match code.trim_end().strip_suffix('\\') {
            Some(head) => current.push_str(head),
            None => {
                current.push_str(code);
                if current.trim_start().starts_with("$K ") && !comment.contains("global") {
                    out.push(current.trim().to_owned());
                }
                current.clear();
            }
        }
    }
    out
}

async fn sh(dir: &Path, home: &Path, command: &str) -> Output {
    tokio::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .current_dir(dir)
        .env("HOME", home)
        .env("K", env!("CARGO_BIN_EXE_kumactl"))
        .output()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_readme_kumactl_commands_run_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let zone = Zone::start(&home.join(".kuma"), &[]).await;
    let https_port = zone.addresses.https.unwrap().port().to_string();

    for yaml in blocks(section(), "yaml") {
        let (first, _) = yaml.split_once('\n').unwrap();
        let file = first.strip_prefix("# ").expect("a YAML block names its file");
        std::fs::write(dir.path().join(file), yaml).unwrap();
    }
    let commands: Vec<String> = blocks(section(), "sh").into_iter().flat_map(commands).collect();
    assert!(commands.len() >= 15, "{commands:#?}");
    for command in commands {
        let command = command.replace(":5682", &format!(":{https_port}"));
        let out = sh(dir.path(), &home, &command).await;
        let (stdout, stderr) = (crate::helpers::stdout(&out), crate::helpers::stderr(&out));
        assert!(out.status.success(), "{command}\nstdout: {stdout}\nstderr: {stderr}");
    }
    assert!(dir.path().join("key.pem").exists() && dir.path().join("kumactl.bash").exists());
    zone.stop().await;
}

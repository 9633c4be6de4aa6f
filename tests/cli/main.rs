//! End-to-end tests: the real `endline` binary, in a temporary directory, colour off.

mod append;
mod consumers;
mod contract;
mod did;
mod estimate;
mod honest;
mod ingest;
mod link;
mod power;
mod run;
mod safety;
mod scale;
mod surveydiff;
mod tabulate;
mod validate;
mod xlsform;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(&manifest_dir()).join("../..")
}

/// Runs `endline` with `args` from the repository root.
pub fn endline(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_endline"))
        .args(args)
        .current_dir(root())
        .env("NO_COLOR", "1")
        .output()
        .unwrap_or_else(|e| panic!("cannot run endline: {e}"))
}

/// A fresh scratch directory for one test. The first call also removes the scratch
/// directories of earlier test runs whose process has ended (a failed test leaves its
/// directory to be looked at; the next run clears it).
pub fn scratch(name: &str) -> PathBuf {
    static SWEEP: std::sync::Once = std::sync::Once::new();
    SWEEP.call_once(sweep_scratch);
    let dir = std::env::temp_dir().join(format!("endline-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    dir
}

/// Removes `endline-cli-PID-*` scratch directories of processes that are gone (Linux:
/// no `/proc/PID`; elsewhere nothing is removed).
fn sweep_scratch() {
    if !Path::new("/proc/self").exists() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else { return };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.strip_prefix("endline-cli-").and_then(|r| r.split('-').next()) else { continue };
        let gone =
            pid.parse::<u32>().is_ok_and(|p| p != std::process::id() && !Path::new(&format!("/proc/{p}")).exists());
        if gone {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// Simulates the example survey into `dir/field` (`--units`, `--households`, the waves,
/// the first programme year 2021, consent given) and ingests each wave into
/// `dir/in/<wave>`.
pub fn simulate_and_ingest(dir: &Path, seed: &str, units: &str, households: &str, waves: &[&str]) {
    simulate(dir, seed, units, households, waves);
    ingest_waves(dir, waves);
}

/// Simulates the example survey into `dir/field` (`--units`, `--households`, the waves,
/// the first programme year 2021, consent given).
pub fn simulate(dir: &Path, seed: &str, units: &str, households: &str, waves: &[&str]) {
    let d = |p: &str| dir.join(p).display().to_string();
    let survey = "surveys/border_household.yaml";
    let joined = waves.join(",");
    let o = endline(&[
        "simulate",
        survey,
        "--out",
        &d("field"),
        "--seed",
        seed,
        "--unit-question",
        "county_id",
        "--units",
        units,
        "--households",
        households,
        "--waves",
        &joined,
        "--adoption",
        "2021",
        "--answer",
        "consent=1",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
}

/// Ingests `dir/field/<wave>` of the example survey into `dir/in/<wave>`.
pub fn ingest_waves(dir: &Path, waves: &[&str]) {
    let d = |p: &str| dir.join(p).display().to_string();
    for w in waves {
        let o = endline(&[
            "ingest",
            "surveys/border_household.yaml",
            &d(&format!("field/{w}/border_household.csv")),
            &d(&format!("field/{w}/border_household-members.csv")),
            "--wave",
            w,
            "--out",
            &d(&format!("in/{w}")),
        ]);
        assert_eq!(o.status.code(), Some(0), "{w}: {}", String::from_utf8_lossy(&o.stderr));
    }
}

/// What the command printed on stdout.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The crate's directory, read when the tests run: cargo sets it for `cargo test`. The
/// compile-time `env!` would bake in the path of whichever checkout built the binary, and
/// a test binary reused from a shared target directory would then read another
/// checkout's fixtures.
fn manifest_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR").map_or_else(|| env!("CARGO_MANIFEST_DIR").into(), Into::into)
}

/// The JSON a successful run printed (the test fails, with stderr, otherwise).
pub fn json_of(o: &Output) -> serde_json::Value {
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}"))
}

/// A JSON number (the test fails otherwise).
pub fn num(v: &serde_json::Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

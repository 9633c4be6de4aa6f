//! endline replaces only what it wrote: the data-loss cases of the adversarial run (issue
//! #24) as regression tests of the one place that decides.

use std::path::{Path, PathBuf};

use endline_output::{Kind, MARKER, OutDir, OutputError, write_file};

/// A fresh scratch directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("endline-output-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    dir
}

fn write(p: &Path, text: &str) {
    std::fs::create_dir_all(p.parent().unwrap_or(Path::new("."))).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(p, text).unwrap_or_else(|e| panic!("{e}"));
}

fn refused(r: Result<OutDir, OutputError>) -> String {
    match r {
        Err(OutputError::Refused(m)) => m,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// Every entry of a directory, hidden ones included, sorted.
fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{e}"))
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn a_new_directory_is_written_and_replaced_only_by_the_same_kind() {
    let dir = scratch("own");
    let out = dir.join("wave");
    let claim = OutDir::claim(&out, Kind::Ingest, None, &[]).unwrap_or_else(|e| panic!("{e}"));
    write(&claim.staging().join("a.parquet"), "first");
    claim.commit().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(entries(&out), [MARKER, "a.parquet"]);
    // Its own output of the same kind is replaced whole.
    let claim = OutDir::claim(&out, Kind::Ingest, None, &[]).unwrap_or_else(|e| panic!("{e}"));
    write(&claim.staging().join("b.parquet"), "second");
    claim.commit().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(entries(&out), [MARKER, "b.parquet"]);
    // Another kind is refused, and nothing changes.
    let m = refused(OutDir::claim(&out, Kind::Simulation, None, &[]));
    assert!(m.contains("holds endline's ingest output, not a simulation"), "{m}");
    assert_eq!(entries(&out), [MARKER, "b.parquet"]);
    // Nothing is left beside it: no lock, no staging.
    assert_eq!(entries(&dir), ["wave"]);
}

#[test]
fn a_directory_endline_did_not_write_is_never_replaced() {
    // `run --out .` over raw exports, `ingest --out` into a folder with a stray
    // ingest.json: both deleted user files before.
    let dir = scratch("foreign");
    let out = dir.join("exports");
    write(&out.join("household.csv"), "raw field data");
    write(&out.join("ingest.json"), "{}");
    let m = refused(OutDir::claim(&out, Kind::Ingest, None, &[]));
    assert!(m.contains("holds files endline did not write (household.csv, ingest.json)"), "{m}");
    let m = refused(OutDir::claim(&out, Kind::Study, Some("wash"), &[]));
    assert!(m.contains("did not write"), "{m}");
    assert_eq!(entries(&out), ["household.csv", "ingest.json"]);
    assert_eq!(std::fs::read_to_string(out.join("household.csv")).unwrap_or_default(), "raw field data");
    // A forged marker of another shape is not endline's.
    write(&out.join(MARKER), "{\"kind\": \"ingest\"}");
    refused(OutDir::claim(&out, Kind::Ingest, None, &[]));
    // An empty directory is fine.
    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap_or_else(|e| panic!("{e}"));
    let claim = OutDir::claim(&empty, Kind::Ingest, None, &[]).unwrap_or_else(|e| panic!("{e}"));
    claim.commit().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(entries(&empty), [MARKER]);
}

#[test]
fn a_study_replaces_only_its_own_plans_output() {
    let dir = scratch("study");
    let out = dir.join("wash");
    OutDir::claim(&out, Kind::Study, Some("wash"), &[]).and_then(OutDir::commit).unwrap_or_else(|e| panic!("{e}"));
    let m = refused(OutDir::claim(&out, Kind::Study, Some("other"), &[]));
    assert!(m.contains("holds the output of study `wash`, not `other`"), "{m}");
    OutDir::claim(&out, Kind::Study, Some("wash"), &[]).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn an_input_inside_the_target_is_refused() {
    // `ingest --out DIR` where DIR holds the CSVs being ingested.
    let dir = scratch("input");
    let out = dir.join("wave");
    OutDir::claim(&out, Kind::Ingest, None, &[]).and_then(OutDir::commit).unwrap_or_else(|e| panic!("{e}"));
    let input = out.join("household.csv");
    write(&input, "a,b\n");
    // Named through a different spelling of the same place.
    let spelled = dir.join(".").join("wave").join("..").join("wave").join("household.csv");
    let m = refused(OutDir::claim(&out, Kind::Ingest, None, &[&spelled]));
    assert!(m.contains("an input of this run"), "{m}");
    assert!(input.exists());
}

#[cfg(unix)]
#[test]
fn links_and_files_are_not_replaced() {
    let dir = scratch("links");
    let real = dir.join("real");
    write(&real.join("keep.csv"), "x");
    let link = dir.join("link");
    std::os::unix::fs::symlink(&real, &link).unwrap_or_else(|e| panic!("{e}"));
    let m = refused(OutDir::claim(&link, Kind::Ingest, None, &[]));
    assert!(m.contains("symbolic link"), "{m}");
    let file = dir.join("file");
    write(&file, "x");
    let m = refused(OutDir::claim(&file, Kind::Ingest, None, &[]));
    assert!(m.contains("is not a directory"), "{m}");
    assert!(real.join("keep.csv").exists() && file.exists());
}

#[test]
fn one_writer_at_a_time_and_staging_is_per_process() {
    // Two runs of one plan into one --out used to share `.plan.partial`.
    let dir = scratch("busy");
    let out = dir.join("study");
    let first = OutDir::claim(&out, Kind::Study, Some("p"), &[]).unwrap_or_else(|e| panic!("{e}"));
    match OutDir::claim(&out, Kind::Study, Some("p"), &[]) {
        Err(e @ OutputError::Busy { .. }) => {
            assert!(e.to_string().contains("another endline process is writing"), "{e}")
        }
        other => panic!("expected busy, got {other:?}"),
    }
    assert!(first.staging().file_name().is_some_and(|n| n.to_string_lossy().contains(&std::process::id().to_string())));
    drop(first);
    // Released when dropped; nothing is left behind.
    assert_eq!(entries(&dir), Vec::<String>::new());
    OutDir::claim(&out, Kind::Study, Some("p"), &[]).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn an_error_leaves_nothing_behind_and_the_old_output_whole() {
    let dir = scratch("error");
    let out = dir.join("wave");
    let claim = OutDir::claim(&out, Kind::Ingest, None, &[]).unwrap_or_else(|e| panic!("{e}"));
    write(&claim.staging().join("old.parquet"), "old");
    claim.commit().unwrap_or_else(|e| panic!("{e}"));
    {
        let claim = OutDir::claim(&out, Kind::Ingest, None, &[]).unwrap_or_else(|e| panic!("{e}"));
        write(&claim.staging().join("secret.pii.parquet"), "names");
        // Dropped without commit: an error on the way.
    }
    assert_eq!(entries(&dir), ["wave"]);
    assert_eq!(entries(&out), [MARKER, "old.parquet"]);
}

#[test]
fn a_killed_runs_staging_is_removed_by_the_next_run() {
    let dir = scratch("stale");
    let out = dir.join("wave");
    // What a SIGKILLed process leaves: a staging folder with the marker, its lock gone.
    let stale = dir.join(".wave.staging-999999999");
    write(&stale.join(MARKER), "{\"written_by\":\"endline\",\"kind\":\"ingest\"}\n");
    write(&stale.join("x.pii.parquet"), "names");
    // A folder of the same shape without the marker is not endline's: kept.
    let foreign = dir.join(".wave.staging-user");
    write(&foreign.join("notes.txt"), "mine");
    OutDir::claim(&out, Kind::Ingest, None, &[]).and_then(OutDir::commit).unwrap_or_else(|e| panic!("{e}"));
    assert!(!stale.exists());
    assert!(foreign.join("notes.txt").exists());
}

#[test]
fn cleanup_removes_what_is_being_staged_and_stops_commits() {
    // What the signal handler does; run in a child process, since it is final for the
    // process that calls it.
    if std::env::var_os("ENDLINE_OUTPUT_CLEANUP_CHILD").is_some() {
        let out = PathBuf::from(std::env::var_os("ENDLINE_OUTPUT_CLEANUP_CHILD").unwrap_or_default());
        let claim = OutDir::claim(&out, Kind::Ingest, None, &[]).unwrap_or_else(|e| panic!("{e}"));
        write(&claim.staging().join("half.parquet"), "half");
        endline_output::cleanup();
        assert!(!claim.staging().exists());
        assert!(claim.commit().is_err());
        assert!(!out.exists());
        return;
    }
    let dir = scratch("cleanup");
    let status = std::process::Command::new(std::env::current_exe().unwrap_or_default())
        .args(["cleanup_removes_what_is_being_staged_and_stops_commits", "--exact", "--nocapture"])
        .env("ENDLINE_OUTPUT_CLEANUP_CHILD", dir.join("wave"))
        .status()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(status.success());
    assert_eq!(entries(&dir), Vec::<String>::new());
}

#[cfg(unix)]
#[test]
fn a_file_is_never_written_through_a_link_over_a_device_or_over_an_input() {
    let dir = scratch("file");
    let survey = dir.join("survey.yaml");
    write(&survey, "survey: x");
    // codebook --out naming its own survey.
    let m = write_file(&survey, b"codebook", &[&survey]).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(m.contains("an input of this command"), "{m}");
    assert_eq!(std::fs::read_to_string(&survey).unwrap_or_default(), "survey: x");
    // Through a link to it.
    let link = dir.join("codebook.md");
    std::os::unix::fs::symlink(&survey, &link).unwrap_or_else(|e| panic!("{e}"));
    let m = write_file(&link, b"codebook", &[]).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(m.contains("symbolic link"), "{m}");
    // A device.
    let m = write_file(Path::new("/dev/null"), b"x", &[]).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(m.contains("not a regular file"), "{m}");
    assert_eq!(std::fs::read_to_string(&survey).unwrap_or_default(), "survey: x");
    // A regular file is replaced whole, and nothing is left beside it.
    let out = dir.join("panel.csv");
    write_file(&out, b"a\n1\n", &[&survey]).unwrap_or_else(|e| panic!("{e}"));
    write_file(&out, b"a\n2\n", &[&survey]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(std::fs::read_to_string(&out).unwrap_or_default(), "a\n2\n");
    assert_eq!(entries(&dir), ["codebook.md", "panel.csv", "survey.yaml"]);
}

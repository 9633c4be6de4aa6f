//! endline deletes or replaces only what it wrote (issue #24, the data-loss findings of an
//! adversarial run): each case as it was found, against the real binary.

use std::path::Path;
use std::process::Command;

use crate::{endline, root, scratch};

const SURVEY: &str = "crates/endline-ingest/tests/data/hh.yaml";
const HH: &str = "crates/endline-ingest/tests/data/hh.csv";
const MEMBERS: &str = "crates/endline-ingest/tests/data/hh-members.csv";

fn s(p: &Path) -> String {
    p.display().to_string()
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn copy(from: &str, to: &Path) {
    std::fs::create_dir_all(to.parent().unwrap_or(Path::new("."))).unwrap_or_else(|e| panic!("{e}"));
    std::fs::copy(root().join(from), to).unwrap_or_else(|e| panic!("{from}: {e}"));
}

/// Every entry under `dir`, hidden ones included, as sorted relative paths.
fn tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            out.push(p.strip_prefix(dir).map(|r| r.display().to_string()).unwrap_or_default());
            if p.is_dir() && !p.is_symlink() {
                stack.push(p);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn run_never_replaces_a_folder_it_did_not_write() {
    // `endline run PLAN --out .` where ./<plan id>/ held the raw field exports.
    let dir = scratch("safety-run");
    let exports = dir.join("border_social_workers");
    copy(HH, &exports.join("border_household.csv"));
    let before = tree(&dir);
    let o = endline(&["run", "analysis/border_social_workers.yaml", "--out", &s(&dir)]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("holds files endline did not write (border_household.csv)"), "{}", stderr(&o));
    assert_eq!(tree(&dir), before, "nothing added, nothing removed");
}

#[test]
fn ingest_never_replaces_its_inputs_or_a_foreign_folder() {
    let dir = scratch("safety-ingest");
    // The input's own folder after an earlier ingest there (it holds ingest.json).
    let wave = dir.join("wave");
    let (hh, members) = (wave.join("hh.csv"), wave.join("hh-members.csv"));
    copy(HH, &hh);
    copy(MEMBERS, &members);
    std::fs::write(wave.join("ingest.json"), "{}").unwrap_or_else(|e| panic!("{e}"));
    let before = tree(&dir);
    let o = endline(&["ingest", SURVEY, &s(&hh), &s(&members), "--wave", "1", "--out", &s(&wave)]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("did not write"), "{}", stderr(&o));
    assert_eq!(tree(&dir), before);
    // An earlier ingest that now holds an input of this run (copied in by the user).
    let out = dir.join("out");
    let o = endline(&["ingest", SURVEY, HH, MEMBERS, "--wave", "1", "--out", &s(&out)]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let inside = out.join("hh.csv");
    copy(HH, &inside);
    let o = endline(&["ingest", SURVEY, &s(&inside), MEMBERS, "--wave", "1", "--out", &s(&out)]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("an input of this run"), "{}", stderr(&o));
    assert!(inside.exists());
    // Its own earlier output is replaced, and nothing is left beside it.
    std::fs::remove_file(&inside).unwrap_or_else(|e| panic!("{e}"));
    let o = endline(&["ingest", SURVEY, HH, MEMBERS, "--wave", "2", "--out", &s(&out)]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(tree(&dir).iter().all(|p| !p.starts_with('.') && !p.contains("/.out")), "{:?}", tree(&dir));
}

#[test]
fn simulate_never_overwrites_real_exports() {
    let dir = scratch("safety-simulate");
    let real = dir.join("2019/border_household.csv");
    copy(HH, &real);
    let o = endline(&[
        "simulate",
        "surveys/border_household.yaml",
        "--out",
        &s(&dir),
        "--unit-question",
        "county_id",
        "--units",
        "2",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert_eq!(std::fs::read(&real).ok(), std::fs::read(root().join(HH)).ok());
}

#[cfg(unix)]
#[test]
fn single_file_outputs_never_replace_inputs_links_or_devices() {
    let dir = scratch("safety-files");
    let survey = dir.join("hh.yaml");
    copy(SURVEY, &survey);
    // codebook --out naming the survey itself.
    let o = endline(&["codebook", &s(&survey), "--out", &s(&survey)]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("an input of this command"), "{}", stderr(&o));
    assert_eq!(std::fs::read(&survey).ok(), std::fs::read(root().join(SURVEY)).ok());
    // A link, and a device.
    let link = dir.join("book.md");
    std::os::unix::fs::symlink(&survey, &link).unwrap_or_else(|e| panic!("{e}"));
    let o = endline(&["codebook", &s(&survey), "--out", &s(&link)]);
    assert_eq!(o.status.code(), Some(2));
    assert!(link.is_symlink());
    let o = endline(&["codebook", &s(&survey), "--out", "/dev/null"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    // panel --out naming an ingested table it reads.
    let wave = dir.join("wave");
    let o = endline(&["ingest", SURVEY, HH, MEMBERS, "--wave", "1", "--out", &s(&wave)]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let table = wave.join("hh.parquet");
    let before = std::fs::read(&table).ok();
    let o = endline(&["panel", &s(&wave), "--table", "hh", "--out", &s(&table)]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert_eq!(std::fs::read(&table).ok(), before);
}

#[test]
fn a_join_on_a_key_that_is_not_unique_is_refused() {
    let dir = scratch("safety-join");
    let wave = dir.join("wave");
    let o = endline(&["ingest", SURVEY, HH, MEMBERS, "--wave", "1", "--out", &s(&wave)]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let join = dir.join("villages.csv");
    std::fs::write(&join, "hh_id,x\nH001,1\nH001,2\nH002,3\n").unwrap_or_else(|e| panic!("{e}"));
    let out = dir.join("panel.csv");
    let o = endline(&["panel", &s(&wave), "--table", "hh", "--join", &s(&join), "--on", "hh_id", "--out", &s(&out)]);
    assert_ne!(o.status.code(), Some(0));
    assert!(stderr(&o).contains("more than one row (H001)"), "{}", stderr(&o));
    assert!(!out.exists());
}

#[cfg(unix)]
#[test]
fn an_interrupted_run_leaves_nothing_behind() {
    // SIGTERM used to leave `.PLAN.partial/` (personal data included) behind.
    let study = crate::run::study("safety-signal", crate::run::SMALL);
    let dir = study.join("out");
    let mut child = Command::new(env!("CARGO_BIN_EXE_endline"))
        .args(["run", "analysis/small.yaml", "--out", "out"])
        .current_dir(&study)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    // Wait until it is writing into its staging folder, then stop it.
    let staged = |d: &Path| tree(d).iter().any(|p| p.contains(".staging-") && p.matches('/').count() >= 1);
    let start = std::time::Instant::now();
    while !staged(&dir) && start.elapsed().as_secs() < 60 {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(staged(&dir), "the run never started writing");
    let killed = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    assert!(killed.is_ok_and(|s| s.success()));
    let status = child.wait().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(status.code(), Some(128 + 15));
    assert_eq!(tree(&dir), Vec::<String>::new(), "nothing left behind");
}

#[test]
fn two_runs_of_one_plan_into_one_folder_do_not_mix() {
    let study = crate::run::study("safety-two", crate::run::SMALL);
    let dir = study.join("out");
    let spawn = || {
        Command::new(env!("CARGO_BIN_EXE_endline"))
            .args(["run", "analysis/small.yaml", "--out", "out"])
            .current_dir(&study)
            .output()
    };
    let (a, b) = std::thread::scope(|sc| {
        let a = sc.spawn(spawn);
        std::thread::sleep(std::time::Duration::from_millis(300));
        let b = sc.spawn(spawn);
        (a.join(), b.join())
    });
    let (a, b) = (a.ok().and_then(Result::ok), b.ok().and_then(Result::ok));
    let codes: Vec<Option<i32>> = [&a, &b].iter().map(|o| o.as_ref().and_then(|o| o.status.code())).collect();
    // One wrote the study; the other stopped, saying why (or ran after it, replacing it
    // whole). Never a study missing files.
    assert!(codes.contains(&Some(0)), "{codes:?}");
    for o in [&a, &b].into_iter().flatten() {
        if o.status.code() != Some(0) {
            assert!(stderr(o).contains("another endline process is writing"), "{}", stderr(o));
        }
    }
    // The manifest lists every file of the study, and only those.
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("small/manifest.json")).unwrap_or_default())
            .unwrap_or_default();
    let mut listed: Vec<String> = manifest["outputs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|o| o["path"].as_str().map(str::to_string))
        .collect();
    listed.push("manifest.json".into());
    listed.sort();
    let small = dir.join("small");
    let files: Vec<String> = tree(&small).into_iter().filter(|p| small.join(p).is_file()).collect();
    assert_eq!(listed, files);
    assert!(tree(&dir).iter().all(|p| p.starts_with("small")), "nothing beside the study: {:?}", tree(&dir));
}

/// Numeric arguments that panicked (exit 101) or ran forever: clear errors (exit 2), and
/// workloads above a documented cap only with --allow-large.
#[test]
fn numeric_arguments_are_checked_not_panics() {
    const MPDTA: &str = "crates/endline-analysis/tests/data/did/mpdta.csv";
    const CASTLE: &str = "crates/endline-analysis/tests/data/reference/b_castle_twfe.csv";
    let did = ["did", MPDTA, "--outcome", "lemp", "--unit", "countyreal", "--time", "year", "--cohort", "first.treat"];
    let max = u64::MAX.to_string();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--se", "bootstrap", "--bootstrap-reps", "0"], "--bootstrap-reps must be at least 1"),
        (vec!["--se", "bootstrap", "--bootstrap-reps", &max], "more than 10000000 draws"),
        (vec!["--se", "bootstrap", "--bootstrap-reps", "200000"], "give --allow-large"),
        (vec!["--anticipation=-5"], "--anticipation"),
        (vec!["--anticipation", "9223372036854775807"], "--anticipation"),
        (vec!["--method", "event", "--max-event", "9223372036854775807"], "--max-event"),
    ];
    for (extra, says) in cases {
        let args: Vec<&str> = did.iter().copied().chain(extra.iter().copied()).collect();
        let o = endline(&args);
        assert_eq!(o.status.code(), Some(2), "{extra:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(says), "{extra:?}: {}", stderr(&o));
    }
    let o = endline(&[
        "estimate",
        CASTLE,
        "-f",
        "l_homicide ~ post | sid + year",
        "--vcov",
        "cluster:sid",
        "--bootstrap",
        &max,
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("more than 10000000 draws"), "{}", stderr(&o));
    let dir = scratch("safety-numbers");
    for (flag, value) in [("--units", max.as_str()), ("--households", "18446744073709551615"), ("--units", "2000000")] {
        let sim = s(&dir.join("sim"));
        let o = endline(&[
            "simulate",
            "surveys/border_household.yaml",
            "--out",
            &sim,
            "--unit-question",
            "county_id",
            flag,
            value,
        ]);
        assert_eq!(o.status.code(), Some(2), "{flag} {value}: {}", stderr(&o));
        assert!(stderr(&o).contains("households a wave") || stderr(&o).contains(flag), "{}", stderr(&o));
    }
    assert!(!dir.join("sim").exists());
}

/// Templates: only the kinds endline escapes, inside the study, without the environment
/// (issue #24: raw `<script>` through a `.txt.tera`, `/etc/passwd` copied into the output,
/// `get_env()`, a `results.json.tera` over results.json).
#[test]
fn templates_are_escaped_kinds_inside_the_study_without_the_environment() {
    let base =
        crate::run::SMALL.replace("report: {templates: [../reports/report.html.tera, ../reports/report.md.tera]}", "");
    let study = crate::run::study("safety-templates", &base);
    let plan = study.join("analysis/small.yaml");
    let with =
        |report: &str| std::fs::write(&plan, format!("{base}report: {report}\n")).unwrap_or_else(|e| panic!("{e}"));
    let validate = || {
        let o = Command::new(env!("CARGO_BIN_EXE_endline"))
            .args(["validate", "--format", "short", "analysis/small.yaml"])
            .current_dir(&study)
            .output()
            .unwrap_or_else(|e| panic!("{e}"));
        (o.status.code(), crate::stdout(&o) + &stderr(&o))
    };
    std::fs::write(study.join("reports/notes.txt.tera"), "{{ plan.title }}").unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(study.join("reports/results.json.tera"), "{}").unwrap_or_else(|e| panic!("{e}"));
    let outside = study.parent().unwrap_or(Path::new("/")).join(format!("outside-{}.html.tera", std::process::id()));
    std::fs::write(&outside, "<p>{{ plan.title }}</p>").unwrap_or_else(|e| panic!("{e}"));
    for (report, says) in [
        ("{templates: [../reports/notes.txt.tera]}", "only HTML (`*.html.tera`) and Markdown (`*.md.tera`) templates"),
        ("{templates: [../reports/results.json.tera]}", "only HTML"),
        ("{templates: [/etc/passwd]}", "only HTML"),
        (&format!("{{templates: [{}]}}", outside.display()), "lies outside the study's folder"),
    ] {
        with(report);
        let (code, said) = validate();
        assert_eq!(code, Some(1), "{report}: {said}");
        assert!(said.contains(says), "{report}: {said}");
    }
    with(&format!("{{templates: [{}], allow_outside: true}}", outside.display()));
    assert_eq!(validate().0, Some(0), "{}", validate().1);
    let _ = std::fs::remove_file(&outside);
    // get_env renders nothing: the run fails and writes no study.
    std::fs::write(study.join("reports/env.html.tera"), "{{ get_env(name=\"HOME\") }}")
        .unwrap_or_else(|e| panic!("{e}"));
    with("{templates: [../reports/env.html.tera]}");
    let o = Command::new(env!("CARGO_BIN_EXE_endline"))
        .args(["run", "analysis/small.yaml", "--out", "out"])
        .current_dir(&study)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("get_env is not available"), "{}", stderr(&o));
    assert!(!study.join("out/small").exists());
}

/// Values reached CSV outputs verbatim (`=cmd|...` in rejects and the codebook), raw HTML
/// passed through the Markdown codebook, and ESC/BEL reached the terminal (issue #24).
#[test]
fn outputs_are_safe_for_spreadsheets_markdown_and_terminals() {
    let dir = scratch("safety-formats");
    let survey = dir.join("s.yaml");
    std::fs::write(
        &survey,
        "survey: s\nversion: \"1\"\nkey: id\nquestions:\n  - {name: id, type: text, label: \"=HYPERLINK(\\\"x\\\") <script>alert(1)</script>\"}\n  - {name: n, type: integer, label: N, constraint: \". < 5\"}\n  - {name: note, type: text, label: Note}\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    // The codebook: CSV neutralised, Markdown without HTML.
    let o = endline(&["codebook", &s(&survey), "--format", "csv"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(crate::stdout(&o).contains("\"'=HYPERLINK"), "{}", crate::stdout(&o));
    let o = endline(&["codebook", &s(&survey), "--format", "md"]);
    assert!(!crate::stdout(&o).contains("<script>") && crate::stdout(&o).contains("&lt;script&gt;"));
    // Rejects: a formula cell is neutralised, a missing code's minus sign is not, and the
    // fixed file ingests back to the very values.
    let data = dir.join("s.csv");
    std::fs::write(&data, "id,n,note\nA0,1,fine\nA1,9,=cmd|' /C calc'!A0\nA2,8,@SUM(1)\nA3,7,-5\n")
        .unwrap_or_else(|e| panic!("{e}"));
    let out = dir.join("wave");
    let o = endline(&["ingest", &s(&survey), &s(&data), "--wave", "1", "--out", &s(&out)]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let rejects = std::fs::read_to_string(out.join("rejects/s.csv")).unwrap_or_default();
    assert!(rejects.contains("A1,9,'=cmd|' /C calc'!A0") && rejects.contains("A2,8,'@SUM(1)"), "{rejects}");
    assert!(rejects.contains("A3,7,-5,"), "a number keeps its sign: {rejects}");
    let fixed = dir.join("fixed.csv");
    let fixed_text = rejects.replace("A1,9,", "A1,1,").replace("A2,8,", "A2,2,").replace("A3,7,", "A3,3,");
    std::fs::write(&fixed, fixed_text).unwrap_or_else(|e| panic!("{e}"));
    let again = dir.join("again");
    let o = endline(&["ingest", &s(&survey), &format!("s={}", s(&fixed)), "--wave", "1", "--out", &s(&again)]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = endline(&["panel", &s(&again), "--table", "s", "--out", &s(&dir.join("p.csv"))]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let panel = std::fs::read_to_string(dir.join("p.csv")).unwrap_or_default();
    // The values came back whole (the panel CSV neutralises them again on the way out).
    assert!(panel.contains("'=cmd|' /C calc'!A0") && panel.contains("'@SUM(1)") && panel.contains(",-5"), "{panel}");
    assert!(!panel.contains("''"), "{panel}");
    // Control characters from a file never reach the terminal raw.
    let bad = dir.join("bad.yaml");
    std::fs::write(
        &bad,
        "survey: s\nversion: \"1\"\nkey: id\nquestions:\n  - {name: \"x\\e[31m\\a\", type: text, label: X}\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let o = endline(&["validate", &s(&bad)]);
    let said = crate::stdout(&o) + &stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{said}");
    assert!(!said.contains('\u{1b}') && !said.contains('\u{7}'), "{said:?}");
    assert!(said.contains("\\u{1b}"), "{said}");
}

/// Numbers that meant nothing, with exit 0 (issue #24): an infinite or absurd outcome,
/// one cluster, every unit treated from the start. Each is an error naming what is wrong.
#[test]
fn nonsense_inputs_are_errors_not_numbers() {
    let dir = scratch("safety-nonsense");
    let panel = |name: &str, rows: &dyn Fn(usize, i64) -> String| {
        let mut text = String::from("u,t,g,y,c\n");
        for u in 1..=6 {
            for t in 2000..=2003 {
                text += &rows(u, t);
            }
        }
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap_or_else(|e| panic!("{e}"));
        s(&p)
    };
    let normal = |u: usize, t: i64| -> (i64, f64) {
        let g = if u <= 3 { 2002 } else { 0 };
        (g, u as f64 + (t - 2000) as f64 * 0.5 + if g > 0 && t >= g { 1.0 } else { 0.0 })
    };
    let did = |data: &str, extra: &[&str]| {
        let mut args = vec!["did", data, "--outcome", "y", "--unit", "u", "--time", "t", "--cohort", "g"];
        args.extend_from_slice(extra);
        endline(&args)
    };
    // Infinite and absurd outcomes: the rows are named.
    for (name, bad) in [("inf.csv", "inf"), ("big.csv", "1e300")] {
        let data = panel(name, &|u, t| {
            let (g, y) = normal(u, t);
            let y = if u == 2 && t == 2001 { bad.to_string() } else { y.to_string() };
            format!("{u},{t},{g},{y},1\n")
        });
        let o = did(&data, &[]);
        assert_eq!(o.status.code(), Some(1), "{name}: {}", stderr(&o));
        assert!(stderr(&o).contains("infinite or beyond ±1e100") && stderr(&o).contains("rows 6"), "{}", stderr(&o));
        let o = endline(&["estimate", &data, "-f", "y ~ g | u + t"]);
        assert_eq!(o.status.code(), Some(1), "{name}: {}", stderr(&o));
    }
    // One cluster: estimate refused it already; did printed SE 1e-16.
    let data = panel("one.csv", &|u, t| {
        let (g, y) = normal(u, t);
        format!("{u},{t},{g},{y},1\n")
    });
    assert_eq!(did(&data, &[]).status.code(), Some(0));
    let o = did(&data, &["--cluster", "c"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("needs at least two clusters, but the panel has 1"), "{}", stderr(&o));
    // Every unit treated from the first period: no comparison, for every method.
    let data = panel("all.csv", &|u, t| format!("{u},{t},2000,{},{u}\n", u as f64 + t as f64)).to_string();
    for method in ["cs", "twfe", "event", "sa", "bacon"] {
        let o = did(&data, &["--method", method]);
        assert_eq!(o.status.code(), Some(1), "{method}: {}", stderr(&o));
        assert!(stderr(&o).contains("no comparison"), "{method}: {}", stderr(&o));
    }
}

/// A file that never ends its line (a link to /dev/zero) grew until the process was
/// killed (issue #24): a record longer than 64 MiB is refused at its row.
#[cfg(unix)]
#[test]
fn a_record_without_end_is_refused_not_read_forever() {
    let dir = scratch("safety-zero");
    let link = dir.join("hh.csv");
    std::os::unix::fs::symlink("/dev/zero", &link).unwrap_or_else(|e| panic!("{e}"));
    let o = endline(&["ingest", SURVEY, &format!("hh={}", s(&link)), "--wave", "1", "--out", &s(&dir.join("out"))]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("longer than 64 MiB"), "{}", stderr(&o));
    assert!(!dir.join("out").exists());
}

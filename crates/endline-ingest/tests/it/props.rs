//! Ingest never panics: arbitrary bytes as a CSV, JSON Lines or JSON file, and
//! arbitrary cell values in a well-formed export, give records or clear errors. And
//! batches, however the export is ordered and however large, give what one batch gives.

use proptest::prelude::*;

use endline_ingest::ingest::{Input, Options, ingest};
use endline_ingest::read;

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn readers_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        if let Ok(text) = read::decode("x", &bytes, None) {
            let _ = read::parse_csv("x.csv", &text);
            let _ = read::parse_jsonl("x.jsonl", &text);
            let _ = read::parse_json_array("x.json", &text);
        }
        let _ = read::decode("x", &bytes, Some("gb18030"));
    }

    #[test]
    fn arbitrary_cells_are_records_or_issues(cells in prop::collection::vec(prop::collection::vec("[ -~]{0,12}", 5), 1..12)) {
        let survey = crate::survey();
        let dir = crate::scratch_dir("props");
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        let path = dir.join("hh.csv");
        let mut text = String::from("hh_id,info-size,info-coop,info-dividend,KEY\n");
        for row in &cells {
            let quoted: Vec<String> = row.iter().map(|c| format!("\"{}\"", c.replace('"', "\"\""))).collect();
            text.push_str(&quoted.join(","));
            text.push('\n');
        }
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("{e}"));
        let d = ingest(&survey, &[Input { table: Some("hh".into()), path, display: "hh.csv".into() }], &Options { wave: "1".into(), ..Options::default() });
        let d = d.unwrap_or_else(|e| panic!("well-formed CSV must ingest: {e}"));
        let counts = d.counts();
        for (_, c) in &counts {
            prop_assert_eq!(c.rows_in, c.rows_written + c.rows_rejected);
        }
        prop_assert_eq!(counts[0].1.rows_in, cells.len(), "every record of the file is counted");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn batches_give_what_one_batch_gives(copies in 2usize..12, parts in 2u64..10, order in 0u8..3, seed in any::<u64>(), reuse in any::<bool>()) {
        let survey = crate::survey();
        let dir = crate::scratch_dir("props-batches");
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        let order = match order {
            0 => crate::Order::Parents,
            1 => crate::Order::Reversed,
            _ => crate::Order::Shuffled(seed),
        };
        let inputs = crate::fixture_copies(&dir, "copies", copies, reuse, order);
        crate::assert_batches_match(&survey, &inputs, parts, "props-batches", None);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

fn fuzz_config() -> ProptestConfig {
    let cases = std::env::var("ENDLINE_FUZZ_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(32);
    ProptestConfig { cases, ..ProptestConfig::default() }
}

/// CSV-like text: quoted and plain cells, commas, quotes, CR/LF in and out of quotes, a
/// BOM, multibyte text.
fn csv_like() -> impl Strategy<Value = String> {
    let piece = prop::sample::select(vec![
        "a", "1", "-99", ",", ",", "\"", "\"\"", "\n", "\r\n", "\r", " ", "边", "é", "\u{feff}", "=x", "'", "\t",
    ]);
    prop::collection::vec(piece, 0..20_000).prop_map(|p| p.concat())
}

/// JSON-like text: arrays and objects of any depth, strings with escapes, numbers.
fn json_like() -> impl Strategy<Value = String> {
    let piece = prop::sample::select(vec![
        "[",
        "]",
        "{",
        "}",
        ",",
        ":",
        "\"k\"",
        "\"v\\n\\u00e9\"",
        "1",
        "-1.5e300",
        "null",
        "true",
        "\n",
        " ",
    ]);
    prop::collection::vec(piece, 0..20_000).prop_map(|p| p.concat())
}

proptest! {
    #![proptest_config(fuzz_config())]

    /// Large CSV through the streaming reader ingest uses on files, and the in-memory one.
    #[test]
    fn large_csv_is_records_or_a_clear_error(text in csv_like()) {
        let dir = crate::scratch_dir("fuzz-csv");
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        let path = dir.join("x.csv");
        std::fs::write(&path, &text).unwrap_or_else(|e| panic!("{e}"));
        if let Ok(mut records) = read::open(&path, "x.csv", None) {
            let mut rec = read::RawRecord::default();
            while let Ok(true) = records.next_into(&mut rec) {}
        }
        let _ = read::parse_csv("x.csv", &text);
    }

    /// Large and deeply nested JSON, as JSON Lines and as an array.
    #[test]
    fn large_json_is_records_or_a_clear_error(text in json_like(), depth in 0usize..5000) {
        let _ = read::parse_jsonl("x.jsonl", &text);
        let _ = read::parse_json_array("x.json", &text);
        let deep = format!("[{}{}]", "[".repeat(depth), "]".repeat(depth));
        let _ = read::parse_json_array("x.json", &deep);
        let _ = read::parse_jsonl("x.jsonl", &deep);
    }
}

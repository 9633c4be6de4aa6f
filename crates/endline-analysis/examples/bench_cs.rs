//! Benchmark driver for Callaway & Sant'Anna with not-yet-treated controls (bench/did.sh
//! runs it beside csdid and diff-diff).
//!
//! `bench_cs write COUNTIES PERIODS HOUSEHOLDS_PER_COUNTY PATH` writes a staggered panel
//! as Parquet: with 1 household per county the unit is the county; with more, the unit is
//! the household and the county (the treatment's level) is its cluster.
//! `bench_cs fit PATH [REPEATS]` times the estimation alone, one JSON line per repeat.

use std::time::Instant;

use endline_analysis::Rng;
use endline_analysis::did::cs::{self, Control, CsOptions};
use endline_analysis::did::panel::{self, PanelSpec};
use polars::prelude::*;

fn write(counties: usize, periods: usize, per_county: usize, path: &str) -> PolarsResult<()> {
    let mut rng = Rng::new(7);
    let first = 2001i64;
    let (mut unit, mut county, mut year, mut cohort, mut y) = (vec![], vec![], vec![], vec![], vec![]);
    for c in 0..counties {
        // A third never treated; the rest adopt between the 4th and the last period.
        let g = if rng.uniform() < 0.33 { 0 } else { first + 3 + rng.below(periods as u64 - 3) as i64 };
        let county_effect = rng.normal();
        for h in 0..per_county {
            let id = (c * per_county + h) as i64;
            let unit_effect = county_effect + rng.normal();
            for t in 0..periods as i64 {
                let yr = first + t;
                let effect = if g > 0 && yr >= g { 0.5 + 0.1 * (yr - g) as f64 } else { 0.0 };
                unit.push(id);
                county.push(c as i64);
                year.push(yr);
                cohort.push(g);
                y.push(unit_effect + 0.2 * t as f64 + effect + rng.normal());
            }
        }
    }
    let mut df = df!("unit" => unit, "county" => county, "year" => year, "cohort" => cohort, "y" => y)?;
    let file = std::fs::File::create(path).map_err(|e| PolarsError::ComputeError(e.to_string().into()))?;
    ParquetWriter::new(file).finish(&mut df)?;
    Ok(())
}

fn fit(path: &str, repeats: usize) -> Result<(), Box<dyn std::error::Error>> {
    let df = ParquetReader::new(std::fs::File::open(path)?).finish()?;
    let clustered = {
        let u = df.column("unit")?.as_materialized_series().n_unique()?;
        let c = df.column("county")?.as_materialized_series().n_unique()?;
        u != c
    };
    let spec = PanelSpec {
        outcome: "y".into(),
        unit: "unit".into(),
        time: "year".into(),
        cohort: "cohort".into(),
        cluster: clustered.then(|| "county".to_string()),
        ..PanelSpec::default()
    };
    for _ in 0..repeats {
        let t = Instant::now();
        let p = panel::build(&df, &spec)?;
        let r = cs::estimate(&p, &CsOptions { control: Control::Notyet, ..CsOptions::default() })?;
        println!(
            "{{\"tool\": \"endline\", \"rows\": {}, \"units\": {}, \"cells\": {}, \"fit_s\": {:.3}, \"simple_att\": {:.10}, \"simple_se\": {:.10}}}",
            df.height(),
            r.n_units,
            r.att_gt.len(),
            t.elapsed().as_secs_f64(),
            r.simple.att,
            r.simple.std_error
        );
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["write", c, t, h, path] => write(c.parse()?, t.parse()?, h.parse()?, path)?,
        ["fit", path] => fit(path, 3)?,
        ["fit", path, n] => fit(path, n.parse()?)?,
        _ => {
            return Err(
                "usage: bench_cs write COUNTIES PERIODS HOUSEHOLDS_PER_COUNTY PATH | bench_cs fit PATH [REPEATS]"
                    .into(),
            );
        }
    }
    Ok(())
}

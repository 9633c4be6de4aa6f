//! Benchmark driver for design-based standard errors (issue #21; bench/design.sh runs it).
//!
//! `bench_design write HOUSEHOLDS PATH` writes a synthetic two-stage household sample as
//! Parquet: 20 strata, 100 villages (PSUs) per stratum drawn from 400 (the FPC), households
//! within villages, weights from the selection probabilities, and `y = 1 + 0.5 x + 0.3 z +
//! village effect + e`. `bench_design fit PATH [REPEATS]` reads it and times, per repeat,
//! the unweighted fit `y ~ x + z` (iid) and the design-based fit (weights, strata, PSUs,
//! FPC; the design built from its columns included), printing one JSON line each.

use std::time::Instant;

use endline_analysis::sampling::{DesignSpec, LonelyPsu};
use endline_analysis::{FeolsSpec, Rng, Vcov};
use polars::prelude::*;

fn write(households: usize, path: &str) -> PolarsResult<()> {
    let (strata, villages_per_stratum) = (20usize, 100usize);
    let psus = strata * villages_per_stratum;
    let mut rng = Rng::new(20_261_204);
    let village_effect: Vec<f64> = (0..psus).map(|_| 0.5 * rng.normal()).collect();
    let (mut stratum, mut village) = (Vec::with_capacity(households), Vec::with_capacity(households));
    let mut num: [Vec<f64>; 5] = Default::default();
    for h in 0..households {
        let v = h % psus;
        let s = v / villages_per_stratum;
        let x = rng.normal() + 0.2 * village_effect[v];
        let z = rng.uniform();
        let y = 1.0 + 0.5 * x + 0.3 * z + village_effect[v] + rng.normal();
        stratum.push(s as i64);
        village.push(v as i64);
        // Villages drawn 100 of 400 per stratum, households 1 in 20 within them.
        let weight = 4.0 * 20.0 * (1.0 + 0.2 * (v % 5) as f64);
        for (col, value) in num.iter_mut().zip([400.0, weight, x, z, y]) {
            col.push(value);
        }
    }
    let [fpc, weight, x, z, y] = num;
    let mut df = df!(
        "stratum" => stratum, "village" => village, "fpc" => fpc, "weight" => weight,
        "x" => x, "z" => z, "y" => y
    )?;
    let file = std::fs::File::create(path).map_err(|e| PolarsError::ComputeError(e.to_string().into()))?;
    ParquetWriter::new(file).finish(&mut df)?;
    Ok(())
}

fn fit(path: &str, repeats: usize) -> Result<(), Box<dyn std::error::Error>> {
    let df = ParquetReader::new(std::fs::File::open(path)?).finish()?;
    let plain = FeolsSpec::new("y ~ x + z")?.vcov(Vcov::Iid);
    let spec = DesignSpec {
        strata: Some("stratum".into()),
        psu: Some("village".into()),
        fpc: vec!["fpc".into()],
        lonely: LonelyPsu::Fail,
        ..DesignSpec::default()
    };
    for _ in 0..repeats {
        let t = Instant::now();
        let f = plain.fit(&df)?;
        let plain_s = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let weighted = FeolsSpec::new("y ~ x + z")?.weights(Some("weight")).fit(&df)?;
        let weighted_s = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let design = spec.build(&df, Some("weight"))?;
        let build_s = t.elapsed().as_secs_f64();
        let t_fit = Instant::now();
        let g =
            FeolsSpec::new("y ~ x + z")?.weights(Some("weight")).survey(Some(std::sync::Arc::new(design))).fit(&df)?;
        let fit_only_s = t_fit.elapsed().as_secs_f64();
        let design_s = t.elapsed().as_secs_f64();
        println!(
            "{{\"rows\": {}, \"plain_fit_s\": {plain_s:.3}, \"weighted_fit_s\": {weighted_s:.3}, \"design_build_s\": {build_s:.3}, \"design_fit_s\": {fit_only_s:.3}, \"design_total_s\": {design_s:.3}, \"ratio\": {:.2}, \"fit_ratio\": {:.2}, \"x_se_plain\": {:.6}, \"x_se_weighted_iid\": {:.6}, \"x_se_design\": {:.6}}}",
            f.n_obs,
            design_s / plain_s,
            fit_only_s / plain_s,
            f.coefficients[1].std_error,
            weighted.coefficients[1].std_error,
            g.coefficients[1].std_error
        );
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["write", n, path] => write(n.parse()?, path)?,
        ["fit", path] => fit(path, 3)?,
        ["fit", path, n] => fit(path, n.parse()?)?,
        _ => return Err("usage: bench_design write HOUSEHOLDS PATH | bench_design fit PATH [REPEATS]".into()),
    }
    Ok(())
}

//! Benchmark driver for `y ~ x | unit + year` with CR1 by county (bench/feols.sh runs it
//! side by side with pyfixest).
//!
//! `bench_feols write ROWS PATH` writes a synthetic household panel (about 2,000 counties,
//! 10 years, unbalanced: 5% of household-years missing) as Parquet;
//! `bench_feols fit PATH [REPEATS]` reads it and times the estimation alone, printing one
//! JSON line per repeat. Peak memory is measured from outside (`/usr/bin/time -v`).

use std::time::Instant;

use endline_analysis::{FeolsSpec, Rng, Vcov};
use polars::prelude::*;

fn write(rows: usize, path: &str) -> PolarsResult<()> {
    let years = 10usize;
    let counties = 2000usize;
    let households = rows.div_ceil(years) * 100 / 95;
    let mut rng = Rng::new(20_251_128);
    let county_effect: Vec<f64> = (0..counties).map(|_| rng.normal()).collect();
    let year_effect: Vec<f64> = (0..years).map(|t| 0.1 * t as f64).collect();
    let (mut unit, mut year, mut county, mut x, mut y) = (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    'outer: for h in 0..households {
        let c = (h * 7919) % counties;
        let hh_effect = rng.normal() + county_effect[c];
        for (t, ye) in year_effect.iter().enumerate() {
            if rng.uniform() < 0.05 {
                continue;
            }
            let xi = 0.5 * hh_effect + rng.normal();
            let yi = 0.5 * xi + hh_effect + ye + 0.3 * county_effect[c] * t as f64 / 10.0 + rng.normal();
            unit.push(h as i64);
            year.push(2015 + t as i64);
            county.push(c as i64);
            x.push(xi);
            y.push(yi);
            if y.len() == rows {
                break 'outer;
            }
        }
    }
    let mut df = df!("unit" => unit, "year" => year, "county" => county, "x" => x, "y" => y)?;
    let file = std::fs::File::create(path).map_err(|e| PolarsError::ComputeError(e.to_string().into()))?;
    ParquetWriter::new(file).finish(&mut df)?;
    Ok(())
}

fn fit(path: &str, repeats: usize) -> Result<(), Box<dyn std::error::Error>> {
    let t0 = Instant::now();
    let file = std::fs::File::open(path)?;
    let df = ParquetReader::new(file).finish()?;
    let read_s = t0.elapsed().as_secs_f64();
    let spec = FeolsSpec::new("y ~ x | unit + year")?.vcov(Vcov::Cluster(vec!["county".into()]));
    for _ in 0..repeats {
        let t = Instant::now();
        let f = spec.fit(&df)?;
        let c = &f.coefficients[0];
        println!(
            "{{\"tool\": \"endline\", \"rows\": {}, \"read_s\": {read_s:.3}, \"fit_s\": {:.3}, \"estimate\": {:.10}, \"se\": {:.10}, \"iterations\": {}}}",
            f.n_obs,
            t.elapsed().as_secs_f64(),
            c.estimate,
            c.std_error,
            f.demean_iterations
        );
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["write", rows, path] => write(rows.parse()?, path)?,
        ["fit", path] => fit(path, 3)?,
        ["fit", path, n] => fit(path, n.parse()?)?,
        _ => return Err("usage: bench_feols write ROWS PATH | bench_feols fit PATH [REPEATS]".into()),
    }
    Ok(())
}

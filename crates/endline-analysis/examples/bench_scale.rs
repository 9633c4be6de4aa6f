//! Writes the register-scale panel of bench/scale.sh (issue #23): HOUSEHOLDS households ×
//! YEARS years (2011 on), in 5,000 counties; the programme reaches a county's households
//! together (a third of counties never; the rest from the fourth year on, staggered), so
//! `first_treat` is constant within a county; income has household and year effects and
//! a treatment effect growing with exposure. Sorted by household then year, as registers
//! export; row groups of 1,000,000 rows; deterministic (one seed), written in batches so
//! that 1e9 rows need no more memory than 1e6.
//!
//! `bench_scale HOUSEHOLDS YEARS PATH`

use endline_analysis::Rng;
use polars::prelude::*;

const COUNTIES: usize = 5_000;
const BATCH_HOUSEHOLDS: usize = 100_000;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [households, years, path] = args.as_slice() else {
        return Err("usage: bench_scale HOUSEHOLDS YEARS PATH".into());
    };
    let (households, years): (usize, usize) = (households.parse()?, years.parse()?);
    let first_year = 2011i64;
    let mut rng = Rng::new(23);
    let cohort: Vec<i64> = (0..COUNTIES)
        .map(|_| if rng.uniform() < 0.33 { 0 } else { first_year + 3 + rng.below(years as u64 - 3) as i64 })
        .collect();
    let county_effect: Vec<f64> = (0..COUNTIES).map(|_| rng.normal() * 2_000.0).collect();
    let year_effect: Vec<f64> = (0..years).map(|t| 300.0 * t as f64 + rng.normal() * 200.0).collect();
    let tmp = format!("{path}.tmp");
    let file = std::fs::File::create(&tmp)?;
    let schema = Schema::from_iter([
        Field::new("household_id".into(), DataType::Int64),
        Field::new("county_id".into(), DataType::Int64),
        Field::new("year".into(), DataType::Int64),
        Field::new("first_treat".into(), DataType::Int64),
        Field::new("treat_post".into(), DataType::Float64),
        Field::new("income".into(), DataType::Float64),
    ]);
    let mut writer = ParquetWriter::new(file).with_row_group_size(Some(1_000_000)).batched(&schema)?;
    for start in (0..households).step_by(BATCH_HOUSEHOLDS) {
        let end = (start + BATCH_HOUSEHOLDS).min(households);
        let n = (end - start) * years;
        let (mut hh, mut county, mut year, mut first, mut treat, mut income) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        for h in start..end {
            let c = h % COUNTIES;
            let g = cohort[c];
            let base = 20_000.0 + county_effect[c] + rng.normal() * 5_000.0;
            for (t, ye) in year_effect.iter().enumerate() {
                let y = first_year + t as i64;
                let d = g > 0 && y >= g;
                hh.push(h as i64);
                county.push(c as i64);
                year.push(y);
                first.push(g);
                treat.push(f64::from(u8::from(d)));
                let effect = if d { 800.0 + 150.0 * (y - g) as f64 } else { 0.0 };
                income.push(base + ye + effect + rng.normal() * 1_500.0);
            }
        }
        let df = df!(
            "household_id" => hh, "county_id" => county, "year" => year,
            "first_treat" => first, "treat_post" => treat, "income" => income
        )?;
        writer.write_batch(&df)?;
    }
    writer.finish()?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

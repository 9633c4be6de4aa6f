//! A sample design: strata, primary and secondary sampling units, finite-population
//! corrections and weights, or replicate weights; and the variance of an estimated total
//! under it (Taylor linearisation, as R's survey package computes it in `svyrecvar`, or
//! the replicates' spread, as `svrVar`).

use std::collections::HashMap;

use serde::Serialize;

/// What a stratum with a single PSU contributes to the variance: R's
/// `options(survey.lonely.psu = ...)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LonelyPsu {
    /// An error naming the stratum (R's default).
    #[default]
    Fail,
    /// Nothing.
    Remove,
    /// Nothing: the PSU was sampled with certainty.
    Certainty,
    /// Its PSU total's deviation from the grand mean of all PSU totals (Stata's
    /// `singleunit(centered)`; R's survey ≥ 4.4).
    Adjust,
    /// The average of the other strata's contributions.
    Average,
}

impl std::str::FromStr for LonelyPsu {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "fail" => LonelyPsu::Fail,
            "remove" => LonelyPsu::Remove,
            "certainty" => LonelyPsu::Certainty,
            "adjust" => LonelyPsu::Adjust,
            "average" => LonelyPsu::Average,
            other => return Err(format!("`{other}`: one of fail, remove, certainty, adjust, average")),
        })
    }
}

/// Replicate-weight methods, with R's `svrepdesign` scales.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RepType {
    /// Delete-one jackknife: scale (R−1)/R.
    Jk1,
    /// Stratified jackknife: scale 1, rscales (n_h−1)/n_h given.
    Jkn,
    /// Balanced repeated replication: scale 1/R.
    Brr,
    /// Fay's BRR with its ρ: scale 1/(R (1−ρ)²).
    Fay(f64),
    /// Bootstrap: scale 1/(R−1).
    Bootstrap,
}

/// Replicate weights: one column per replicate, each holding the full weight (R's
/// `combined.weights = TRUE`).
#[derive(Debug, Clone)]
pub struct Replicates {
    /// The replicate weights, replicate by replicate.
    pub weights: Vec<Vec<f64>>,
    /// The method.
    pub kind: RepType,
    /// The overall scale (None: the method's).
    pub scale: Option<f64>,
    /// Per-replicate scales (None: 1 each; required for JKn).
    pub rscales: Option<Vec<f64>>,
    /// Centre the replicates at the full-sample estimate instead of their mean.
    pub mse: bool,
}

/// One stage of a multistage design: for each row, its stratum and its cluster (ids from
/// 0, clusters nested in strata), and per stratum the number of clusters sampled and, with
/// a finite-population correction, the number in the population.
#[derive(Debug, Clone)]
struct Stage {
    stratum: Vec<usize>,
    cluster: Vec<usize>,
    stratum_names: Vec<String>,
    sampled: Vec<f64>,
    population: Option<Vec<f64>>,
    /// For each cluster, its stratum.
    cluster_stratum: Vec<usize>,
}

/// A sample design over the rows of a table.
#[derive(Debug, Clone)]
pub struct Design {
    /// Each row's sampling weight.
    pub weights: Vec<f64>,
    stages: Vec<Stage>,
    /// What a stratum with one PSU contributes.
    pub lonely: LonelyPsu,
    /// Replicate weights, when the variance comes from them.
    pub replicates: Option<Replicates>,
}

/// What declares a design, column by column (each `Some` is one value per row).
#[derive(Debug, Clone, Default)]
pub struct DesignColumns {
    /// Sampling weights (None: from the FPCs, else 1).
    pub weights: Option<Vec<f64>>,
    /// Strata of the first stage.
    pub strata: Option<Factor>,
    /// Primary sampling units (None: every row is its own); codes are read within strata.
    pub psu: Option<Factor>,
    /// Secondary sampling units, within PSUs.
    pub ssu: Option<Factor>,
    /// Finite-population corrections per stage: population counts (PSUs in the stratum,
    /// SSUs in the PSU) or, when every value is at most 1, sampling fractions.
    pub fpc: Vec<Vec<f64>>,
}

/// A categorical column: each row's code (0..levels) and each code's label.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Factor {
    /// Each row's code.
    pub codes: Vec<usize>,
    /// Each code's label.
    pub labels: Vec<String>,
}

impl From<crate::data::FactorColumn> for Factor {
    /// A factor read by [`crate::data::factor`]: its codes, and its levels as text.
    fn from(f: crate::data::FactorColumn) -> Factor {
        Factor {
            codes: f.codes.into_iter().map(|c| c as usize).collect(),
            labels: f.levels.iter().map(ToString::to_string).collect(),
        }
    }
}

/// Dense ids of the pairs (outer, inner): a code within another (both codes from 0).
fn nested(outer: &[usize], inner: &[usize]) -> Vec<usize> {
    let (no, ni) = (outer.iter().max().map_or(0, |m| m + 1), inner.iter().max().map_or(0, |m| m + 1));
    let mut next = 0;
    if no.saturating_mul(ni) <= 4 * outer.len() + 1024 {
        let mut slot = vec![usize::MAX; no * ni];
        return outer
            .iter()
            .zip(inner)
            .map(|(o, i)| {
                let at = &mut slot[o * ni + i];
                if *at == usize::MAX {
                    *at = next;
                    next += 1;
                }
                *at
            })
            .collect();
    }
    let mut index: HashMap<(usize, usize), usize> = HashMap::new();
    outer
        .iter()
        .zip(inner)
        .map(|(o, i)| {
            let n = index.len();
            *index.entry((*o, *i)).or_insert(n)
        })
        .collect()
}

impl Stage {
    fn new(stratum: Vec<usize>, stratum_names: Vec<String>, cluster: Vec<usize>, what: &str) -> Result<Stage, String> {
        let clusters = cluster.iter().max().map_or(0, |m| m + 1);
        let mut cluster_stratum = vec![usize::MAX; clusters];
        let mut sampled = vec![0.0; stratum_names.len()];
        for (&c, &h) in cluster.iter().zip(&stratum) {
            if cluster_stratum[c] == usize::MAX {
                cluster_stratum[c] = h;
                sampled[h] += 1.0;
            } else if cluster_stratum[c] != h {
                return Err(format!(
                    "a {what} lies in two strata (`{}` and `{}`): sampling units must be nested in strata; give each \
                     stratum's units their own codes",
                    stratum_names[cluster_stratum[c]], stratum_names[h]
                ));
            }
        }
        Ok(Stage { stratum, cluster, stratum_names, sampled, population: None, cluster_stratum })
    }

    /// Takes the stage's finite-population correction: one value per stratum, a count,
    /// or a fraction when `fractions`.
    fn with_fpc(mut self, fpc: &[f64], fractions: bool, what: &str) -> Result<Stage, String> {
        let mut pop = vec![f64::NAN; self.sampled.len()];
        for (r, (&h, &f)) in self.stratum.iter().zip(fpc).enumerate() {
            if !f.is_finite() || f <= 0.0 {
                return Err(format!("row {}: the {what} FPC must be a positive number, not {f}", r + 1));
            }
            let n = if fractions { self.sampled[h] / f } else { f };
            if pop[h].is_nan() {
                pop[h] = n;
            } else if (pop[h] - n).abs() > 1e-9 * n.abs() {
                return Err(format!(
                    "row {}: the {what} FPC differs within stratum `{}` ({} and {n}): it must be one value per stratum",
                    r + 1,
                    self.stratum_names[h],
                    pop[h]
                ));
            }
        }
        for (h, (&n, &big_n)) in self.sampled.iter().zip(&pop).enumerate() {
            if big_n + 1e-9 < n {
                return Err(format!(
                    "stratum `{}`: the {what} FPC gives a population of {big_n}, fewer than the {n} units sampled",
                    self.stratum_names[h]
                ));
            }
        }
        self.population = Some(pop);
        Ok(self)
    }
}

impl Design {
    /// A design from its columns, over `rows` rows. Refused with a message: units not
    /// nested in strata, an FPC that varies within a stratum or is smaller than the
    /// sample, a weight that is not a positive number.
    pub fn new(rows: usize, cols: DesignColumns, lonely: LonelyPsu) -> Result<Design, String> {
        let (stratum, stratum_names) = match cols.strata {
            Some(f) => (f.codes, f.labels),
            None => (vec![0; rows], vec!["(all)".to_string()]),
        };
        // A PSU code names a unit within its stratum, an SSU code one within its PSU.
        let psu = match &cols.psu {
            Some(p) => nested(&stratum, &p.codes),
            None => (0..rows).collect(),
        };
        let psu_names = |psu: &[usize]| -> Vec<String> {
            let n = psu.iter().max().map_or(0, |m| m + 1);
            let mut names = vec![String::new(); n];
            for (r, &c) in psu.iter().enumerate() {
                if names[c].is_empty() {
                    let code = cols.psu.as_ref().map_or_else(|| (r + 1).to_string(), |p| p.labels[p.codes[r]].clone());
                    names[c] = format!("{code} (stratum {})", stratum_names[stratum[r]]);
                }
            }
            names
        };
        let second = match &cols.ssu {
            Some(s) => Some(Stage::new(psu.clone(), psu_names(&psu), nested(&psu, &s.codes), "SSU")?),
            None => None,
        };
        let mut stages = vec![Stage::new(stratum, stratum_names, psu, "PSU")?];
        stages.extend(second);
        if cols.fpc.len() > stages.len() {
            return Err(format!(
                "{} FPC columns for a design of {} stage(s): give one per stage (--ssu declares the second)",
                cols.fpc.len(),
                stages.len()
            ));
        }
        let fractions = cols.fpc.iter().all(|f| f.iter().all(|&v| v <= 1.0));
        let names = ["first-stage", "second-stage"];
        let mut fpc_stages = Vec::new();
        for (k, (stage, fpc)) in
            stages.into_iter().zip(cols.fpc.iter().map(Some).chain(std::iter::repeat(None))).enumerate()
        {
            fpc_stages.push(match fpc {
                Some(f) => stage.with_fpc(f, fractions, names[k.min(1)])?,
                None => stage,
            });
        }
        let weights = match cols.weights {
            Some(w) => {
                if let Some((r, v)) = w.iter().enumerate().find(|(_, v)| !v.is_finite() || **v < 0.0) {
                    return Err(format!("row {}: a weight must be a number of at least 0, not {v}", r + 1));
                }
                w
            }
            None => (0..rows)
                .map(|r| {
                    fpc_stages
                        .iter()
                        .filter_map(|s| s.population.as_ref().map(|p| p[s.stratum[r]] / s.sampled[s.stratum[r]]))
                        .product()
                })
                .collect(),
        };
        Ok(Design { weights, stages: fpc_stages, lonely, replicates: None })
    }

    /// Degrees of freedom: PSUs minus strata (R's `degf`); for replicate weights, the
    /// rank of the replicate weights minus one.
    pub fn degrees_of_freedom(&self) -> f64 {
        if let Some(r) = &self.replicates {
            return (rank(&r.weights) as f64 - 1.0).max(1.0);
        }
        let s = &self.stages[0];
        (s.cluster_stratum.len() as f64 - s.sampled.len() as f64).max(1.0)
    }

    /// Strata and PSUs of the first stage, for the report.
    pub fn counts(&self) -> (usize, usize) {
        (self.stages[0].sampled.len(), self.stages[0].cluster_stratum.len())
    }

    /// The covariance matrix of the totals of several influence vectors over the rows
    /// where `present` is true (rows outside a domain count as absent, as R's subset
    /// designs do): each stage's cluster totals, centred within strata, scaled by
    /// n/(n−1) and the FPC (R's `svyrecvar`, for all the vectors at once).
    pub fn covariance<Z: AsRef<[f64]>>(&self, zs: &[Z], present: &[bool]) -> Result<Vec<Vec<f64>>, String> {
        let v = Values { zs: zs.iter().map(AsRef::as_ref).collect(), row: None };
        let positions: Vec<usize> = (0..present.len()).filter(|&r| present[r]).collect();
        self.matrix(&v, &positions)
    }

    /// [`Design::covariance`] of vectors over a subset of the table's rows, given row by
    /// row: `zs[j][p]` belongs to row `rows[p]` (an estimation sample's rows), so that no
    /// vector as long as the table is made.
    pub fn covariance_at<Z: AsRef<[f64]>>(&self, zs: &[Z], rows: &[usize]) -> Result<Vec<Vec<f64>>, String> {
        let v = Values { zs: zs.iter().map(AsRef::as_ref).collect(), row: Some(rows) };
        let positions: Vec<usize> = (0..rows.len()).collect();
        self.matrix(&v, &positions)
    }

    fn matrix(&self, v: &Values<'_>, positions: &[usize]) -> Result<Vec<Vec<f64>>, String> {
        let m = self.multistage(0, v, positions)?;
        let k = v.zs.len();
        Ok((0..k).map(|a| (0..k).map(|b| m[a * k + b]).collect()).collect())
    }

    /// The linearisation variance of the total of `z` over the rows where `present` is
    /// true (an estimator's weighted influence values).
    pub fn variance(&self, z: &[f64], present: &[bool]) -> Result<f64, String> {
        Ok(self.covariance(&[z], present)?[0][0])
    }

    /// The variance matrix (k×k, row-major) from stage `s` down, over `rows`.
    fn multistage(&self, s: usize, zs: &Values<'_>, rows: &[usize]) -> Result<Vec<f64>, String> {
        let stage = &self.stages[s];
        let totals = cluster_totals(stage, zs, rows);
        let mut v = self.onestage(stage, s, zs.zs.len(), &totals, rows, &zs.zs)?;
        // The next stage adds its variance within each cluster, scaled by this stage's
        // sampling fraction, when both stages have their population counts.
        if let (Some(next), Some(pop)) = (self.stages.get(s + 1), &stage.population)
            && next.population.is_some()
        {
            let mut order = rows.to_vec();
            order.sort_by_key(|&r| stage.cluster[zs.row(r)]);
            for run in order.chunk_by(|a, b| stage.cluster[zs.row(*a)] == stage.cluster[zs.row(*b)]) {
                let h = stage.cluster_stratum[stage.cluster[zs.row(run[0])]];
                let sub = self.multistage(s + 1, zs, run)?;
                let f = stage.sampled[h] / pop[h];
                for (x, y) in v.iter_mut().zip(sub) {
                    *x += y * f;
                }
            }
        }
        Ok(v)
    }

    /// One stage: within each stratum, the spread of its clusters' totals (clusters of the
    /// stratum with no row present count as zero), scaled by n/(n−1) and the FPC.
    fn onestage(
        &self,
        stage: &Stage,
        s: usize,
        k: usize,
        totals: &[(usize, Vec<f64>)],
        rows: &[usize],
        zs: &[&[f64]],
    ) -> Result<Vec<f64>, String> {
        let mut v = vec![0.0; k * k];
        if rows.is_empty() {
            return Ok(v);
        }
        // Cluster totals grouped by stratum.
        let mut by_stratum: Vec<(usize, &[f64])> =
            totals.iter().map(|(c, t)| (stage.cluster_stratum[*c], t.as_slice())).collect();
        by_stratum.sort_by_key(|(h, _)| *h);
        let groups: Vec<&[(usize, &[f64])]> = by_stratum.chunk_by(|a, b| a.0 == b.0).collect();
        // "adjust": a lonely PSU is centred at the grand mean of all PSU totals.
        let psus: f64 = groups.iter().map(|g| stage.sampled[g[0].0]).sum();
        let grand: Vec<f64> = (0..k).map(|j| rows.iter().map(|&r| zs[j][r]).sum::<f64>() / psus).collect();
        let mut ok = 0usize;
        for g in &groups {
            let h = g[0].0;
            let n = stage.sampled[h];
            let f = stage.population.as_ref().map_or(1.0, |p| if p[h].is_infinite() { 1.0 } else { (p[h] - n) / p[h] });
            if f < 1e-7 {
                ok += 1; // a stratum taken whole
                continue;
            }
            let scale = if n > 1.0 { f * n / (n - 1.0) } else { f };
            let present = g.len();
            let padded = (n as usize).max(present);
            let centre: Vec<f64> = if self.lonely != LonelyPsu::Adjust || present > 1 || n > 1.0 {
                (0..k).map(|j| g.iter().map(|(_, t)| t[j]).sum::<f64>() / padded as f64).collect()
            } else {
                grand.clone()
            };
            if n <= 1.0 {
                match self.lonely {
                    LonelyPsu::Remove | LonelyPsu::Certainty | LonelyPsu::Adjust => {}
                    LonelyPsu::Average => continue,
                    LonelyPsu::Fail => {
                        return Err(format!(
                            "stratum `{}` has only one PSU at stage {}: choose what it contributes with --lonely-psu \
                             (remove, certainty, adjust or average)",
                            stage.stratum_names[h],
                            s + 1
                        ));
                    }
                }
            }
            ok += 1;
            // Present clusters, then the zeros of clusters with no row present.
            let zeros = (padded - present) as f64;
            for a in 0..k {
                for b in 0..=a {
                    let mut ss: f64 = g.iter().map(|(_, t)| (t[a] - centre[a]) * (t[b] - centre[b])).sum();
                    ss += zeros * centre[a] * centre[b];
                    v[a * k + b] += scale * ss;
                }
            }
        }
        for a in 0..k {
            for b in 0..a {
                v[b * k + a] = v[a * k + b];
            }
        }
        let (strata, ok) = (groups.len() as f64, ok as f64);
        if ok == 0.0 {
            return Ok(vec![f64::NAN; k * k]);
        }
        Ok(v.into_iter().map(|x| x * strata / ok).collect())
    }
}

/// Influence vectors, by position; position `p` is row `row[p]` of the table (or row `p`).
struct Values<'a> {
    zs: Vec<&'a [f64]>,
    row: Option<&'a [usize]>,
}

impl Values<'_> {
    #[inline]
    fn row(&self, p: usize) -> usize {
        self.row.map_or(p, |r| r[p])
    }
}

/// Each cluster's totals of the vectors over `rows`, in cluster order: through a dense
/// array when the rows are many for the stage's clusters, else by sorting them (a PSU's
/// few SSUs at the second stage).
fn cluster_totals(stage: &Stage, values: &Values<'_>, rows: &[usize]) -> Vec<(usize, Vec<f64>)> {
    let zs = &values.zs;
    let k = zs.len();
    let clusters = stage.cluster_stratum.len();
    if rows.len() * 4 >= clusters {
        let mut sum = vec![0.0; clusters * k];
        let mut seen = vec![false; clusters];
        for &r in rows {
            let c = stage.cluster[values.row(r)];
            seen[c] = true;
            for (j, z) in zs.iter().enumerate() {
                sum[c * k + j] += z[r];
            }
        }
        (0..clusters).filter(|&c| seen[c]).map(|c| (c, sum[c * k..(c + 1) * k].to_vec())).collect()
    } else {
        let mut order = rows.to_vec();
        order.sort_by_key(|&r| stage.cluster[values.row(r)]);
        order
            .chunk_by(|a, b| stage.cluster[values.row(*a)] == stage.cluster[values.row(*b)])
            .map(|run| {
                (stage.cluster[values.row(run[0])], (0..k).map(|j| run.iter().map(|&r| zs[j][r]).sum()).collect())
            })
            .collect()
    }
}

/// The numerical rank of a set of columns (modified Gram–Schmidt).
fn rank(columns: &[Vec<f64>]) -> usize {
    let mut basis: Vec<Vec<f64>> = Vec::new();
    for c in columns {
        let mut v = c.clone();
        let norm0 = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        for b in &basis {
            let d: f64 = v.iter().zip(b).map(|(x, y)| x * y).sum();
            for (x, y) in v.iter_mut().zip(b) {
                *x -= d * y;
            }
        }
        let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        if norm > 1e-7 * norm0.max(1e-300) {
            basis.push(v.iter().map(|x| x / norm).collect());
        }
    }
    basis.len()
}

impl Replicates {
    /// The covariance matrix of several estimates from their replicates' (`thetas[r][j]`:
    /// estimate j in replicate r), as R's `svrVar` computes it.
    pub fn covariance(&self, full: &[f64], thetas: &[Vec<f64>]) -> Result<Vec<Vec<f64>>, String> {
        let (k, r) = (full.len(), thetas.len());
        let scale = self.scale.unwrap_or(match self.kind {
            RepType::Jk1 => (r as f64 - 1.0) / r as f64,
            RepType::Jkn => 1.0,
            RepType::Brr => 1.0 / r as f64,
            RepType::Fay(rho) => 1.0 / (r as f64 * (1.0 - rho).powi(2)),
            RepType::Bootstrap => 1.0 / (r as f64 - 1.0),
        });
        let rscales: Vec<f64> = match &self.rscales {
            Some(s) if s.len() == 1 => vec![s[0]; r],
            Some(s) if s.len() == r => s.clone(),
            Some(s) => return Err(format!("{} rscales for {r} replicates", s.len())),
            None if self.kind == RepType::Jkn => {
                return Err("JKn replicate weights need their rscales ((n_h−1)/n_h): give --rep-rscales".into());
            }
            None => vec![1.0; r],
        };
        // Centred at the full-sample estimates, or at the mean of the replicates used.
        let used: Vec<usize> = (0..r).filter(|&i| rscales[i] > 0.0).collect();
        let centre: Vec<f64> = (0..k)
            .map(|j| {
                if self.mse {
                    full[j]
                } else {
                    used.iter().map(|&i| thetas[i][j]).sum::<f64>() / used.len().max(1) as f64
                }
            })
            .collect();
        Ok((0..k)
            .map(|a| {
                (0..k)
                    .map(|b| {
                        scale
                            * (0..r)
                                .map(|i| rscales[i] * (thetas[i][a] - centre[a]) * (thetas[i][b] - centre[b]))
                                .sum::<f64>()
                    })
                    .collect()
            })
            .collect())
    }

    /// The variance of an estimate from its replicates' estimates (R's `svrVar`).
    pub fn variance(&self, full: f64, replicates: &[f64]) -> Result<f64, String> {
        let thetas: Vec<Vec<f64>> = replicates.iter().map(|t| vec![*t]).collect();
        Ok(self.covariance(&[full], &thetas)?[0][0])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn factor(codes: &[usize], labels: &[&str]) -> Factor {
        Factor { codes: codes.to_vec(), labels: labels.iter().map(|l| l.to_string()).collect() }
    }

    /// Stratum A: two PSUs with totals 1 and 3; stratum B: one PSU with total 10.
    fn lonely(option: LonelyPsu) -> Result<f64, String> {
        let cols = DesignColumns {
            strata: Some(factor(&[0, 0, 1], &["A", "B"])),
            psu: Some(factor(&[0, 1, 2], &["1", "2", "3"])),
            ..DesignColumns::default()
        };
        let d = Design::new(3, cols, option)?;
        d.variance(&[1.0, 3.0, 10.0], &[true; 3])
    }

    #[test]
    fn lonely_psus_as_documented() {
        // A: 2/(2−1) × ((1−2)² + (3−2)²) = 4.
        assert_eq!(lonely(LonelyPsu::Remove), Ok(4.0));
        assert_eq!(lonely(LonelyPsu::Certainty), Ok(4.0));
        // The average of the strata that have a variance, for both.
        assert_eq!(lonely(LonelyPsu::Average), Ok(8.0));
        // B's total centred at the grand mean of the three PSU totals, 14/3: survey ≥ 4.4
        // and Stata's singleunit(centered) (survey 4.1 centred it at zero for totals).
        let adjust = lonely(LonelyPsu::Adjust).unwrap_or(f64::NAN);
        assert!((adjust - (4.0 + (10.0f64 - 14.0 / 3.0).powi(2))).abs() < 1e-12, "{adjust}");
        assert!(lonely(LonelyPsu::Fail).is_err_and(|e| e.contains("stratum `B` has only one PSU")));
    }

    #[test]
    fn a_census_stratum_adds_nothing_and_rank_counts_independent_columns() {
        let cols = DesignColumns {
            strata: Some(factor(&[0, 0, 1], &["A", "B"])),
            psu: Some(factor(&[0, 1, 2], &["1", "2", "3"])),
            fpc: vec![vec![2.0, 2.0, 1.0]],
            ..DesignColumns::default()
        };
        // Both strata taken whole: no variance, and B's lonely PSU is no error.
        let d = Design::new(3, cols, LonelyPsu::Fail).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(d.variance(&[1.0, 3.0, 10.0], &[true; 3]), Ok(0.0));
        assert_eq!(d.weights, vec![1.0, 1.0, 1.0]);
        assert_eq!(rank(&[vec![1.0, 0.0], vec![2.0, 0.0], vec![0.0, 1.0]]), 2);
    }
}

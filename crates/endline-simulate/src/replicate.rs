//! One outcome of a simulated study, drawn again and again for power calculations: the
//! same data-generating process as [`crate::simulate`] (roll-out with selection on unit
//! attributes, unit and household levels, unit × wave shocks, growth, attribute trends,
//! the planted effect on its scale, attrition), without the rest of the questionnaire or
//! any file. Each replicate is a fresh sample and a fresh assignment, from its own seed;
//! the planted effect can be changed while every random draw stays the same (common
//! random numbers), so that power is a smooth function of the effect.

use endline_rng::Rng;
use endline_survey::Survey;

use crate::model::{Drivers, Effect, Model};
use crate::{SimulateError, Study, mix, models, question, roll_out, study_error};

/// One outcome's process, ready to draw replicates.
#[derive(Debug, Clone)]
pub struct OutcomeProcess {
    study: Study,
    model: Model,
}

/// One replicate: households in unit order, each observed over the study's waves.
#[derive(Debug, Clone)]
pub struct Replicate {
    /// Each household's unit (0..units).
    pub unit: Vec<u32>,
    /// Each unit's first programme wave (0: never).
    pub first_treated: Vec<i64>,
    /// Each unit's attributes, in the study's order.
    pub attributes: Vec<Vec<bool>>,
    /// The outcome, `y[household * waves + wave]`; NaN once a household is lost.
    pub y: Vec<f64>,
}

impl OutcomeProcess {
    /// The process of `question` in `study` (it must have a planted effect or trend).
    pub fn new(survey: &Survey, study: &Study, name: &str) -> Result<OutcomeProcess, SimulateError> {
        question(survey, name, "the outcome", true)?;
        let mut models = models(survey, study)?;
        let model = models.remove(name).ok_or_else(|| {
            study_error(format!(
                "`{name}` has no planted effect or trend in the simulated study: give it one in `effects`"
            ))
        })?;
        Ok(OutcomeProcess { study: study.clone(), model })
    }

    /// The planted effect.
    pub fn planted(&self) -> Effect {
        Effect { size: self.model.effect, scale: Some(self.model.scale) }
    }

    /// The study, with units and households per unit changed (for power by sample size).
    pub fn resized(&self, units: usize, households: usize) -> OutcomeProcess {
        let mut p = self.clone();
        p.study.units = units;
        p.study.households_per_unit = households;
        p
    }

    /// Units, and households per unit.
    pub fn size(&self) -> (usize, usize) {
        (self.study.units, self.study.households_per_unit)
    }

    /// The study's waves.
    pub fn waves(&self) -> &[i64] {
        &self.study.waves
    }

    /// Replicate `r` (drawn from `seed` and `r`) with the effect `size` on the planted
    /// effect's scale.
    pub fn draw(&self, seed: u64, r: u64, size: f64) -> Result<Replicate, SimulateError> {
        let s = &self.study;
        let mut model = self.model.clone();
        model.effect = size;
        let base = mix(seed, 0x0070_6f77_6572, r); // "power"
        let mut rng = Rng::new(base);
        let (attributes, first_treated) = roll_out(s, &mut rng)?;
        let levels: Vec<f64> = (0..s.units).map(|_| rng.normal()).collect();
        let t0 = s.waves[0];
        let n_waves = s.waves.len();
        let shocks: Vec<f64> =
            (0..s.units * n_waves).map(|i| s.unit_shock * Rng::new(mix(base, 2, i as u64)).normal()).collect();
        let n = s.units * s.households_per_unit;
        let mut y = vec![f64::NAN; n * n_waves];
        let mut unit = Vec::with_capacity(n);
        for j in 0..s.units {
            for h in 0..s.households_per_unit {
                let idx = j * s.households_per_unit + h;
                unit.push(j as u32);
                let mut hh = Rng::new(mix(base, 1, idx as u64));
                let household = hh.normal();
                for (w, &wave) in s.waves.iter().enumerate() {
                    let post = first_treated[j] > 0 && wave >= first_treated[j];
                    if w > 0 {
                        let rate = s.attrition + if post { s.attrition_programme } else { 0.0 };
                        if hh.uniform() < rate {
                            break;
                        }
                    }
                    let d = Drivers {
                        unit: levels[j],
                        household,
                        years: (wave - t0) as f64,
                        growth: s.growth,
                        attributes: attributes[j].clone(),
                        shock: shocks[j * n_waves + w],
                        post,
                    };
                    let (u, e) = (hh.uniform(), hh.normal());
                    let (y0, y1) = model.draw(&d, u, e);
                    y[idx * n_waves + w] = if post { y1 } else { y0 };
                }
            }
        }
        Ok(Replicate { unit, first_treated, attributes, y })
    }
}

/// Variance components of an outcome on its estimation scale, as estimated from field
/// data: y_ijt = u_j + s_jt + h_ij + e_ijt for household i of unit j in wave t.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Components {
    /// Between units, persistent (σ²_u).
    pub unit: f64,
    /// Unit × wave, transitory (σ²_s).
    pub unit_wave: f64,
    /// Between households of a unit, persistent (σ²_h).
    pub household: f64,
    /// Household × wave, transitory (σ²_e).
    pub household_wave: f64,
}

/// A normal model of an outcome with given variance components, on a known roll-out:
/// what `endline power` simulates for a plan on field data. The effect is added on the
/// estimation scale from each unit's adoption on.
#[derive(Debug, Clone)]
pub struct NormalProcess {
    /// Each unit's first programme wave (0: never).
    pub first_treated: Vec<i64>,
    /// Households per unit.
    pub households: usize,
    /// The waves.
    pub waves: Vec<i64>,
    /// The components.
    pub components: Components,
}

impl NormalProcess {
    fn draw(&self, seed: u64, r: u64, size: f64) -> Replicate {
        let base = mix(seed, 0x006e_6f72_6d61, r); // "norma"
        let c = self.components;
        let (units, t_n) = (self.first_treated.len(), self.waves.len());
        let mut unit = Vec::with_capacity(units * self.households);
        let mut y = vec![f64::NAN; units * self.households * t_n];
        for j in 0..units {
            let mut ur = Rng::new(mix(base, 1, j as u64));
            let level = c.unit.sqrt() * ur.normal();
            let shocks: Vec<f64> = (0..t_n).map(|_| c.unit_wave.sqrt() * ur.normal()).collect();
            for h in 0..self.households {
                let idx = j * self.households + h;
                unit.push(j as u32);
                let mut hr = Rng::new(mix(base, 2, idx as u64));
                let own = c.household.sqrt() * hr.normal();
                for (t, &wave) in self.waves.iter().enumerate() {
                    let post = self.first_treated[j] > 0 && wave >= self.first_treated[j];
                    let effect = if post { size } else { 0.0 };
                    y[idx * t_n + t] = level + shocks[t] + own + c.household_wave.sqrt() * hr.normal() + effect;
                }
            }
        }
        Replicate { unit, first_treated: self.first_treated.clone(), attributes: vec![Vec::new(); units], y }
    }
}

/// What `endline power` draws replicates from: a simulated study's outcome, or a normal
/// model of a field study's outcome.
#[derive(Debug, Clone)]
pub enum Process {
    /// The simulated study's own process.
    Study(Box<OutcomeProcess>),
    /// Variance components estimated from field data, on its roll-out.
    Components(NormalProcess),
}

impl Process {
    /// Replicate `r` with the effect `size`.
    pub fn draw(&self, seed: u64, r: u64, size: f64) -> Result<Replicate, SimulateError> {
        match self {
            Process::Study(p) => p.draw(seed, r, size),
            Process::Components(p) => Ok(p.draw(seed, r, size)),
        }
    }

    /// Units, and households per unit.
    pub fn size(&self) -> (usize, usize) {
        match self {
            Process::Study(p) => p.size(),
            Process::Components(p) => (p.first_treated.len(), p.households),
        }
    }

    /// The waves.
    pub fn waves(&self) -> &[i64] {
        match self {
            Process::Study(p) => p.waves(),
            Process::Components(p) => &p.waves,
        }
    }

    /// The same process with another number of units and households per unit (a field
    /// study's roll-out repeats over the new units in its order).
    pub fn resized(&self, units: usize, households: usize) -> Process {
        match self {
            Process::Study(p) => Process::Study(Box::new(p.resized(units, households))),
            Process::Components(p) => {
                let n = p.first_treated.len().max(1);
                Process::Components(NormalProcess {
                    first_treated: (0..units).map(|j| p.first_treated.get(j % n).copied().unwrap_or(0)).collect(),
                    households,
                    ..p.clone()
                })
            }
        }
    }
}

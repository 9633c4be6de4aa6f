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

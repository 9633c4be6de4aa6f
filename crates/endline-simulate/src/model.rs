//! The modelled outcomes: what each measurement type's answers look like, how a
//! programme effect is planted on its natural scale, and the truth it leaves behind.
//!
//! Every modelled answer is drawn twice from the same random numbers, once as it is with
//! the programme and once as it would have been without it (common random numbers). The
//! truth is then the sample average of the difference over programme households'
//! post-programme interviews, on every scale an analysis may use (levels, logs, log1p,
//! inverse hyperbolic sine): whatever the clamping to a question's bounds does, the truth
//! is what the data hold.

use endline_survey::expr::self_bounds;
use endline_survey::{Item, QuestionType, Survey};
use serde::Serialize;

/// What kind of outcome a question is, for the simulation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OutcomeKind {
    /// Yes/no: a select_one with the choices 0 and 1, or an integer between 0 and 1.
    Binary,
    /// A whole number of events (an integer question).
    Count,
    /// An amount (a decimal question).
    Continuous,
}

impl OutcomeKind {
    /// The kind of a question, if an effect can be planted on it.
    pub fn of(survey: &Survey, item: &Item) -> Option<OutcomeKind> {
        let bounds = item.constraint().map_or((None, None), |c| self_bounds(c.ast()));
        match item.question_type() {
            QuestionType::SelectOne => {
                let list = survey.choices_of(item)?;
                let mut values: Vec<String> = list.choices().iter().map(|c| c.value().as_text()).collect();
                values.sort();
                (values == ["0", "1"]).then_some(OutcomeKind::Binary)
            }
            QuestionType::Integer if bounds == (Some(0.0), Some(1.0)) => Some(OutcomeKind::Binary),
            QuestionType::Integer => Some(OutcomeKind::Count),
            QuestionType::Decimal => Some(OutcomeKind::Continuous),
            _ => None,
        }
    }

    /// The scale a bare number planted on this kind is read on.
    pub fn default_scale(self) -> EffectScale {
        match self {
            OutcomeKind::Binary => EffectScale::Points,
            OutcomeKind::Count | OutcomeKind::Continuous => EffectScale::Log,
        }
    }
}

/// The scale of a planted effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EffectScale {
    /// Probability points added to a yes/no outcome's probability (0.05: five percentage points).
    Points,
    /// Log points: the outcome is multiplied by exp(effect).
    Log,
    /// Added to the outcome, in its own units.
    Add,
}

impl EffectScale {
    /// Each scale by the name a plan or the command line gives it.
    pub const BY_NAME: [(&'static str, EffectScale); 3] =
        [("points", EffectScale::Points), ("log", EffectScale::Log), ("add", EffectScale::Add)];
}

/// A planted effect: its size and the scale it is read on.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Effect {
    /// The size.
    pub size: f64,
    /// The scale (None: the outcome kind's default, [`OutcomeKind::default_scale`]).
    pub scale: Option<EffectScale>,
}

impl Effect {
    /// An effect on the outcome kind's default scale.
    pub fn new(size: f64) -> Self {
        Effect { size, scale: None }
    }

    /// Parses `0.05`, `log:0.05`, `add:-10` or `points:0.08`.
    pub fn parse(text: &str) -> Result<Effect, String> {
        let (scale, size) = match text.split_once(':') {
            None => (None, text),
            Some((s, v)) => {
                let scale = EffectScale::BY_NAME
                    .iter()
                    .find(|(n, _)| *n == s.trim())
                    .map(|(_, k)| *k)
                    .ok_or_else(|| format!("`{s}` is not an effect scale (points, log or add)"))?;
                (Some(scale), v)
            }
        };
        let size: f64 = size.trim().parse().map_err(|_| format!("`{size}` is not a number"))?;
        if !size.is_finite() {
            return Err(format!("`{size}` is not a finite number"));
        }
        Ok(Effect { size, scale })
    }
}

/// How one outcome question is generated.
#[derive(Debug, Clone)]
pub(crate) struct Model {
    pub kind: OutcomeKind,
    /// The planted effect, on its scale.
    pub effect: f64,
    pub scale: EffectScale,
    /// Baseline: a probability (binary), a mean (count) or a median (continuous).
    pub base: f64,
    /// Extra yearly trend per unit attribute (probability points for a yes/no outcome,
    /// log points otherwise), by the attribute's index.
    pub trends: Vec<f64>,
    /// The question's bounds.
    pub lo: Option<f64>,
    pub hi: Option<f64>,
    /// Written as a whole number.
    pub whole: bool,
}

/// What drives one household's answer in one wave.
pub(crate) struct Drivers {
    /// The unit's level (standard normal).
    pub unit: f64,
    /// The household's level (standard normal).
    pub household: f64,
    /// Years since the first wave.
    pub years: f64,
    /// The common yearly log growth.
    pub growth: f64,
    /// The unit's attributes.
    pub attributes: Vec<bool>,
    /// This unit-wave's shock.
    pub shock: f64,
    /// Whether the programme is on.
    pub post: bool,
}

impl Model {
    pub(crate) fn new(kind: OutcomeKind, item: &Item, effect: Option<Effect>, base: Option<f64>) -> Model {
        let (lo, hi) = item.constraint().map_or((None, None), |c| self_bounds(c.ast()));
        let whole = item.question_type() != QuestionType::Decimal;
        let span = |default: f64, share: f64| match (lo, hi) {
            (_, Some(h)) => (lo.unwrap_or(0.0).max(0.0) + (h - lo.unwrap_or(0.0)) * share).min(default).max(1e-6),
            (Some(l), None) if l > 0.0 => l.max(default),
            _ => default,
        };
        let base = base.unwrap_or_else(|| match kind {
            OutcomeKind::Binary => 0.4,
            OutcomeKind::Count => span(5.0, 0.1),
            OutcomeKind::Continuous => span(10_000.0, 0.05),
        });
        let effect = effect.unwrap_or(Effect::new(0.0));
        Model {
            kind,
            effect: effect.size,
            scale: effect.scale.unwrap_or(kind.default_scale()),
            base,
            trends: Vec::new(),
            lo,
            hi,
            whole,
        }
    }

    /// The answer without and with the programme, from the same uniform `u` and normal
    /// `e` (pass `post` in `d` to choose which is observed).
    pub(crate) fn draw(&self, d: &Drivers, u: f64, e: f64) -> (f64, f64) {
        let trend: f64 = self.trends.iter().zip(&d.attributes).filter(|(_, on)| **on).map(|(t, _)| t).sum();
        match self.kind {
            OutcomeKind::Binary => {
                let p0 = (self.base + 0.08 * d.unit + 0.08 * d.household + trend * d.years + d.shock).clamp(0.02, 0.98);
                let p1 = match self.scale {
                    EffectScale::Points | EffectScale::Add => p0 + self.effect,
                    EffectScale::Log => p0 * self.effect.exp(),
                }
                .clamp(0.0, 1.0);
                (f64::from(u8::from(u < p0)), f64::from(u8::from(u < p1)))
            }
            OutcomeKind::Count => {
                let log_mean =
                    self.base.ln() + 0.3 * d.unit + 0.3 * d.household + (d.growth + trend) * d.years + d.shock;
                let m0 = log_mean.exp();
                let m1 = self.shifted(m0);
                (self.clamp(poisson_quantile(m0, u)), self.clamp(poisson_quantile(m1, u)))
            }
            OutcomeKind::Continuous => {
                let log_y = self.base.ln()
                    + 0.3 * d.unit
                    + 0.4 * d.household
                    + (d.growth + trend) * d.years
                    + d.shock
                    + 0.1 * e;
                let y0 = log_y.exp();
                let round = |v: f64| if self.whole { v.round() } else { (v * 100.0).round() / 100.0 };
                (self.clamp(round(y0)), self.clamp(round(self.shifted(y0))))
            }
        }
    }

    fn shifted(&self, v: f64) -> f64 {
        match self.scale {
            EffectScale::Log => v * self.effect.exp(),
            EffectScale::Add | EffectScale::Points => v + self.effect,
        }
    }

    fn clamp(&self, v: f64) -> f64 {
        let v = self.lo.map_or(v, |l| v.max(l));
        self.hi.map_or(v, |h| v.min(h))
    }
}

/// The `u` quantile of a Poisson distribution with mean `m` (a normal approximation with
/// continuity correction above a mean of 400, where the exact sum would be slow).
fn poisson_quantile(m: f64, u: f64) -> f64 {
    if m.is_nan() || m <= 0.0 {
        return 0.0;
    }
    if m > 400.0 {
        return (m + m.sqrt() * normal_quantile(u) + 0.5).floor().max(0.0);
    }
    let mut k = 0.0;
    let mut p = (-m).exp();
    let mut cdf = p;
    while cdf < u && k < 10_000.0 {
        k += 1.0;
        p *= m / k;
        cdf += p;
    }
    k
}

/// The standard normal quantile (Acklam's rational approximation, relative error below
/// 1.2e-9: ample for simulated answers).
fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] =
        [7.784_695_709_041_462e-3, 3.224_671_290_700_398e-1, 2.445_134_137_142_996, 3.754_408_661_907_416];
    let p = p.clamp(1e-12, 1.0 - 1e-12);
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < 0.02425 {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - 0.02425 {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

/// The truth about one outcome: the planted effect and what it did in the data.
#[derive(Debug, Clone, Serialize)]
pub struct Truth {
    /// The outcome question.
    pub question: String,
    /// Its kind.
    pub kind: OutcomeKind,
    /// The planted effect.
    pub effect: f64,
    /// The scale it was planted on.
    pub scale: EffectScale,
    /// Programme households' post-programme answers it was averaged over.
    pub n: usize,
    /// The average effect on those answers (with minus without the programme), by the
    /// scale an analysis reads it on; None where the scale is undefined (a log of zero).
    pub att: Att,
}

/// An average treatment effect on the treated, on each analysis scale.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Att {
    /// In the outcome's own units (for a yes/no outcome, a share: 0.05 is 5 points).
    pub level: Option<f64>,
    /// In log points.
    pub log: Option<f64>,
    /// On log(1 + y).
    pub log1p: Option<f64>,
    /// On the inverse hyperbolic sine.
    pub asinh: Option<f64>,
}

/// Running sums of the differences, scale by scale.
#[derive(Debug, Clone, Default)]
pub(crate) struct TruthSums {
    n: usize,
    level: f64,
    log: f64,
    log_ok: bool,
    log1p: f64,
    asinh: f64,
}

impl TruthSums {
    pub(crate) fn add(&mut self, y0: f64, y1: f64) {
        if self.n == 0 {
            self.log_ok = true;
        }
        self.n += 1;
        self.level += y1 - y0;
        if y0 > 0.0 && y1 > 0.0 {
            self.log += y1.ln() - y0.ln();
        } else {
            self.log_ok = false;
        }
        self.log1p += y1.ln_1p() - y0.ln_1p();
        self.asinh += y1.asinh() - y0.asinh();
    }

    pub(crate) fn merge(&mut self, o: &TruthSums) {
        if o.n == 0 {
            return;
        }
        let log_ok = (self.n == 0 || self.log_ok) && o.log_ok;
        self.n += o.n;
        self.level += o.level;
        self.log += o.log;
        self.log1p += o.log1p;
        self.asinh += o.asinh;
        self.log_ok = log_ok;
    }

    pub(crate) fn att(&self) -> (usize, Att) {
        if self.n == 0 {
            return (0, Att::default());
        }
        let n = self.n as f64;
        (
            self.n,
            Att {
                level: Some(self.level / n),
                log: self.log_ok.then(|| self.log / n),
                log1p: Some(self.log1p / n),
                asinh: Some(self.asinh / n),
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poisson_quantiles_have_the_right_mean() {
        for m in [0.5, 3.0, 40.0, 900.0] {
            let n = 20_000;
            let mean: f64 = (0..n).map(|i| poisson_quantile(m, (i as f64 + 0.5) / n as f64)).sum::<f64>() / n as f64;
            assert!((mean - m).abs() < 0.02 * m.max(1.0), "mean {mean} for {m}");
        }
        assert!((normal_quantile(0.975) - 1.959_963_985).abs() < 1e-8);
        assert!((normal_quantile(0.001) + 3.090_232_306).abs() < 1e-8);
    }

    #[test]
    fn effects_parse_with_and_without_a_scale() {
        assert_eq!(Effect::parse("0.05"), Ok(Effect { size: 0.05, scale: None }));
        assert_eq!(Effect::parse("add:-10"), Ok(Effect { size: -10.0, scale: Some(EffectScale::Add) }));
        assert!(Effect::parse("pct:3").is_err());
        assert!(Effect::parse("inf").is_err());
    }
}

//! Computations that read a table in chunks (Parquet row groups) rather than hold it:
//! the rows of a chunk, the source that yields them, and identifiers coded as dense
//! integers across passes.

use std::collections::HashMap;

use crate::error::{AnalysisError, Result};

/// Identifiers in a chunk: whole numbers or text; `None` is missing.
pub enum Ids<'a> {
    /// Whole numbers, some missing.
    Int(&'a [Option<i64>]),
    /// Whole numbers, none missing (a Parquet column read without copying).
    Whole(&'a [i64]),
    /// Text.
    Text(&'a [Option<&'a str>]),
}

impl Ids<'_> {
    pub(crate) fn len(&self) -> usize {
        match self {
            Ids::Int(v) => v.len(),
            Ids::Whole(v) => v.len(),
            Ids::Text(v) => v.len(),
        }
    }

    /// The whole number of row `i` (None when missing or text).
    #[inline]
    pub(crate) fn int(&self, i: usize) -> Option<i64> {
        match self {
            Ids::Whole(v) => Some(v[i]),
            Ids::Int(v) => v[i],
            Ids::Text(_) => None,
        }
    }
}

/// Rows of a table, the columns a computation asked for: identifiers (fixed effects, units,
/// clusters) and numbers (NaN where missing), each in the order asked.
pub struct Chunk<'a> {
    /// Identifier columns.
    pub ids: Vec<Ids<'a>>,
    /// Numeric columns.
    pub numbers: Vec<&'a [f64]>,
}

/// Where the rows come from: each call reads them all again, chunk by chunk, and stops
/// early when `f` returns false.
pub trait Source {
    /// Reads every chunk in order.
    fn scan(&mut self, f: &mut dyn FnMut(&Chunk<'_>) -> Result<bool>) -> Result<()>;

    /// The rows, and for each identifier column the smallest and largest whole number,
    /// when the source knows them without reading (Parquet statistics).
    fn known_ranges(&mut self) -> Option<(usize, Vec<(i64, i64)>)> {
        None
    }

    /// Reads every chunk in order, its identifiers at least (a source may leave the
    /// numbers out, which is cheaper).
    fn scan_ids(&mut self, f: &mut dyn FnMut(&Chunk<'_>) -> Result<bool>) -> Result<()> {
        self.scan(f)
    }
}

/// The range of integer identifiers, or text.
#[derive(Default, Clone, Copy)]
pub(crate) struct Range {
    pub(crate) min: i64,
    pub(crate) max: i64,
    pub(crate) any: bool,
    pub(crate) text: bool,
}

impl Range {
    pub(crate) fn observe(&mut self, ids: &Ids<'_>) {
        match ids {
            Ids::Text(_) => self.text = true,
            ints => {
                for x in (0..ints.len()).filter_map(|i| ints.int(i)) {
                    if !self.any {
                        (self.min, self.max, self.any) = (x, x, true);
                    } else if x < self.min {
                        self.min = x;
                    } else if x > self.max {
                        self.max = x;
                    }
                }
            }
        }
    }
}

/// No code: a missing identifier.
pub(crate) const NONE: u32 = u32::MAX;

/// Identifiers to dense codes: an offset over a range no wider than `dense_up_to`, a hash
/// table otherwise.
pub(crate) enum Coder {
    Dense { min: i64, len: usize },
    Int(HashMap<i64, u32>),
    Text(HashMap<String, u32>),
}

impl Coder {
    pub(crate) fn new(r: Range, dense_up_to: usize) -> Coder {
        let width = if r.any { (r.max as i128 - r.min as i128 + 1) as u128 } else { 0 };
        if r.text {
            Coder::Text(HashMap::new())
        } else if width <= dense_up_to as u128 {
            Coder::Dense { min: r.min, len: width as usize }
        } else {
            Coder::Int(HashMap::new())
        }
    }

    /// Codes so far (an upper bound for dense coding).
    pub(crate) fn len(&self) -> usize {
        match self {
            Coder::Dense { len, .. } => *len,
            Coder::Int(m) => m.len(),
            Coder::Text(m) => m.len(),
        }
    }

    /// The code of row `i`, assigning new ones; None when missing.
    pub(crate) fn code(&mut self, ids: &Ids<'_>, i: usize) -> Result<Option<u32>> {
        Ok(match (self, ids) {
            (Coder::Dense { min, .. }, ints) if !matches!(ints, Ids::Text(_)) => ints.int(i).map(|x| (x - *min) as u32),
            (Coder::Int(m), ints) if !matches!(ints, Ids::Text(_)) => ints.int(i).map(|x| {
                let next = m.len() as u32;
                *m.entry(x).or_insert(next)
            }),
            (Coder::Text(m), Ids::Text(v)) => v[i].map(|x| match m.get(x) {
                Some(c) => *c,
                None => {
                    let next = m.len() as u32;
                    m.insert(x.to_string(), next);
                    next
                }
            }),
            _ => return Err(AnalysisError::Data("an identifier column changes type between row groups".into())),
        })
    }

    /// The code of row `i`, known from an earlier pass.
    pub(crate) fn known(&self, ids: &Ids<'_>, i: usize) -> Option<u32> {
        match (self, ids) {
            (Coder::Text(m), Ids::Text(v)) => v[i].and_then(|x| m.get(x).copied()),
            (_, Ids::Text(_)) => None,
            (Coder::Dense { min, .. }, ints) => ints.int(i).map(|x| (x - *min) as u32),
            (Coder::Int(m), ints) => ints.int(i).and_then(|x| m.get(&x).copied()),
            (Coder::Text(_), _) => None,
        }
    }

    /// The codes of a whole column into `out` ([`NONE`] where missing), assigning new
    /// ones; a tight loop for dense whole numbers.
    pub(crate) fn code_all(&mut self, ids: &Ids<'_>, out: &mut Vec<u32>) -> Result<()> {
        out.clear();
        if let (Coder::Dense { min, .. }, Ids::Whole(v)) = (&*self, ids) {
            let m = *min;
            out.extend(v.iter().map(|x| (x - m) as u32));
            return Ok(());
        }
        for i in 0..ids.len() {
            out.push(self.code(ids, i)?.unwrap_or(NONE));
        }
        Ok(())
    }

    /// The codes of a whole column, known from an earlier pass ([`NONE`] where missing
    /// or unknown).
    pub(crate) fn known_all(&self, ids: &Ids<'_>, out: &mut Vec<u32>) {
        out.clear();
        if let (Coder::Dense { min, .. }, Ids::Whole(v)) = (self, ids) {
            out.extend(v.iter().map(|x| (x - min) as u32));
            return;
        }
        out.extend((0..ids.len()).map(|i| self.known(ids, i).unwrap_or(NONE)));
    }

    pub(crate) fn label(&self, ids: &Ids<'_>, i: usize) -> String {
        match ids {
            Ids::Text(v) => v[i].unwrap_or_default().to_string(),
            ints => ints.int(i).map(|x| x.to_string()).unwrap_or_default(),
        }
    }
}

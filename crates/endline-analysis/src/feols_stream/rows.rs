//! The pieces of the streamed regression's passes: levels of the small fixed effect,
//! a chunk's codes, the rows held between passes, the first pass's per-thread work, and
//! compensated sums.

use crate::error::Result;
use crate::stream::{Chunk, Coder, Ids, NONE, Source};

/// Up to 64 distinct identifiers, with a table from whole numbers to their index when
/// they span a short range (years).
#[derive(Default)]
pub(super) struct Levels {
    pub(super) ints: Vec<i64>,
    pub(super) texts: Vec<String>,
    pub(super) overflow: bool,
    pub(super) table: Vec<u8>,
}

impl Levels {
    pub(super) fn observe(&mut self, ids: &Ids<'_>) {
        if self.overflow {
            return;
        }
        match ids {
            Ids::Text(v) => {
                for x in v.iter().flatten() {
                    if let Err(at) = self.texts.binary_search_by(|t| t.as_str().cmp(x)) {
                        if self.texts.len() == 64 {
                            self.overflow = true;
                            return;
                        }
                        self.texts.insert(at, x.to_string());
                    }
                }
            }
            ints => {
                let mut last = None;
                for x in (0..ints.len()).filter_map(|i| ints.int(i)) {
                    if last == Some(x) {
                        continue;
                    }
                    last = Some(x);
                    if let Err(at) = self.ints.binary_search(&x) {
                        if self.ints.len() == 64 {
                            self.overflow = true;
                            return;
                        }
                        self.ints.insert(at, x);
                    }
                }
            }
        }
    }

    /// Builds the lookup table once every level is known.
    pub(super) fn seal(&mut self) {
        if let (Some(lo), Some(hi)) = (self.ints.first(), self.ints.last())
            && hi - lo < 1 << 16
        {
            self.table = vec![u8::MAX; (hi - lo + 1) as usize];
            for (k, x) in self.ints.iter().enumerate() {
                self.table[(x - lo) as usize] = k as u8;
            }
        }
    }

    pub(super) fn len(&self) -> usize {
        self.ints.len() + self.texts.len()
    }

    /// The index of every row (u8::MAX where missing or unknown).
    pub(super) fn index_all(&self, ids: &Ids<'_>, out: &mut Vec<u8>) {
        out.clear();
        if let (Ids::Whole(v), false) = (ids, self.table.is_empty()) {
            let lo = self.ints[0];
            let table = &self.table;
            out.extend(v.iter().map(|x| table.get(x.wrapping_sub(lo) as usize).copied().unwrap_or(u8::MAX)));
            return;
        }
        out.extend((0..ids.len()).map(|i| self.index(ids, i).map_or(u8::MAX, |k| k as u8)));
    }

    #[inline]
    pub(super) fn index(&self, ids: &Ids<'_>, i: usize) -> Option<usize> {
        match ids {
            Ids::Text(v) => v[i].and_then(|x| self.texts.binary_search_by(|t| t.as_str().cmp(x)).ok()),
            ints => {
                let x = ints.int(i)?;
                if self.table.is_empty() {
                    return self.ints.binary_search(&x).ok();
                }
                let at = x.checked_sub(self.ints[0])?;
                self.table.get(usize::try_from(at).ok()?).filter(|k| **k != u8::MAX).map(|k| *k as usize)
            }
        }
    }
}

/// The codes of a chunk's rows: the large fixed effect, the small one, the cluster.
#[derive(Default)]
pub(super) struct Codes {
    pub(super) a: Vec<u32>,
    pub(super) b: Vec<u8>,
    pub(super) cl: Vec<u32>,
}

impl Codes {
    /// Codes known from the first passes.
    pub(super) fn known(
        &mut self,
        c: &Chunk<'_>,
        coders: (&Coder, &Levels, Option<&Coder>),
        (large, small): (usize, usize),
    ) {
        coders.0.known_all(&c.ids[large], &mut self.a);
        coders.1.index_all(&c.ids[small], &mut self.b);
        if let Some(cl) = coders.2 {
            cl.known_all(&c.ids[2], &mut self.cl);
        }
    }

    /// Row i's levels when it is in the estimation.
    #[inline]
    pub(super) fn kept(&self, i: usize, mask: &[u64], c: &Chunk<'_>) -> Option<(usize, usize)> {
        let (a, b) = (self.a[i] as usize, self.b[i] as usize);
        let ok = self.a[i] != NONE
            && b < 64
            && a < mask.len()
            && mask[a] & (1 << b) != 0
            && (self.cl.is_empty() || self.cl[i] != NONE)
            && !c.numbers.iter().any(|v| v[i].is_nan());
        ok.then_some((a, b))
    }
}

/// The table's rows held compactly (codes, [`NONE`] or `u8::MAX` where missing, and
/// values) when they fit the budget: the later passes read them instead of the table.
pub(super) struct Cache {
    pub(super) a: Held<u32>,
    pub(super) b: Held<u8>,
    pub(super) cl: Held<u32>,
    /// Values, variable-major: regressors, then y.
    pub(super) z: Vec<Held<f64>>,
}

impl Cache {
    /// Room for `rows` rows of `nv` values (and their clusters when `clustered`), or `None`
    /// when the memory cannot be had (the later passes then read the table again).
    pub(super) fn new(rows: usize, nv: usize, clustered: bool) -> Option<Cache> {
        Some(Cache {
            a: Held::with_capacity(rows)?,
            b: Held::with_capacity(rows)?,
            cl: Held::with_capacity(if clustered { rows } else { 0 })?,
            z: (0..nv).map(|_| Held::with_capacity(rows)).collect::<Option<_>>()?,
        })
    }

    /// Appends a chunk's rows; false (nothing appended) when they would pass the capacity.
    pub(super) fn extend(&mut self, codes: &Codes, c: &Chunk<'_>, nv: usize) -> bool {
        let n = codes.a.len();
        if self.a.len + n > self.a.capacity() {
            return false;
        }
        self.a.extend_from_slice(&codes.a);
        self.b.extend_from_slice(&codes.b);
        self.cl.extend_from_slice(&codes.cl);
        for (v, col) in self.z.iter_mut().enumerate() {
            col.extend_from_slice(if v == nv - 1 { c.numbers[0] } else { c.numbers[1 + v] });
        }
        true
    }
}

/// A column of held rows with a fixed capacity, in anonymous memory whose pages the kernel
/// supplies in one call (`MAP_POPULATE`). Touched page by page, as a `Vec`'s would be, the
/// 2.5 GB held at 1e8 rows cost 600,000 page faults: 5–25 s of system time on the
/// benchmark's virtual machine, where populating the same memory takes about a second.
pub(super) struct Held<T> {
    map: memmap2::MmapMut,
    len: usize,
    _of: std::marker::PhantomData<T>,
}

impl<T: bytemuck::Pod> Held<T> {
    fn with_capacity(n: usize) -> Option<Held<T>> {
        let bytes = n.checked_mul(std::mem::size_of::<T>())?.max(1);
        let map = memmap2::MmapOptions::new().len(bytes).populate().map_anon().ok()?;
        Some(Held { map, len: 0, _of: std::marker::PhantomData })
    }

    fn capacity(&self) -> usize {
        self.map.len() / std::mem::size_of::<T>()
    }

    /// Appends `s` (the caller checks the capacity).
    fn extend_from_slice(&mut self, s: &[T]) {
        let bytes = self.capacity() * std::mem::size_of::<T>();
        let all: &mut [T] = bytemuck::cast_slice_mut(&mut self.map[..bytes]);
        all[self.len..self.len + s.len()].copy_from_slice(s);
        self.len += s.len();
    }
}

impl<T: bytemuck::Pod> std::ops::Deref for Held<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &bytemuck::cast_slice(&self.map[..self.capacity() * std::mem::size_of::<T>()])[..self.len]
    }
}

/// Value `v` of row `i` in variable order: the regressors, then y (a chunk's numbers hold
/// y first).
#[inline]
pub(super) fn value(c: &Chunk<'_>, nv: usize, v: usize, i: usize) -> f64 {
    if v == nv - 1 { c.numbers[0][i] } else { c.numbers[1 + v][i] }
}

/// What the later passes visit: a kept row's levels, cluster and raw values (regressors,
/// then y), from the held rows or from the table.
pub(super) struct Kept<'a> {
    pub(super) cache: Option<&'a Cache>,
    pub(super) coders: (&'a Coder, &'a Levels, Option<&'a Coder>),
    pub(super) fe: (usize, usize),
    pub(super) mask: &'a [u64],
    pub(super) nv: usize,
}

impl Kept<'_> {
    /// Every kept row.
    pub(super) fn each<F: FnMut(usize, usize, u32, &[f64])>(
        &self,
        source: &mut dyn Source,
        codes: &mut Codes,
        f: &mut F,
    ) -> Result<()> {
        if let Some(c) = self.cache {
            self.held(c, 0..c.a.len(), f);
            return Ok(());
        }
        let nv = self.nv;
        let mut raw = vec![0.0; nv];
        source.scan(&mut |c| {
            codes.known(c, self.coders, self.fe);
            for i in 0..c.ids[0].len() {
                let Some((a, b)) = codes.kept(i, self.mask, c) else {
                    continue;
                };
                for (v, r) in raw.iter_mut().enumerate() {
                    *r = value(c, nv, v, i);
                }
                f(a, b, codes.cl.get(i).copied().unwrap_or(0), &raw);
            }
            Ok(true)
        })
    }

    /// The kept rows among the held rows `rows`.
    pub(super) fn held<F: FnMut(usize, usize, u32, &[f64])>(&self, c: &Cache, rows: std::ops::Range<usize>, f: &mut F) {
        let mask = self.mask;
        let mut raw = vec![0.0; self.nv];
        let clustered = !c.cl.is_empty();
        for i in rows {
            let (a, b) = (c.a[i] as usize, c.b[i] as usize);
            if c.a[i] == NONE || b >= 64 || a >= mask.len() || mask[a] & (1 << b) == 0 {
                continue;
            }
            let cl = if clustered { c.cl[i] } else { 0 };
            if cl == NONE {
                continue;
            }
            for (v, r) in raw.iter_mut().enumerate() {
                *r = c.z[v][i];
            }
            if raw.iter().any(|x| x.is_nan()) {
                continue;
            }
            f(a, b, cl, &raw);
        }
    }
}

/// The demeaned rows' cross-products: overall (`nv`×`nv`, lower triangle), per cluster
/// Σ x̃ z̃' (regressors × variables), and the clusters met; compensated, as 1e8 rows
/// summed naively already move the tenth digit.
#[derive(Clone)]
pub(super) struct Crossed {
    pub(super) gram: Kahan,
    pub(super) by_cluster: Kahan,
    pub(super) seen: Vec<bool>,
    nv: usize,
    k_all: usize,
    /// The current block's plain sums (gram), and the current run of one cluster's rows.
    block: Vec<f64>,
    in_block: usize,
    run: Vec<f64>,
    run_cl: Option<usize>,
    in_run: usize,
}

/// Rows summed plainly before one compensated addition (a block of rows, or a run of one
/// cluster's rows): the compensation's accuracy at a fraction of its cost per row.
const BLOCK: usize = 256;

impl Crossed {
    /// Empty sums of `nv` variables, `k_all` regressors among them, over `clusters`.
    pub(super) fn new(nv: usize, k_all: usize, clusters: usize) -> Crossed {
        Crossed {
            gram: Kahan::new(nv * nv),
            by_cluster: Kahan::new(clusters * k_all * nv),
            seen: vec![false; clusters],
            nv,
            k_all,
            block: vec![0.0; nv * nv],
            in_block: 0,
            run: vec![0.0; k_all * nv],
            run_cl: None,
            in_run: 0,
        }
    }

    /// One demeaned row `z` (regressors, then y), in cluster `cl` when clustered.
    #[inline]
    pub(super) fn add(&mut self, z: &[f64], cl: Option<usize>) {
        let nv = self.nv;
        for p in 0..nv {
            for q in 0..=p {
                self.block[p * nv + q] += z[p] * z[q];
            }
        }
        self.in_block += 1;
        if self.in_block == BLOCK {
            self.flush_block();
        }
        if let Some(g) = cl {
            if self.run_cl != Some(g) || self.in_run == BLOCK {
                self.flush_run();
                self.run_cl = Some(g);
                self.seen[g] = true;
            }
            for j in 0..self.k_all {
                for v in 0..nv {
                    self.run[j * nv + v] += z[j] * z[v];
                }
            }
            self.in_run += 1;
        }
    }

    fn flush_block(&mut self) {
        for (i, x) in self.block.iter_mut().enumerate() {
            self.gram.add(i, std::mem::take(x));
        }
        self.in_block = 0;
    }

    fn flush_run(&mut self) {
        if let Some(g) = self.run_cl {
            let per = self.run.len();
            for (i, x) in self.run.iter_mut().enumerate() {
                self.by_cluster.add(g * per + i, std::mem::take(x));
            }
        }
        self.in_run = 0;
    }

    /// The sums with the last block and run added.
    pub(super) fn finish(mut self) -> Crossed {
        self.flush_block();
        self.flush_run();
        self.run_cl = None;
        self
    }

    pub(super) fn merge(self, other: Crossed) -> Crossed {
        let (mut this, other) = (self.finish(), other.finish());
        for (i, v) in other.gram.values().into_iter().enumerate() {
            this.gram.add(i, v);
        }
        for (i, v) in other.by_cluster.values().into_iter().enumerate() {
            this.by_cluster.add(i, v);
        }
        for (a, b) in this.seen.iter_mut().zip(other.seen) {
            *a |= b;
        }
        this
    }
}

/// Sums over the rows, each variable (the regressors, then y: `nv`) less a shift (the
/// first chunk's means, which keeps the sums well conditioned and changes no estimate):
/// per level of a and of b, the sum of squares of y, each regressor's raw sum of squares.
pub(super) struct Sums {
    pub(super) nv: usize,
    pub(super) shift: Option<Vec<f64>>,
    pub(super) s_a: Vec<f64>,
    pub(super) by: ByLevel,
}

/// The sums besides the large fixed effect's: per level of b, of y's squares, of each
/// regressor's raw squares.
pub(super) struct ByLevel {
    pub(super) r_b: Kahan,
    pub(super) yy: Kahan,
    pub(super) ss_before: Vec<f64>,
}

impl ByLevel {
    pub(super) fn new(nv: usize, t_n: usize) -> ByLevel {
        ByLevel { r_b: Kahan::new(t_n * nv), yy: Kahan::new(1), ss_before: vec![0.0; nv - 1] }
    }

    /// A row at level b: adds its values less `shift` to `s_a` (its level of a's sums)
    /// and to these; `sign` -1 takes it out.
    #[inline]
    pub(super) fn add(&mut self, s_a: &mut [f64], b: usize, shift: &[f64], sign: f64, raw: impl Fn(usize) -> f64) {
        let nv = s_a.len();
        for (v, s) in s_a.iter_mut().enumerate() {
            let x = raw(v);
            let z = x - shift.get(v).copied().unwrap_or(0.0);
            if v < nv - 1 {
                self.ss_before[v] += sign * x * x;
            } else {
                self.yy.add(0, sign * z * z);
            }
            *s += sign * z;
            self.r_b.add(b * nv + v, sign * z);
        }
    }

    pub(super) fn merge(&mut self, other: ByLevel) {
        for (i, v) in other.r_b.values().into_iter().enumerate() {
            self.r_b.add(i, v);
        }
        self.yy.add(0, other.yy.values()[0]);
        for (a, b) in self.ss_before.iter_mut().zip(&other.ss_before) {
            *a += b;
        }
    }
}

/// Sums compensated for rounding (Kahan): a register's 1e8–1e9 terms summed naively lose
/// digits in the tenth place.
#[derive(Clone)]
pub(super) struct Kahan {
    pub(super) sum: Vec<f64>,
    pub(super) comp: Vec<f64>,
}

impl Kahan {
    pub(super) fn new(n: usize) -> Kahan {
        Kahan { sum: vec![0.0; n], comp: vec![0.0; n] }
    }

    #[inline]
    pub(super) fn add(&mut self, i: usize, x: f64) {
        let y = x - self.comp[i];
        let t = self.sum[i] + y;
        self.comp[i] = (t - self.sum[i]) - y;
        self.sum[i] = t;
    }

    pub(super) fn values(&self) -> Vec<f64> {
        self.sum.iter().zip(&self.comp).map(|(s, c)| s - c).collect()
    }
}

impl Sums {
    pub(super) fn new(nv: usize, t_n: usize) -> Sums {
        Sums { nv, shift: None, s_a: Vec::new(), by: ByLevel::new(nv, t_n) }
    }

    /// Sets the shift from a chunk's complete rows, once.
    pub(super) fn shift_from(&mut self, c: &Chunk<'_>) {
        if self.shift.is_some() {
            return;
        }
        let rows: Vec<usize> = (0..c.ids[0].len()).filter(|&i| c.numbers.iter().all(|v| !v[i].is_nan())).collect();
        if rows.is_empty() {
            return;
        }
        let nv = self.nv;
        let mean = |v: usize| rows.iter().map(|&i| value(c, nv, v, i)).sum::<f64>() / rows.len() as f64;
        self.shift = Some((0..nv).map(mean).collect());
    }

    /// A row of levels a and b.
    pub(super) fn add(&mut self, a: usize, b: usize, raw: &[f64]) {
        let nv = self.nv;
        if self.s_a.len() < (a + 1) * nv {
            self.s_a.resize(((a + 1) * nv).max(self.s_a.len() * 3 / 2), 0.0);
        }
        let shift = self.shift.as_deref().unwrap_or_default();
        self.by.add(&mut self.s_a[a * nv..(a + 1) * nv], b, shift, 1.0, |v| raw[v]);
    }

    /// Takes out level a's only row, at level b (its sums are its values).
    pub(super) fn remove_row(&mut self, a: usize, b: usize) {
        let nv = self.nv;
        let shift = self.shift.as_deref().unwrap_or_default();
        let row = &mut self.s_a[a * nv..(a + 1) * nv];
        let raw: Vec<f64> = row.iter().enumerate().map(|(v, z)| z + shift.get(v).copied().unwrap_or(0.0)).collect();
        self.by.add(row, b, shift, -1.0, |v| raw[v]);
        row.iter_mut().for_each(|z| *z = 0.0);
    }
}

/// One thread's side of the large fixed effect's levels in the first pass: its slices of
/// the per-level arrays, from level `off`.
pub(super) struct Part<'a> {
    pub(super) off: usize,
    pub(super) mask: &'a mut [u64],
    pub(super) count: &'a mut [u32],
    pub(super) cl_of_a: &'a mut [u32],
    pub(super) s_a: &'a mut [f64],
}

/// What one thread of the first pass sums besides its levels: merged after.
pub(super) struct Local {
    pub(super) n_missing: usize,
    pub(super) extra: Vec<(u32, u8)>,
    pub(super) by: ByLevel,
    pub(super) cl_of_b: Vec<u32>,
    pub(super) nested_a: bool,
    pub(super) nested_b: bool,
}

impl Local {
    pub(super) fn new(nv: usize, t_n: usize) -> Local {
        Local {
            n_missing: 0,
            extra: Vec::new(),
            by: ByLevel::new(nv, t_n),
            cl_of_b: vec![u32::MAX; t_n],
            nested_a: true,
            nested_b: true,
        }
    }
}

impl Part<'_> {
    /// The first pass over the chunk's rows whose level of a is `mine`.
    pub(super) fn rows(
        &mut self,
        local: &mut Local,
        codes: &Codes,
        c: &Chunk<'_>,
        shift: &[f64],
        clustered: bool,
        mine: impl Fn(u32) -> bool,
    ) {
        let nv = local.by.ss_before.len() + 1;
        for i in 0..c.ids[0].len() {
            let code = codes.a[i];
            if !mine(code) {
                continue;
            }
            let b = codes.b[i] as usize;
            let cl = if clustered { codes.cl[i] } else { 0 };
            if code == NONE || b == u8::MAX as usize || cl == NONE || c.numbers.iter().any(|v| v[i].is_nan()) {
                local.n_missing += 1;
                continue;
            }
            let a = code as usize - self.off;
            local.by.add(&mut self.s_a[a * nv..(a + 1) * nv], b, shift, 1.0, |v| value(c, nv, v, i));
            if self.mask[a] & (1 << b) != 0 {
                local.extra.push((code, b as u8));
            }
            self.mask[a] |= 1 << b;
            self.count[a] += 1;
            if clustered {
                for (owner, nested) in
                    [(&mut self.cl_of_a[a], &mut local.nested_a), (&mut local.cl_of_b[b], &mut local.nested_b)]
                {
                    if *owner == u32::MAX {
                        *owner = cl;
                    } else if *owner != cl {
                        *nested = false;
                    }
                }
            }
        }
    }
}

/// A stretch of the a-levels with rows, for the b-system's sums.
pub(super) enum Run {
    /// Consecutive levels with one row per b-level, all with the set of b-levels `mask`
    /// (a balanced panel is one run): the levels of `levels` whose mask is not empty, `n`
    /// of them (levels without rows between them are skipped, not a new run).
    Simple { mask: u64, levels: std::ops::Range<usize>, n: u64 },
    /// One level with some b-level's rows repeated.
    Repeated(usize),
}

/// The a-levels with rows (`mask`, `count`: their b-levels and rows) as [`Run`]s, in order.
pub(super) fn runs<'a>(mask: &'a [u64], count: &'a [u32]) -> impl Iterator<Item = Run> + 'a {
    let mut a = 0;
    std::iter::from_fn(move || {
        while a < mask.len() && mask[a] == 0 {
            a += 1;
        }
        let start = a;
        let mk = *mask.get(start)?;
        let simple = |a: usize| mask[a] == mk && count[a] == mk.count_ones();
        if !simple(start) {
            a += 1;
            return Some(Run::Repeated(start));
        }
        let mut n = 0;
        while a < mask.len() && (mask[a] == 0 || simple(a)) {
            n += u64::from(mask[a] != 0);
            a += 1;
        }
        Some(Run::Simple { mask: mk, levels: start..a, n })
    })
}

/// The set bits of a mask, lowest first.
#[inline]
pub(super) fn bits(mut mask: u64) -> impl Iterator<Item = usize> {
    std::iter::from_fn(move || {
        (mask != 0).then(|| {
            let t = mask.trailing_zeros() as usize;
            mask &= mask - 1;
            t
        })
    })
}

//! Parquet pages of the two nested shapes ingest writes, a struct of flat fields (a
//! geopoint) and a list of flat values (a select_multiple answer), with their repetition
//! and definition levels computed here from validity and offsets.
//!
//! polars-parquet computes the levels of any nesting with its Dremel iterator, which
//! walks every value two or three times (once to count them, once per kind of level):
//! 7% of an ingest's instructions for one geopoint and one select_multiple question.
//! Everything else about a page is still polars' own: the leaves (`to_leaves`), how a
//! row group is cut into pages, the values and their statistics (from polars' page of
//! the flat leaf). The pages are the very bytes polars writes (see the tests in
//! `write` module); any other shape, encoding or page version is left to polars.

use polars::prelude::{PolarsResult, polars_err};
use polars_arrow::array::Array;
use polars_arrow::bitmap::Bitmap;
use polars_arrow::compute::aggregate::estimated_bytes_size;
use polars_arrow::datatypes::ArrowDataType;
use polars_arrow::offset::{Offset, OffsetsBuffer};
use polars_parquet::parquet::CowBuffer;
use polars_parquet::parquet::encoding::hybrid_rle;
use polars_parquet::parquet::page::{DataPage, DataPageHeader};
use polars_parquet::parquet::schema::Repetition;
use polars_parquet::parquet::schema::types::PrimitiveType;
use polars_parquet::write::{
    Encoding, Nested, Page, ParquetType, Version, WriteOptions, array_to_page_simple, array_to_pages,
    slice_parquet_array, to_leaves, to_nested, to_parquet_leaves,
};

/// The pages of each leaf of `array`, as `polars_parquet::write::array_to_columns`
/// makes them, the levels of a flat struct or list computed here.
pub(crate) fn leaf_pages(
    array: &dyn Array,
    type_: ParquetType,
    options: WriteOptions,
    encodings: &[Encoding],
) -> PolarsResult<Vec<Vec<Page>>> {
    let nested = to_nested(array, &type_)?;
    let types = to_parquet_leaves(type_);
    let mut leaves = Vec::new();
    to_leaves(array, &mut leaves);
    if nested.len() != types.len() || leaves.len() != types.len() || encodings.len() != types.len() {
        return Err(polars_err!(ComputeError: "a column's leaves, types and encodings disagree"));
    }
    leaves
        .iter()
        .zip(nested)
        .zip(types)
        .zip(encodings)
        .map(|(((leaf, nested), type_), &encoding)| {
            // polars writes a nested leaf plain whether asked for plain or a dictionary.
            let plain = matches!(encoding, Encoding::Plain | Encoding::RleDictionary);
            if plain && options.version == Version::V1 && ours(leaf.as_ref(), &type_, &nested) {
                pages(leaf.as_ref(), &type_, &nested, options)
            } else {
                array_to_pages(leaf.as_ref(), type_, &nested, options, encoding)?.collect()
            }
        })
        .collect()
}

/// Whether the levels of a leaf are computed here: one struct or list above a leaf that
/// is optional, each level's validity present only where the level is optional.
fn ours(leaf: &dyn Array, type_: &PrimitiveType, nested: &[Nested]) -> bool {
    let consistent = |optional: bool, validity: &Option<Bitmap>| optional || validity.is_none();
    let parent = match nested.first() {
        Some(Nested::Struct(s)) => consistent(s.is_optional, &s.validity),
        Some(Nested::List(l)) => consistent(l.is_optional, &l.validity),
        Some(Nested::LargeList(l)) => consistent(l.is_optional, &l.validity),
        _ => false,
    };
    let child = matches!(nested.get(1), Some(Nested::Primitive(p)) if consistent(p.is_optional, &p.validity));
    parent
        && child
        && nested.len() == 2
        && type_.field_info.repetition == Repetition::Optional
        && !matches!(leaf.dtype().to_storage(), ArrowDataType::Dictionary(..))
}

/// A leaf's pages: its rows cut as polars cuts them (`row_slice_ranges`: about one
/// megabyte of values a page, estimated over the whole leaf).
fn pages(leaf: &dyn Array, type_: &PrimitiveType, nested: &[Nested], options: WriteOptions) -> PolarsResult<Vec<Page>> {
    const PAGE: usize = 1024 * 1024;
    let max_page = options.data_page_size.unwrap_or(PAGE).min((1 << 31) - (1 << 25));
    let rows = nested.first().map_or(0, Nested::len);
    let per_row = if rows == 0 { 0 } else { (estimated_bytes_size(leaf) as f64 / rows as f64) as usize };
    let rows_per_page = (max_page / (per_row + 1)).max(1);
    (0..rows)
        .step_by(rows_per_page)
        .map(|at| {
            let mut leaf = leaf.to_boxed();
            let mut nested = nested.to_vec();
            slice_parquet_array(leaf.as_mut(), &mut nested, at, rows_per_page.min(rows - at));
            page(leaf.as_ref(), type_, &nested, options)
        })
        .collect()
}

/// One page: the levels computed here, then the values and statistics of polars' page
/// of the flat leaf (whose own definition levels are dropped).
fn page(leaf: &dyn Array, type_: &PrimitiveType, nested: &[Nested], options: WriteOptions) -> PolarsResult<Page> {
    let not_v1 = || polars_err!(ComputeError: "a nested leaf's page is not a version 1 data page");
    let Page::Data(flat) = array_to_page_simple(leaf, type_.clone(), options, Encoding::Plain)? else {
        return Err(not_v1());
    };
    let DataPageHeader::V1(mut header) = flat.header().clone() else { return Err(not_v1()) };
    // The flat page: the length of its definition levels (four bytes), them, the values.
    let buffer = flat.buffer();
    let skip = buffer
        .get(..4)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map(|b| 4 + u32::from_le_bytes(b) as usize)
        .filter(|&skip| skip <= buffer.len())
        .ok_or_else(|| polars_err!(ComputeError: "a flat page without its definition levels"))?;
    let levels =
        Levels::of(nested).ok_or_else(|| polars_err!(ComputeError: "a nested leaf of a shape not handled here"))?;
    let mut out = Vec::with_capacity(buffer.len() + levels.def.len() / 2);
    if let Some(rep) = &levels.rep {
        write_levels(&mut out, rep, 1)?;
    }
    write_levels(&mut out, &levels.def, levels.max_def)?;
    out.extend_from_slice(&buffer[skip..]);
    header.num_values = i32::try_from(levels.def.len()).map_err(|_| polars_err!(ComputeError: "a page too large"))?;
    Ok(Page::Data(DataPage::new(
        DataPageHeader::V1(header),
        CowBuffer::Owned(out),
        flat.descriptor.clone(),
        nested.first().map_or(0, Nested::len),
    )))
}

/// A leaf's levels, one per value or per empty or missing parent (Dremel's encoding).
struct Levels {
    /// Repetition levels (0: a row's first value, 1: a further value of its list), for a
    /// list only.
    rep: Option<Vec<u32>>,
    def: Vec<u32>,
    max_def: u32,
}

impl Levels {
    /// The levels of a leaf under one struct or list ([`ours`] has checked the shape;
    /// `None` for any other).
    fn of(nested: &[Nested]) -> Option<Self> {
        let [parent, Nested::Primitive(leaf)] = nested else { return None };
        let leaf_valid = |i: usize| u32::from(leaf.is_optional && valid(&leaf.validity, i));
        match parent {
            Nested::Struct(s) => {
                let (so, lo) = (u32::from(s.is_optional), u32::from(leaf.is_optional));
                let def = (0..s.length)
                    .map(|i| if s.is_optional && !valid(&s.validity, i) { 0 } else { so + leaf_valid(i) })
                    .collect();
                Some(Levels { rep: None, def, max_def: so + lo })
            }
            Nested::List(l) => Some(Self::list(&l.offsets, l.is_optional, &l.validity, leaf.is_optional, leaf_valid)),
            Nested::LargeList(l) => {
                Some(Self::list(&l.offsets, l.is_optional, &l.validity, leaf.is_optional, leaf_valid))
            }
            _ => None,
        }
    }

    /// A list's levels: a missing list is one level (0, 0), an empty one (0, optional),
    /// each value (0 first, then 1; its parent's levels, 1 for being there, and 1 if
    /// present). The leaf's validity starts at the list's first offset.
    fn list<O: Offset>(
        offsets: &OffsetsBuffer<O>,
        optional: bool,
        validity: &Option<Bitmap>,
        leaf_optional: bool,
        leaf_valid: impl Fn(usize) -> u32,
    ) -> Self {
        let lo = u32::from(optional);
        let offsets = offsets.buffer();
        let first = offsets.first().map_or(0, |o| o.to_usize());
        let n = offsets.last().map_or(0, |o| o.to_usize()).saturating_sub(first) + offsets.len();
        let (mut rep, mut def) = (Vec::with_capacity(n), Vec::with_capacity(n));
        for (i, w) in offsets.windows(2).enumerate() {
            let (start, end) = (w[0].to_usize(), w[1].to_usize());
            if optional && !valid(validity, i) {
                rep.push(0);
                def.push(0);
            } else if start == end {
                rep.push(0);
                def.push(lo);
            } else {
                for j in start..end {
                    rep.push(u32::from(j != start));
                    def.push(lo + 1 + leaf_valid(j - first));
                }
            }
        }
        Levels { rep: Some(rep), def, max_def: lo + 1 + u32::from(leaf_optional) }
    }
}

fn valid(validity: &Option<Bitmap>, i: usize) -> bool {
    validity.as_ref().is_none_or(|b| b.get_bit(i))
}

/// Levels as a version 1 page holds them: their length in four bytes, then the levels
/// in Parquet's run-length / bit-packed hybrid, as wide as the largest level needs.
fn write_levels(out: &mut Vec<u8>, levels: &[u32], max: u32) -> PolarsResult<()> {
    if max == 0 {
        return Ok(());
    }
    out.extend_from_slice(&[0; 4]);
    let start = out.len();
    hybrid_rle::encode::<u32, _, _>(out, levels.iter().copied(), 32 - max.leading_zeros())?;
    let length = i32::try_from(out.len() - start).map_err(|_| polars_err!(ComputeError: "levels too long"))?;
    out[start - 4..start].copy_from_slice(&length.to_le_bytes());
    Ok(())
}

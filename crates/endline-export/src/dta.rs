//! Stata's `.dta` format, release 118 (Stata 14 and later: UTF-8 text, up to 32,767
//! variables), written from a plain in-memory model. Only what endline exports is
//! written: doubles, longs and fixed-width strings (`str1`–`str2045`), variable labels,
//! value labels, a dataset label, and Stata's missing values (`.`, `.a`–`.z`). The
//! layout follows Stata's own description of the format (`help dta`): a header, a map
//! of section offsets, the variable descriptors, the data row by row, and the value
//! label tables, all little-endian. No timestamp is written, so the same data give the
//! same bytes.

/// A numeric cell: a value, or missing (`0` is `.`, `1` is `.a`, … `26` is `.z`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Num {
    /// A value.
    Value(f64),
    /// A missing value: 0 for `.`, 1–26 for `.a`–`.z`.
    Missing(u8),
}

/// A variable's cells.
#[derive(Debug, Clone, PartialEq)]
pub enum Cells {
    /// 8-byte floating point (`double`).
    Double(Vec<Num>),
    /// 4-byte integers (`long`); values must lie within Stata's range for longs.
    Long(Vec<Num>),
    /// Text, stored as `str#` (at most 2,045 bytes); a missing text is empty.
    Str(Vec<String>),
}

/// One variable.
#[derive(Debug, Clone, PartialEq)]
pub struct Var {
    /// Its name: at most 32 characters, a letter or `_` then letters, digits and `_`.
    pub name: String,
    /// Its label (at most 80 characters are kept by Stata; longer ones are cut).
    pub label: String,
    /// Its display format (`%10.0g`, `%td`, `%-20s`).
    pub format: String,
    /// The value label table it uses, if any.
    pub value_labels: Option<String>,
    /// Its cells.
    pub cells: Cells,
}

/// A value label table: integer values and their labels.
#[derive(Debug, Clone, PartialEq)]
pub struct ValueLabels {
    /// The table's name.
    pub name: String,
    /// Value → label (a missing value `.a` is written as Stata's code for it).
    pub entries: Vec<(Num, String)>,
}

/// A dataset.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Dataset {
    /// The dataset's label.
    pub label: String,
    /// Its variables, each with the same number of cells.
    pub vars: Vec<Var>,
    /// Its value label tables.
    pub value_labels: Vec<ValueLabels>,
}

/// The longest `str#`.
pub const MAX_STR: usize = 2045;
/// The largest value a Stata `long` holds (above it are its missing codes).
pub const MAX_LONG: i64 = 2_147_483_620;
/// The smallest.
pub const MIN_LONG: i64 = -2_147_483_647;

const DOUBLE: u16 = 65526;
const LONG: u16 = 65528;

fn double_bits(n: Num) -> u64 {
    match n {
        Num::Value(v) if v.is_finite() => v.to_bits(),
        Num::Value(_) => 0x7fe0_0000_0000_0000,
        Num::Missing(k) => 0x7fe0_0000_0000_0000 + (u64::from(k.min(26)) << 40),
    }
}

fn long_bits(n: Num) -> i32 {
    match n {
        Num::Value(v) => v as i32,
        Num::Missing(k) => 2_147_483_621 + i32::from(k.min(26)),
    }
}

/// `s` cut to at most `max` bytes on a character boundary.
fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// `s` in a field of `width` bytes, zero-padded (and cut to leave a terminating zero).
fn fixed(out: &mut Vec<u8>, s: &str, width: usize) {
    let s = cut(s, width - 1);
    out.extend_from_slice(s.as_bytes());
    out.extend(std::iter::repeat_n(0u8, width - s.len()));
}

fn tag(out: &mut Vec<u8>, t: &str) {
    out.extend_from_slice(t.as_bytes());
}

/// Whether `name` is a valid Stata variable name.
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= 32
}

/// The bytes of a dataset, or why it cannot be written.
pub fn write(ds: &Dataset) -> Result<Vec<u8>, String> {
    let k = ds.vars.len();
    if k > 32_767 {
        return Err(format!("{k} variables: a .dta file holds at most 32,767"));
    }
    let n = ds.vars.first().map_or(0, |v| len(&v.cells));
    let mut widths = Vec::with_capacity(k);
    for v in &ds.vars {
        if !valid_name(&v.name) {
            return Err(format!("`{}` is not a Stata variable name", v.name));
        }
        if len(&v.cells) != n {
            return Err(format!("`{}` has {} values, not {n}", v.name, len(&v.cells)));
        }
        widths.push(match &v.cells {
            Cells::Double(_) => (DOUBLE, 8usize),
            Cells::Long(cells) => {
                if let Some(Num::Value(bad)) = cells.iter().find(
                    |c| matches!(c, Num::Value(x) if x.fract() != 0.0 || *x < MIN_LONG as f64 || *x > MAX_LONG as f64),
                ) {
                    return Err(format!("`{}` holds {bad}, which a Stata long cannot", v.name));
                }
                (LONG, 4)
            }
            Cells::Str(cells) => {
                let w = cells.iter().map(String::len).max().unwrap_or(0).max(1);
                if w > MAX_STR {
                    return Err(format!(
                        "`{}` holds text of {w} bytes; a Stata str# holds at most {MAX_STR} (strL is not written)",
                        v.name
                    ));
                }
                (w as u16, w)
            }
        });
    }
    let mut out = Vec::new();
    let mut map = [0u64; 14];
    tag(&mut out, "<stata_dta><header><release>118</release><byteorder>LSF</byteorder><K>");
    out.extend_from_slice(&(k as u16).to_le_bytes());
    tag(&mut out, "</K><N>");
    out.extend_from_slice(&(n as u64).to_le_bytes());
    tag(&mut out, "</N><label>");
    let label = cut(&ds.label, 320);
    out.extend_from_slice(&(label.len() as u16).to_le_bytes());
    out.extend_from_slice(label.as_bytes());
    tag(&mut out, "</label><timestamp>");
    out.push(0);
    tag(&mut out, "</timestamp></header>");
    map[1] = out.len() as u64;
    tag(&mut out, "<map>");
    let map_at = out.len();
    out.extend(std::iter::repeat_n(0u8, 14 * 8));
    tag(&mut out, "</map>");
    map[2] = out.len() as u64;
    tag(&mut out, "<variable_types>");
    for (t, _) in &widths {
        out.extend_from_slice(&t.to_le_bytes());
    }
    tag(&mut out, "</variable_types>");
    // One fixed-width field per variable, in a tagged section.
    let per_var = |out: &mut Vec<u8>, section: &str, width: usize, text: &dyn Fn(&Var) -> &str| {
        tag(out, &format!("<{section}>"));
        for v in &ds.vars {
            fixed(out, text(v), width);
        }
        tag(out, &format!("</{section}>"));
    };
    map[3] = out.len() as u64;
    per_var(&mut out, "varnames", 129, &|v| &v.name);
    map[4] = out.len() as u64;
    tag(&mut out, "<sortlist>");
    out.extend(std::iter::repeat_n(0u8, 2 * (k + 1)));
    tag(&mut out, "</sortlist>");
    map[5] = out.len() as u64;
    per_var(&mut out, "formats", 57, &|v| &v.format);
    map[6] = out.len() as u64;
    per_var(&mut out, "value_label_names", 129, &|v| v.value_labels.as_deref().unwrap_or(""));
    map[7] = out.len() as u64;
    per_var(&mut out, "variable_labels", 321, &|v| &v.label);
    map[8] = out.len() as u64;
    tag(&mut out, "<characteristics></characteristics>");
    map[9] = out.len() as u64;
    tag(&mut out, "<data>");
    for r in 0..n {
        for (v, (_, w)) in ds.vars.iter().zip(&widths) {
            match &v.cells {
                Cells::Double(c) => out.extend_from_slice(&double_bits(c[r]).to_le_bytes()),
                Cells::Long(c) => out.extend_from_slice(&long_bits(c[r]).to_le_bytes()),
                Cells::Str(c) => {
                    out.extend_from_slice(c[r].as_bytes());
                    out.extend(std::iter::repeat_n(0u8, w - c[r].len()));
                }
            }
        }
    }
    tag(&mut out, "</data>");
    map[10] = out.len() as u64;
    tag(&mut out, "<strls></strls>");
    map[11] = out.len() as u64;
    tag(&mut out, "<value_labels>");
    for table in &ds.value_labels {
        let mut txt = Vec::new();
        let mut offsets = Vec::new();
        for (_, l) in &table.entries {
            offsets.push(txt.len() as i32);
            txt.extend_from_slice(cut(l, 32_000).as_bytes());
            txt.push(0);
        }
        let count = table.entries.len();
        let body_len = 8 + 8 * count + txt.len();
        tag(&mut out, "<lbl>");
        out.extend_from_slice(&(body_len as i32).to_le_bytes());
        fixed(&mut out, &table.name, 129);
        out.extend_from_slice(&[0u8; 3]);
        out.extend_from_slice(&(count as i32).to_le_bytes());
        out.extend_from_slice(&(txt.len() as i32).to_le_bytes());
        for o in &offsets {
            out.extend_from_slice(&o.to_le_bytes());
        }
        for (v, _) in &table.entries {
            out.extend_from_slice(&long_bits(*v).to_le_bytes());
        }
        out.extend_from_slice(&txt);
        tag(&mut out, "</lbl>");
    }
    tag(&mut out, "</value_labels>");
    map[12] = out.len() as u64;
    tag(&mut out, "</stata_dta>");
    map[13] = out.len() as u64;
    for (i, m) in map.iter().enumerate() {
        out[map_at + 8 * i..map_at + 8 * i + 8].copy_from_slice(&m.to_le_bytes());
    }
    Ok(out)
}

fn len(c: &Cells) -> usize {
    match c {
        Cells::Double(v) | Cells::Long(v) => v.len(),
        Cells::Str(v) => v.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_layout_holds_its_offsets_and_missing_codes() {
        let ds = Dataset {
            label: "t".into(),
            vars: vec![
                Var {
                    name: "x".into(),
                    label: "X".into(),
                    format: "%10.0g".into(),
                    value_labels: Some("x".into()),
                    cells: Cells::Long(vec![Num::Value(1.0), Num::Missing(1)]),
                },
                Var {
                    name: "s".into(),
                    label: "S".into(),
                    format: "%-3s".into(),
                    value_labels: None,
                    cells: Cells::Str(vec!["ab".into(), "边".into()]),
                },
            ],
            value_labels: vec![ValueLabels { name: "x".into(), entries: vec![(Num::Value(1.0), "one".into())] }],
        };
        let b = write(&ds).unwrap_or_else(|e| panic!("{e}"));
        assert!(b.starts_with(b"<stata_dta><header><release>118</release>"));
        assert!(b.ends_with(b"</stata_dta>"));
        let data = b.windows(6).position(|w| w == b"<data>").unwrap_or(0) + 6;
        // Row 1: x = 1 (long), s = "ab" in 3 bytes; row 2: x = .a, s = "边".
        assert_eq!(&b[data..data + 7], &[1, 0, 0, 0, b'a', b'b', 0]);
        assert_eq!(i32::from_le_bytes([b[data + 7], b[data + 8], b[data + 9], b[data + 10]]), 2_147_483_622);
        assert!(write(&Dataset { vars: vec![Var { name: "1x".into(), ..ds.vars[0].clone() }], ..ds.clone() }).is_err());
        let big = Var { cells: Cells::Long(vec![Num::Value(3e9), Num::Value(1.0)]), ..ds.vars[0].clone() };
        assert!(write(&Dataset { vars: vec![big], ..ds }).is_err_and(|e| e.contains("cannot")));
    }
}

//! The dialects of XLSForm in use: pyxform's aliases, KoboToolbox's and SurveyCTO's
//! spellings, and the types each platform adds, mapped onto endline's survey format.

/// A column header, read: its canonical name and, for a translatable column, the
/// language as written (`English (en)`, `Hindi`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Header {
    pub key: String,
    pub lang: Option<String>,
}

/// Columns whose text is given per language.
const TRANSLATABLE: &[&str] = &[
    "label",
    "hint",
    "guidance_hint",
    "constraint_message",
    "required_message",
    "media::image",
    "media::big-image",
    "media::audio",
    "media::video",
];

/// Reads a header: case, spaces and the one-colon spellings are normalised, and each
/// alias becomes the name pyxform documents.
pub(crate) fn header(raw: &str) -> Header {
    const PREFIXES: &[&str] = &["bind", "control", "body", "instance", "media", "jr"];
    let text = raw.trim();
    let lower = |s: &str| s.trim().to_ascii_lowercase().split_whitespace().collect::<Vec<_>>().join("_");
    // `label::English (en)`, `bind::relevant`, and the one-colon spellings: SurveyCTO's
    // `label:Hindi`, `jr:count`, `media:image`.
    let parts: Vec<&str> = text.split("::").collect();
    let (mut base, mut rest): (String, Vec<String>) = if PREFIXES.contains(&lower(parts[0]).as_str()) && parts.len() > 1
    {
        (format!("{}::{}", lower(parts[0]), lower(parts[1])), parts[2..].iter().map(|p| p.to_string()).collect())
    } else {
        (lower(parts[0]), parts[1..].iter().map(|p| p.to_string()).collect())
    };
    if !base.contains("::")
        && let Some((l, r)) = parts[0].split_once(':')
    {
        if PREFIXES.contains(&lower(l).as_str()) {
            base = format!("{}::{}", lower(l), lower(r));
        } else {
            base = lower(l);
            rest.insert(0, r.to_string());
        }
    }
    let key = alias(&base).to_string();
    let lang = (!rest.is_empty()).then(|| rest.join(":").trim().to_string()).filter(|l| !l.is_empty());
    if lang.is_some() && !TRANSLATABLE.contains(&key.as_str()) {
        // Not a language: a column of its own (such as a choices sheet's filter column).
        return Header { key: text.to_string(), lang: None };
    }
    Header { key, lang }
}

fn alias(base: &str) -> &str {
    match base {
        "relevance" | "bind::relevant" => "relevant",
        "bind::constraint" => "constraint",
        "constraint_msg" | "jr::constraintmsg" | "bind::jr:constraintmsg" => "constraint_message",
        "required_msg" | "jr::requiredmsg" | "bind::jr:requiredmsg" => "required_message",
        "calculate" | "bind::calculate" => "calculation",
        "readonly" | "bind::readonly" => "read_only",
        "control::appearance" => "appearance",
        "jr::count" | "control::jr:count" => "repeat_count",
        "image" => "media::image",
        "big-image" => "media::big-image",
        "audio" => "media::audio",
        "video" => "media::video",
        "value" => "name",
        "id_string" => "form_id",
        "title" => "form_title",
        "bind::required" => "required",
        other => other,
    }
}

/// A language as written in a header (`English (en)`, `Hindi`, `fr`): its code, and
/// whether the code was guessed (a name without a code, or none at all).
pub(crate) fn language_code(written: &str) -> (String, bool) {
    let w = written.trim();
    if let Some(open) = w.rfind('(')
        && let Some(code) = w[open + 1..].strip_suffix(')')
        && endline_survey::is_language_tag(code.trim())
    {
        return (code.trim().to_string(), false);
    }
    if endline_survey::is_language_tag(&w.to_ascii_lowercase()) {
        return (w.to_ascii_lowercase(), false);
    }
    let name = w.to_ascii_lowercase();
    if let Some(code) = crate::export::LANGUAGES.iter().find(|(_, n)| n.eq_ignore_ascii_case(&name)).map(|(c, _)| *c) {
        return (code.to_string(), true);
    }
    // Undetermined, with the name as a private-use subtag: `und-x-kreyol`.
    let private: String = name.chars().filter(char::is_ascii_alphanumeric).take(8).collect();
    (if private.is_empty() { "und".into() } else { format!("und-x-{private}") }, true)
}

/// What a row's `type` cell asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RowType {
    /// An endline type as written in the YAML (`integer`, `select_one yes_no`).
    Plain(String),
    /// A select over a list, possibly with pyxform's `or_other`.
    Select {
        multi: bool,
        list: String,
        or_other: bool,
    },
    BeginGroup,
    EndGroup,
    BeginRepeat,
    EndRepeat,
    /// Platform metadata (start, deviceid…): no question; `identifies` says whether its
    /// column identifies a person or a device.
    Meta {
        identifies: bool,
    },
    /// A type endline keeps as another (`image` as text, the file's name): the type it
    /// becomes and what is lost.
    Kept {
        as_type: &'static str,
        why: &'static str,
    },
    /// `range`: a number, bounded by its `parameters`.
    Range,
    /// pyxform's deprecated `begin loop over LIST` (a group per choice).
    Loop,
    Unknown,
}

/// Reads a `type` cell, in pyxform's spellings (its `question_type_dictionary` and
/// `aliases`, compared without case) and the platforms' additions.
pub(crate) fn row_type(cell: &str) -> RowType {
    let words: Vec<String> = cell.split_whitespace().map(str::to_string).collect();
    let lower: Vec<String> = words.iter().map(|w| w.to_ascii_lowercase()).collect();
    // Selects: a prefix naming the kind, then the list, then perhaps `or_other`.
    const SELECTS: &[(&str, Option<bool>)] = &[
        ("select_one", Some(false)),
        ("select1", Some(false)),
        ("select one from", Some(false)),
        ("select one using", Some(false)),
        ("select one", Some(false)),
        ("add select one prompt using", Some(false)),
        ("q select1", Some(false)),
        ("select_multiple", Some(true)),
        ("select all that apply from", Some(true)),
        ("select all that apply", Some(true)),
        ("select multiple from", Some(true)),
        ("select multiple using", Some(true)),
        ("select multiple", Some(true)),
        ("add select multiple prompt using", Some(true)),
        ("q select", Some(true)),
        // Choices the form does not carry.
        ("select_one_from_file", None),
        ("select_multiple_from_file", None),
        ("select one from file", None),
        ("select multiple from file", None),
        ("select_one_external", None),
        ("select one external", None),
    ];
    for (prefix, multi) in SELECTS {
        let p: Vec<&str> = prefix.split(' ').collect();
        if lower.len() <= p.len() || lower[..p.len()] != p[..] {
            continue;
        }
        let rest = &words[p.len()..];
        let Some(multi) = multi else {
            return RowType::Kept {
                as_type: "text",
                why: "the choices live outside the form (a file or an external list): the answer is kept as text",
            };
        };
        if rest[0].starts_with("${") {
            return RowType::Kept { as_type: "text", why: "choices from earlier answers are kept as text" };
        }
        let tail: Vec<String> = rest[1..].iter().map(|w| w.to_ascii_lowercase()).collect();
        let or_other = match tail.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
            [] => false,
            ["or_other"] | ["or", "specify", "other"] => true,
            _ => return RowType::Unknown,
        };
        return RowType::Select { multi: *multi, list: rest[0].clone(), or_other };
    }
    let joined = lower.join(" ");
    let kept = |as_type, why| RowType::Kept { as_type, why };
    let text = |t: &str| RowType::Plain(t.into());
    match joined.as_str() {
        "text" | "string" | "q string" | "add text prompt" | "phone number" => text("text"),
        "integer"
        | "int"
        | "q int"
        | "add integer prompt"
        | "percentage"
        | "number of days in last month"
        | "number of days in last six months"
        | "number of days in last year" => text("integer"),
        "decimal" | "q decimal" | "add decimal prompt" => text("decimal"),
        "date" | "q date" | "add date prompt" => text("date"),
        "datetime" | "date time" | "q datetime" | "q date time" | "add datetime prompt" | "add date time prompt" => {
            text("datetime")
        }
        "geopoint" | "gps" | "location" | "q geopoint" | "q location" | "add location prompt" => text("geopoint"),
        "note" | "q note" | "add note prompt" => text("note"),
        "calculate" | "q calculate" | "add calculate prompt" => text("calculate"),
        "begin group" | "begin_group" | "begin lgroup" => RowType::BeginGroup,
        "end group" | "end_group" | "end lgroup" | "end loop" => RowType::EndGroup,
        "begin repeat" | "begin_repeat" | "begin looped group" => RowType::BeginRepeat,
        "end repeat" | "end_repeat" | "end looped group" => RowType::EndRepeat,
        "start"
        | "end"
        | "today"
        | "start time"
        | "end time"
        | "get start time"
        | "get end time"
        | "get today"
        | "audit"
        | "background-audio"
        | "text audit"
        | "audio audit"
        | "speed violations count"
        | "speed violations list"
        | "speed violations audit"
        | "sensor_statistic"
        | "sensor_stream"
        | "comments"
        | "xml-external"
        | "csv-external" => RowType::Meta { identifies: false },
        "caseid" => kept("text", "SurveyCTO's case ID is kept as text: the ID of the case the form was opened for"),
        "deviceid"
        | "device id"
        | "get device id"
        | "imei"
        | "subscriberid"
        | "subscriber id"
        | "get subscriber id"
        | "simserial"
        | "sim id"
        | "get sim id"
        | "phonenumber"
        | "get phone number"
        | "username"
        | "email"
        | "uri:deviceid"
        | "uri:email"
        | "uri:phonenumber"
        | "uri:simserial"
        | "uri:subscriberid"
        | "uri:username"
        | "start-geopoint"
        | "background-geopoint" => RowType::Meta { identifies: true },
        // A text question with no control: endline exports an unlabelled text as `hidden`.
        "hidden" => text("text"),
        "time" => kept("text", "a time of day is kept as text, as the device records it"),
        "image" | "photo" | "q image" | "q picture" | "add image prompt" | "add photo prompt" | "audio" | "q audio"
        | "add audio prompt" | "video" | "q video" | "add video prompt" | "file" | "add file prompt"
        | "background-video" | "osm" => kept("text", "a media answer is kept as text: the attachment's file name"),
        "barcode" | "q barcode" | "add barcode prompt" => kept("text", "a barcode is kept as text: the scanned value"),
        "geotrace" | "geoshape" | "q geotrace" | "q geoshape" => {
            kept("text", "a trace or shape is kept as text: its points, as the device writes them")
        }
        "acknowledge" | "q acknowledge" | "add acknowledge prompt" | "trigger" => {
            kept("text", "an acknowledgement is kept as text (`OK` when acknowledged)")
        }
        "calculate_here" => kept("text", "SurveyCTO's calculate_here is kept as text: the value the device computed"),
        "range" => RowType::Range,
        _ if joined.starts_with("begin loop") => RowType::Loop,
        _ => match lower.first().map(String::as_str) {
            Some("rank") => kept("text", "a ranking is kept as text: the choices in ranked order, space-separated"),
            Some("sensor_statistic" | "sensor_stream") => RowType::Meta { identifies: false },
            Some("osm") => kept("text", "an OpenStreetMap answer is kept as text: the attachment's file name"),
            _ => RowType::Unknown,
        },
    }
}

/// Columns of the survey sheet that XLSForm or a platform uses but endline does not
/// keep: each filled cell is warned about, and says which platform it belongs to.
pub(crate) fn platform_column(key: &str) -> Option<&'static str> {
    Some(match key {
        "media::image" | "media::big-image" | "media::audio" | "media::video" => "media for the device",
        "guidance_hint" => "a guidance hint for the enumerator",
        "parameters" => "parameters for the device",
        "trigger" => "ODK's trigger",
        "autoplay" => "ODK's autoplay",
        "save_to" => "ODK entities' save_to",
        "body::accuracythreshold" | "body::intent" => "an ODK body attribute",
        "publishable" => "SurveyCTO's publishable",
        "response_note" => "SurveyCTO's response note",
        "note" => "SurveyCTO's note column",
        "disabled" => "pyxform's disabled",
        "instance_name" => "a repeat's instance name",
        "tag" | "kobo--score-choices" | "kobo--rank-items" | "kobo--rank-constraint-message" => {
            "KoboToolbox's question library"
        }
        k if k.starts_with("bind::") || k.starts_with("body::") || k.starts_with("control::") => {
            "a raw XForm attribute"
        }
        k if k.starts_with("instance::") => "an XForm instance attribute",
        _ => return None,
    })
}

/// The survey sheet's columns that endline maps.
pub(crate) const SURVEY_COLUMNS: &[&str] = &[
    "type",
    "name",
    "label",
    "hint",
    "required",
    "required_message",
    "relevant",
    "constraint",
    "constraint_message",
    "calculation",
    "default",
    "appearance",
    "read_only",
    "choice_filter",
    "repeat_count",
    "endline::unit",
    "endline::pii",
    "endline::missing",
    "endline::description",
    "endline::renamed_from",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_and_types_in_every_dialect() {
        let h = |s: &str| {
            let h = header(s);
            (h.key, h.lang)
        };
        assert_eq!(h("label::English (en)"), ("label".into(), Some("English (en)".into())));
        assert_eq!(h("Label:Hindi"), ("label".into(), Some("Hindi".into())));
        assert_eq!(h("constraint message"), ("constraint_message".into(), None));
        assert_eq!(h("jr:constraintMsg"), ("constraint_message".into(), None));
        assert_eq!(h("bind::jr:constraintMsg::French (fr)"), ("constraint_message".into(), Some("French (fr)".into())));
        assert_eq!(h("jr:count"), ("repeat_count".into(), None));
        assert_eq!(h("media:image"), ("media::image".into(), None));
        assert_eq!(h("read only"), ("read_only".into(), None));
        assert_eq!(h("relevance"), ("relevant".into(), None));
        assert_eq!(h("value"), ("name".into(), None));
        assert_eq!(language_code("English (en)"), ("en".into(), false));
        assert_eq!(language_code("French"), ("fr".into(), true));
        assert_eq!(language_code("Kreyòl"), ("und-x-kreyl".into(), true));
        assert_eq!(row_type("begin group"), RowType::BeginGroup);
        assert_eq!(row_type("begin_repeat"), RowType::BeginRepeat);
        assert_eq!(
            row_type("select_one yes_no or_other"),
            RowType::Select { multi: false, list: "yes_no".into(), or_other: true }
        );
        assert_eq!(
            row_type("select all that apply crops"),
            RowType::Select { multi: true, list: "crops".into(), or_other: false }
        );
        assert_eq!(row_type("dateTime"), RowType::Plain("datetime".into()));
        assert_eq!(row_type("deviceid"), RowType::Meta { identifies: true });
        assert!(matches!(row_type("select_one_from_file villages.csv"), RowType::Kept { .. }));
        assert_eq!(
            row_type("select one from sexes"),
            RowType::Select { multi: false, list: "sexes".into(), or_other: false }
        );
        assert_eq!(
            row_type("select all that apply from toilet_type or specify other"),
            RowType::Select { multi: true, list: "toilet_type".into(), or_other: true }
        );
        assert_eq!(row_type("phone number"), RowType::Plain("text".into()));
        assert_eq!(row_type("imei"), RowType::Meta { identifies: true });
        assert_eq!(language_code("EN"), ("en".into(), false));
        assert_eq!(row_type("selectone"), RowType::Unknown);
    }
}

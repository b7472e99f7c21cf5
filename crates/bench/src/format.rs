//! How reports are written out: a small JSON writer for `--json` output (the crate has no serde;
//! the reports are flat enough not to need it), text escaped for the hand-written SVG charts,
//! thousands-grouped numbers and `median (min..max)` cells for text tables, and the dated
//! `<benchmark>-<date>.{md,json}` files.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::load::LoadError;
use crate::Summary;

/// A minimal JSON object writer: keys in insertion order, values already encoded.
#[derive(Default)]
pub(crate) struct JsonObject {
    out: String,
}

impl JsonObject {
    pub(crate) fn new() -> JsonObject {
        JsonObject::default()
    }

    fn key(&mut self, key: &str) {
        self.out.push(if self.out.is_empty() { '{' } else { ',' });
        self.out.push_str(&json_string(key));
        self.out.push(':');
    }

    pub(crate) fn str(&mut self, key: &str, value: &str) -> &mut Self {
        self.key(key);
        self.out.push_str(&json_string(value));
        self
    }

    pub(crate) fn num(&mut self, key: &str, value: f64) -> &mut Self {
        self.key(key);
        self.out.push_str(&json_number(value));
        self
    }

    pub(crate) fn bool(&mut self, key: &str, value: bool) -> &mut Self {
        self.key(key);
        self.out.push_str(if value { "true" } else { "false" });
        self
    }

    /// Insert an already-encoded JSON value (an object or an array).
    pub(crate) fn raw(&mut self, key: &str, json: &str) -> &mut Self {
        self.key(key);
        self.out.push_str(json);
        self
    }

    pub(crate) fn finish(&mut self) -> String {
        if self.out.is_empty() {
            return "{}".to_string();
        }
        let mut s = std::mem::take(&mut self.out);
        s.push('}');
        s
    }
}

/// Encode a JSON array of already-encoded values.
pub(crate) fn json_array(items: impl IntoIterator<Item = String>) -> String {
    let items: Vec<String> = items.into_iter().collect();
    format!("[{}]", items.join(","))
}

/// Encode a JSON array of strings.
pub(crate) fn json_strings(items: &[String]) -> String {
    json_array(items.iter().map(|s| json_string(s)))
}

/// Encode a JSON number; NaN and infinities (which JSON lacks) become `null`.
pub(crate) fn json_number(v: f64) -> String {
    if v.is_finite() {
        format!("{v}")
    } else {
        "null".to_string()
    }
}

/// Encode a JSON string with the escapes RFC 8259 requires (the client's, one for both).
pub(crate) use ringlog_client::cli::json_string;

/// Escape text for SVG (XML character data).
pub(crate) fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// `1234567.8` -> `"1,234,568"`; small values keep two decimals.
pub fn human(v: f64) -> String {
    if !v.is_finite() {
        return "n/a".into();
    }
    if v.abs() < 100.0 {
        return format!("{v:.2}");
    }
    let digits = format!("{:.0}", v.abs());
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    if v < 0.0 {
        out.insert(0, '-');
    }
    out
}

/// A count, thousands grouped, whole (`human` keeps two decimals below 100).
pub(crate) fn count(n: u64) -> String {
    if n < 100 {
        n.to_string()
    } else {
        human(n as f64)
    }
}

/// `median (min..max)` with `digits` decimals (0: thousands grouped), or `n/a`.
pub(crate) fn cell(s: Option<Summary>, digits: usize) -> String {
    match s {
        Some(s) if digits == 0 => {
            format!("{} ({}..{})", human(s.median), human(s.min), human(s.max))
        }
        Some(s) => format!(
            "{:.d$} ({:.d$}..{:.d$})",
            s.median,
            s.min,
            s.max,
            d = digits
        ),
        None => "n/a".into(),
    }
}

/// The Markdown section of the rounds that failed, with why (nothing when none did).
pub(crate) fn failures_markdown(s: &mut String, failures: &[String]) {
    if !failures.is_empty() {
        let _ = writeln!(s, "\n## Failed rounds\n");
        for f in failures {
            let _ = writeln!(s, "- {f}");
        }
    }
}

/// `{"median":..,"min":..,"max":..}`, or `null`.
pub(crate) fn summary_json(s: Option<Summary>) -> String {
    match s {
        Some(s) => JsonObject::new()
            .num("median", s.median)
            .num("min", s.min)
            .num("max", s.max)
            .finish(),
        None => "null".into(),
    }
}

/// Writes `<name>-<date>.md` (`markdown`) and `<name>-<date>.json` (`json` and a newline) into
/// `dir`, which exists; the date is `now_ms`'s, UTC. Returns the Markdown file's path.
pub(crate) fn write_dated(
    dir: &Path,
    name: &str,
    now_ms: i64,
    markdown: String,
    json: String,
) -> Result<PathBuf, LoadError> {
    let stamp = file_stamp(&ringlog_client::cli::format_rfc3339_ms(now_ms));
    let write = |file: String, text: String| {
        let path = dir.join(file);
        std::fs::write(&path, text)
            .map_err(|e| LoadError(format!("{}: {e}", path.display())))
            .map(|()| path)
    };
    let md = write(format!("{name}-{stamp}.md"), markdown)?;
    write(format!("{name}-{stamp}.json"), json + "\n")?;
    Ok(md)
}

/// `2026-12-01T23:10:05.123Z` -> `20261201-231005`.
fn file_stamp(rfc3339: &str) -> String {
    let digits: String = rfc3339
        .chars()
        .take_while(|&ch| ch != '.')
        .filter(char::is_ascii_digit)
        .collect();
    match digits.len() {
        14 => format!("{}-{}", &digits[..8], &digits[8..]),
        _ => digits,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_escapes_strings_and_nulls_non_finite_numbers() {
        assert_eq!(json_string("a\"b\\c\n\u{1}"), r#""a\"b\\c\n\u0001""#);
        assert_eq!(json_number(f64::NAN), "null");
        assert_eq!(json_number(2.5), "2.5");
        let obj = JsonObject::new()
            .str("k", "v")
            .num("n", 1.0)
            .bool("b", true)
            .raw("a", &json_array(["1".to_string(), "2".to_string()]))
            .finish();
        assert_eq!(obj, r#"{"k":"v","n":1,"b":true,"a":[1,2]}"#);
        assert_eq!(JsonObject::new().finish(), "{}");
    }

    #[test]
    fn xml_escapes_markup() {
        assert_eq!(xml("a<b>&c"), "a&lt;b&gt;&amp;c");
    }

    #[test]
    fn human_groups_thousands() {
        assert_eq!(human(1_234_567.8), "1,234,568");
        assert_eq!(human(214_000.0), "214,000");
        assert_eq!(human(4.257), "4.26");
        assert_eq!(human(-1234.0), "-1,234");
        assert_eq!(human(f64::INFINITY), "n/a");
        assert_eq!(human(f64::NAN), "n/a");
    }

    #[test]
    fn counts_are_whole_and_grouped() {
        assert_eq!(count(0), "0");
        assert_eq!(count(99), "99");
        assert_eq!(count(999), "999");
        assert_eq!(count(4_608), "4,608");
        assert_eq!(count(1_234_567), "1,234,567");
    }

    #[test]
    fn cells_are_median_min_max_or_na() {
        let s = Summary {
            median: 1_500.25,
            min: 1_000.0,
            max: 2_000.25,
        };
        assert_eq!(cell(Some(s), 0), "1,500 (1,000..2,000)");
        assert_eq!(cell(Some(s), 2), "1500.25 (1000.00..2000.25)");
        assert_eq!(cell(None, 1), "n/a");
        assert_eq!(
            summary_json(Some(s)),
            r#"{"median":1500.25,"min":1000,"max":2000.25}"#
        );
        assert_eq!(summary_json(None), "null");
    }

    #[test]
    fn failures_are_a_section_only_when_there_are_some() {
        let mut s = String::new();
        failures_markdown(&mut s, &[]);
        assert_eq!(s, "");
        failures_markdown(&mut s, &["round 2: broken".into()]);
        assert_eq!(s, "\n## Failed rounds\n\n- round 2: broken\n");
        assert_eq!(json_strings(&[]), "[]");
        assert_eq!(json_strings(&["a\"".into(), "b".into()]), r#"["a\"","b"]"#);
    }

    #[test]
    fn file_stamps_are_date_dash_time() {
        assert_eq!(file_stamp("2026-12-01T23:10:05.123Z"), "20261201-231005");
        assert_eq!(file_stamp("garbage"), "");
    }

    #[test]
    fn dated_files_hold_the_markdown_and_the_json_line() {
        let dir = std::env::temp_dir().join(format!("ringlog-format-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // 2026-12-01T23:10:05.123Z
        let md = write_dated(&dir, "x", 1_796_166_605_123, "# md\n".into(), "{}".into()).unwrap();
        assert_eq!(md, dir.join("x-20261201-231005.md"));
        assert_eq!(std::fs::read_to_string(&md).unwrap(), "# md\n");
        let json = dir.join("x-20261201-231005.json");
        assert_eq!(std::fs::read_to_string(json).unwrap(), "{}\n");
        std::fs::remove_dir_all(&dir).unwrap();
        let missing = write_dated(&dir, "x", 0, String::new(), String::new()).unwrap_err();
        assert!(missing.0.contains("x-19700101-000000.md"), "{missing}");
    }
}

//! How reports are written out: a small JSON writer for `--json` output (the crate has no serde;
//! the reports are flat enough not to need it), text escaped for the hand-written SVG charts, and
//! thousands-grouped numbers for text tables.

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
}

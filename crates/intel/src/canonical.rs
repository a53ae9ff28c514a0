//! RFC 8785 JSON Canonicalization Scheme (JCS): the byte form reports are signed over.
//!
//! Object members are sorted by the UTF-16 code units of their names, strings use the
//! minimal escaping of ECMAScript's `JSON.stringify`, numbers are written as ECMAScript
//! writes doubles (integers beyond 2^53 lose precision exactly as they would there), and
//! there is no whitespace.

use serde_json::Value;

/// The canonical form of a JSON value.
pub fn to_canonical_string(v: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, v);
    out
}

/// The canonical form as bytes.
pub fn to_canonical_bytes(v: &Value) -> Vec<u8> {
    to_canonical_string(v).into_bytes()
}

/// Appends the canonical form of `v`.
pub(crate) fn write_value(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => write_number(out, n),
        Value::String(s) => write_string(out, s),
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, x);
            }
            out.push(']');
        }
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort_by(|a, b| a.encode_utf16().cmp(b.encode_utf16()));
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(out, k);
                out.push(':');
                write_value(out, &m[k]);
            }
            out.push('}');
        }
    }
}

/// Appends the canonical form of a number.
pub(crate) fn write_number(out: &mut String, n: &serde_json::Number) {
    // Integers that a double holds exactly are written as such; everything else goes
    // through the double, as ECMAScript does.
    if let Some(i) = n.as_i64() {
        if i.unsigned_abs() <= 1 << 53 {
            out.push_str(&i.to_string());
            return;
        }
    } else if let Some(u) = n.as_u64() {
        if u <= 1 << 53 {
            out.push_str(&u.to_string());
            return;
        }
    }
    let f = n.as_f64().unwrap_or(0.0);
    if f == 0.0 {
        out.push('0');
    } else if f.is_finite() {
        let mut buf = ryu_js::Buffer::new();
        out.push_str(buf.format_finite(f));
    } else {
        out.push_str("null");
    }
}

/// Appends the canonical form of a string.
pub(crate) fn write_string(out: &mut String, s: &str) {
    out.push('"');
    // Runs of characters that need no escape are copied whole.
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        if b >= 0x20 && b != b'"' && b != b'\\' {
            continue;
        }
        out.push_str(&s[start..i]);
        start = i + 1;
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            0x08 => out.push_str("\\b"),
            0x0c => out.push_str("\\f"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            c => out.push_str(&format!("\\u{c:04x}")),
        }
    }
    out.push_str(&s[start..]);
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc8785_examples() {
        // RFC 8785 section 3.2.2 example input (numbers, strings, literals).
        let input = r#"{
          "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
          "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
          "literals": [null, true, false]
        }"#;
        let v: Value = serde_json::from_str(input).unwrap();
        assert_eq!(
            to_canonical_string(&v),
            r#"{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}"#
        );
    }

    #[test]
    fn utf16_key_order() {
        // RFC 8785 section 3.2.3: sorting by UTF-16 code units.
        let input = r#"{"\u20ac": "Euro Sign", "\r": "Carriage Return", "\ufb33": "Hebrew Letter Dalet With Dagesh",
          "1": "One", "\ud83d\ude00": "Emoji: Grinning Face", "\u0080": "Control", "\u00f6": "Latin Small Letter O With Diaeresis"}"#;
        let v: Value = serde_json::from_str(input).unwrap();
        let s = to_canonical_string(&v);
        let order: Vec<&str> = [
            "Carriage Return",
            "One",
            "Control",
            "Latin Small",
            "Euro Sign",
            "Emoji",
            "Hebrew",
        ]
        .to_vec();
        let mut last = 0;
        for o in order {
            let p = s.find(o).unwrap();
            assert!(p > last, "{o} out of order in {s}");
            last = p;
        }
    }

    #[test]
    fn strings_escape_as_char_by_char() {
        fn reference(s: &str) -> String {
            let mut out = String::from('"');
            for c in s.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '\u{08}' => out.push_str("\\b"),
                    '\u{0c}' => out.push_str("\\f"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
                    c => out.push(c),
                }
            }
            out.push('"');
            out
        }
        let alphabet: Vec<char> = "ab\"\\\u{0}\u{1}\u{8}\u{c}\n\r\t\u{1f}\u{7f} é€😀/"
            .chars()
            .collect();
        let mut seed = 7u64;
        for _ in 0..5000 {
            let mut s = String::new();
            for _ in 0..(seed % 12) {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                s.push(alphabet[(seed >> 33) as usize % alphabet.len()]);
            }
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
            let mut out = String::new();
            write_string(&mut out, &s);
            assert_eq!(out, reference(&s), "{s:?}");
        }
    }

    #[test]
    fn integers() {
        let v: Value = serde_json::from_str("[0, -0, 1, -5, 9007199254740992, 1.0]").unwrap();
        assert_eq!(to_canonical_string(&v), "[0,0,1,-5,9007199254740992,1]");
    }
}

//! Free-form JSON that clients store with us (campaign `data`) must be stored the same on every
//! backend and read back by any client. Valid JSON text may still hold what PostgreSQL's
//! `jsonb` refuses and what most JSON readers cannot represent: the escape of a NUL character,
//! an unpaired surrogate escape (`"\ud800"`, text that is not Unicode), and numbers outside
//! the range RFC 8259 calls interoperable (`1e999999`). [`check_portable`] refuses those on
//! every backend alike, so that no backend answers with a 500 what another accepts.

/// The largest decimal exponent of a number's leading digit: a double's range (±1.8e308).
const MAX_EXPONENT: i64 = 308;
/// The smallest: a double's smallest subnormal (4.9e-324).
const MIN_EXPONENT: i64 = -324;
/// The most digits after the decimal point, written out, that PostgreSQL's `numeric` keeps.
const MAX_SCALE: i64 = 16_383;

/// Checks JSON text that is already known to be well-formed; `Err` says what is wrong, for
/// the client.
pub fn check_portable(text: &str) -> Result<(), &'static str> {
    let b = text.as_bytes();
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        i = match c {
            b'"' => string(b, i + 1)?,
            b'-' | b'0'..=b'9' => number(b, i)?,
            _ => i + 1,
        };
    }
    Ok(())
}

const NUL: &str = "Null characters are not allowed.";
const SURROGATE: &str = "Text must be Unicode: an escaped surrogate (\\ud800-\\udfff) must be \
                         one half of a pair.";
const RANGE: &str = "Numbers must lie within the range of a double (about 1e-324 to 1.8e308 in \
                     size), as RFC 8259 advises for JSON that other programs read.";
const SCALE: &str = "Numbers may have at most 16383 digits after the decimal point.";
const MALFORMED: &str = "Malformed JSON text.";

/// The code unit of the `\uXXXX` escape whose `u` is at `i`.
fn escape(b: &[u8], i: usize) -> Option<u32> {
    let hex = b.get(i + 1..i + 5)?;
    u32::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()
}

/// Scans a string from just after its opening quote; returns the index after its closing one.
fn string(b: &[u8], mut i: usize) -> Result<usize, &'static str> {
    loop {
        match b.get(i) {
            None => return Err(MALFORMED),
            Some(b'"') => return Ok(i + 1),
            Some(b'\\') if b.get(i + 1) == Some(&b'u') => {
                let unit = escape(b, i + 1).ok_or(MALFORMED)?;
                i += 6;
                match unit {
                    0 => return Err(NUL),
                    0xD800..=0xDBFF => {
                        let low = (b.get(i) == Some(&b'\\') && b.get(i + 1) == Some(&b'u'))
                            .then(|| escape(b, i + 1))
                            .flatten();
                        if !low.is_some_and(|u| (0xDC00..=0xDFFF).contains(&u)) {
                            return Err(SURROGATE);
                        }
                        i += 6;
                    }
                    0xDC00..=0xDFFF => return Err(SURROGATE),
                    _ => {}
                }
            }
            Some(b'\\') => i += 2,
            Some(_) => i += 1,
        }
    }
}

/// Scans a number from its first character; returns the index after it.
fn number(b: &[u8], mut i: usize) -> Result<usize, &'static str> {
    let digits = |i: &mut usize| {
        let start = *i;
        while b.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        &b[start..*i]
    };
    if b.get(i) == Some(&b'-') {
        i += 1;
    }
    let int = digits(&mut i);
    let frac = if b.get(i) == Some(&b'.') {
        i += 1;
        digits(&mut i)
    } else {
        &[]
    };
    let mut exponent: i64 = 0;
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        let negative = b.get(i) == Some(&b'-');
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        for d in digits(&mut i) {
            // Saturates: any exponent past i64's range is out of range all the same.
            exponent = exponent
                .saturating_mul(10)
                .saturating_add(i64::from(d - b'0'));
        }
        if negative {
            exponent = -exponent;
        }
    }
    let int = trim_leading_zeros(int);
    let scale = len(frac).saturating_sub(exponent);
    let leading = if int.is_empty() && trim_leading_zeros(frac).is_empty() {
        // Zero: its exponent alone must be in range (PostgreSQL refuses `0e1073741824`).
        0
    } else if int.is_empty() {
        -(len(frac) - len(trim_leading_zeros(frac)) + 1)
    } else {
        len(int) - 1
    };
    let at = leading.saturating_add(exponent);
    if !(MIN_EXPONENT..=MAX_EXPONENT).contains(&at) {
        return Err(RANGE);
    }
    if scale > MAX_SCALE {
        return Err(SCALE);
    }
    Ok(i)
}

fn trim_leading_zeros(digits: &[u8]) -> &[u8] {
    let zeros = digits.iter().take_while(|&&d| d == b'0').count();
    &digits[zeros..]
}

fn len(digits: &[u8]) -> i64 {
    i64::try_from(digits.len()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_data_passes() {
        for ok in [
            r#"{"Location": "Köln", "n": 1.50, "big": 12345678901234567890, "tiny": 2.5e-300}"#,
            r#"{"emoji": "\ud83d\ude00", "tab": "a\tb", "quote": "\"\\u0000\"", "e": 1E+2}"#,
            r#"{"zero": 0, "zeros": 0e300, "neg": -0.0, "max": 1.7e308, "min": 4.9e-324}"#,
            r#"{"escaped backslash then u": "\\ud800"}"#,
            r#"[1, [2, {"a": -3}], "x"]"#,
        ] {
            assert_eq!(check_portable(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn lone_surrogates_and_nul_escapes_are_refused_in_keys_and_values() {
        for (bad, why) in [
            (r#"{"a": "\ud800"}"#, SURROGATE),
            (r#"{"\ud800": 1}"#, SURROGATE),
            (r#"{"a": "\udc00\ud800"}"#, SURROGATE),
            (r#"{"a": "\ud800\u0041"}"#, SURROGATE),
            (r#"{"a": "x\u0000"}"#, NUL),
            (r#"{"\u0000": 1}"#, NUL),
        ] {
            assert_eq!(check_portable(bad), Err(why), "{bad}");
        }
    }

    #[test]
    fn numbers_outside_a_double_s_range_are_refused() {
        for bad in [
            "1e999999",
            "-1e-99999",
            "1e309",
            "1e-325",
            "0.0001e-321",
            "10e308",
            "1e99999999999999999999999",
            "0e999999",
            "0e1073741824",
            "-0.0e-400",
        ] {
            assert_eq!(
                check_portable(&format!(r#"{{"a": {bad}}}"#)),
                Err(RANGE),
                "{bad}"
            );
        }
        let long = format!(r#"{{"a": 1.{}}}"#, "1".repeat(20_000));
        assert_eq!(check_portable(&long), Err(SCALE));
        assert_eq!(check_portable(r#"{"a": 0e-99999}"#), Err(RANGE));
    }
}

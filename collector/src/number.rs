//! Strict number parsing for typed columns. Numbers are plain: an int is an
//! optional sign and decimal digits; a float is decimal or exponent
//! notation. NaN, infinities, hex, `_` separators and stray spaces do not
//! parse (Rust's own `f64::from_str` accepts `inf` and `NaN`, so the grammar
//! is checked first).

/// Parses an optional sign and decimal digits that fit in an i64.
pub fn parse_int(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    let digits = match b.first()? {
        b'+' | b'-' => &b[1..],
        _ => b,
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    text.parse().ok()
}

/// Parses decimal (`12`, `-1.5`, `.5`, `5.`) or exponent (`1e3`, `2.5E-4`)
/// notation into a finite f64.
pub fn parse_float(text: &str) -> Option<f64> {
    let b = text.as_bytes();
    let mut i = 0;
    if matches!(b.first(), Some(b'+' | b'-')) {
        i = 1;
    }
    let int_start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let mut mantissa_digits = i - int_start;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let frac_start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        mantissa_digits += i - frac_start;
    }
    if mantissa_digits == 0 {
        return None;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        let exp_start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == exp_start {
            return None;
        }
    }
    if i != b.len() {
        return None;
    }
    text.parse::<f64>().ok().filter(|f| f.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ints() {
        assert_eq!(parse_int("0"), Some(0));
        assert_eq!(parse_int("-98"), Some(-98));
        assert_eq!(parse_int("+7"), Some(7));
        assert_eq!(parse_int("9223372036854775807"), Some(i64::MAX));
        for bad in [
            "",
            "-",
            "+",
            " 1",
            "1 ",
            "1.5",
            "0x10",
            "1e3",
            "abc",
            "1_000",
            "9223372036854775808",
            "١",
        ] {
            assert_eq!(parse_int(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn floats() {
        assert_eq!(parse_float("7.5"), Some(7.5));
        assert_eq!(parse_float("-1"), Some(-1.0));
        assert_eq!(parse_float(".5"), Some(0.5));
        assert_eq!(parse_float("5."), Some(5.0));
        assert_eq!(parse_float("1e3"), Some(1000.0));
        assert_eq!(parse_float("2.5E-4"), Some(0.00025));
        for bad in [
            "", ".", "-", "NaN", "nan", "inf", "-inf", "infinity", "0x10", " 1", "1 ", "12ms",
            "1e", "1e+", "e5", "1.2.3", "1e400",
        ] {
            assert_eq!(parse_float(bad), None, "{bad:?}");
        }
    }
}

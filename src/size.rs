//! Owns sizes as people write and read them: `50MB`, `1.5 GiB`, `700k` parsed to bytes
//! (refused when they are not a size), and bytes shown as `12.3 MiB`.

/// Why a text is not a size.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a size: write it like 50MB, 1.5GB, 700KiB or 1048576 (bytes)")]
pub struct NotASize(pub String);

/// Bytes in a size written with an optional unit: none or `B` (bytes), `k`/`KB`, `MB`, `GB`,
/// `TB` (powers of 1000), `KiB`, `MiB`, `GiB`, `TiB` (powers of 1024); case and the space
/// before the unit do not matter; a fraction is allowed with a unit (`1.5GB`).
pub fn parse(text: &str) -> Result<u64, NotASize> {
    let bad = || NotASize(text.to_string());
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "m" | "mb" => 1_000_000,
        "g" | "gb" => 1_000_000_000,
        "t" | "tb" => 1_000_000_000_000,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "tib" => 1 << 40,
        _ => return Err(bad()),
    };
    if number.is_empty() || number.starts_with('.') || number.ends_with('.') {
        return Err(bad());
    }
    match number.split_once('.') {
        None => number
            .parse::<u64>()
            .ok()
            .and_then(|n| n.checked_mul(factor))
            .ok_or_else(bad),
        // A fraction of a byte is no size; of a unit it is, rounded down to whole bytes.
        Some(_) if factor == 1 => Err(bad()),
        Some((whole, frac)) => {
            if frac.contains('.') || frac.len() > 12 {
                return Err(bad());
            }
            let whole = whole.parse::<u64>().map_err(|_| bad())?;
            let frac_value = frac.parse::<u64>().map_err(|_| bad())?;
            let scale = 10u64.pow(frac.len() as u32);
            let part = u128::from(frac_value) * u128::from(factor) / u128::from(scale);
            whole
                .checked_mul(factor)
                .and_then(|w| w.checked_add(u64::try_from(part).ok()?))
                .ok_or_else(bad)
        }
    }
}

/// Bytes as a person reads them: `512 B`, `1.5 KiB`, `12.3 MiB`, `2.0 GiB`.
pub fn show(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 => format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64),
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_people_write_are_bytes() {
        for (text, bytes) in [
            ("0", 0),
            ("1048576", 1 << 20),
            ("512B", 512),
            ("50MB", 50_000_000),
            ("50 mb", 50_000_000),
            ("50M", 50_000_000),
            ("700k", 700_000),
            ("1.5GB", 1_500_000_000),
            ("1.5 GiB", 3 << 29),
            ("2MiB", 2 << 20),
            (" 10KiB ", 10 << 10),
            ("0.001KB", 1),
            ("1TB", 1_000_000_000_000),
        ] {
            assert_eq!(parse(text), Ok(bytes), "{text:?}");
        }
    }

    #[test]
    fn what_is_not_a_size_is_refused() {
        for text in [
            "",
            "MB",
            "fifty",
            "50 MBs",
            "5O",
            "-5",
            "1.5",
            "1..5MB",
            ".5MB",
            "5.MB",
            "1.2.3GB",
            "1e9",
            "50 MB extra",
            "99999999999999999999",
            "20000000TB",
            "offf",
        ] {
            assert_eq!(parse(text), Err(NotASize(text.into())), "{text:?}");
        }
    }

    #[test]
    fn bytes_are_shown_in_binary_units() {
        assert_eq!(show(512), "512 B");
        assert_eq!(show(1536), "1.5 KiB");
        assert_eq!(show(50_000_000), "47.7 MiB");
        assert_eq!(show(3 << 30), "3.0 GiB");
    }

    proptest::proptest! {
        #[test]
        fn any_text_parses_or_is_refused_and_never_panics(s in "\\PC{0,24}") {
            let _ = parse(&s);
        }

        #[test]
        fn bytes_written_plainly_come_back(n in 0u64..u64::MAX) {
            proptest::prop_assert_eq!(parse(&n.to_string()), Ok(n));
        }
    }
}

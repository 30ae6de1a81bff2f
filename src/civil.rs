//! Owns calendar arithmetic on stored times: milliseconds since the Unix epoch to a civil
//! date (proleptic Gregorian, H. Hinnant's days-from-civil inverse), with no time-zone data.
//! Callers pass an offset when they show local time.

/// Milliseconds since the Unix epoch now (0 if the clock is before it).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The civil date `(year, month 1–12, day 1–31)` of a day count since 1970-01-01.
pub fn from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// The day number (since 1970-01-01) of a time in ms.
pub fn day_of(ms: i64) -> i64 {
    ms.div_euclid(86_400_000)
}

/// `YYYY-MM-DD`.
pub fn date(ms: i64) -> String {
    let (y, m, d) = from_days(day_of(ms));
    format!("{y:04}-{m:02}-{d:02}")
}

/// `HH:MM` within the day.
pub fn hour_minute(ms: i64) -> String {
    let secs = ms.div_euclid(1000).rem_euclid(86_400);
    format!("{:02}:{:02}", secs / 3600, secs % 3600 / 60)
}

/// `YYYY-MM-DD HH:MM:SS`.
pub fn date_time_seconds(ms: i64) -> String {
    let secs = ms.div_euclid(1000).rem_euclid(86_400);
    format!("{} {}:{:02}", date(ms), hour_minute(ms), secs % 60)
}

#[cfg(test)]
mod tests {
    #[test]
    fn known_dates() {
        assert_eq!(super::date(0), "1970-01-01");
        assert_eq!(super::date(951_782_400_000), "2000-02-29");
        assert_eq!(super::date(-1), "1969-12-31");
        assert_eq!(
            super::date_time_seconds(1_796_125_800_000),
            "2026-12-01 11:50:00"
        );
        assert_eq!(super::hour_minute(1_796_125_859_999), "11:50");
    }
}

//! Owns times as people read them: stored UTC milliseconds shown in the user's time zone
//! (`jiff`: `TZ`, else the system's zone), as dates, times of day, day headings and the
//! stamps in file names. Every function has an `_in` form taking the zone, which tests use.

use jiff::Timestamp;
/// A time zone, as the `_in` forms take it.
pub use jiff::tz::TimeZone;

/// Milliseconds since the Unix epoch now (0 if the clock is before it).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The user's time zone (UTC where none can be read).
pub fn local_zone() -> TimeZone {
    TimeZone::system()
}

/// What a time outside any calendar shows as (a stored time no clock could have made).
const NO_DATE: &str = "????-??-??";

fn strftime(ms: i64, zone: &TimeZone, format: &str) -> Option<String> {
    let at = Timestamp::from_millisecond(ms).ok()?;
    Some(at.to_zoned(zone.clone()).strftime(format).to_string())
}

/// `YYYY-MM-DD` in `zone`.
pub fn date_in(ms: i64, zone: &TimeZone) -> String {
    strftime(ms, zone, "%Y-%m-%d").unwrap_or_else(|| NO_DATE.into())
}

/// `HH:MM` in `zone`.
pub fn time_of_day_in(ms: i64, zone: &TimeZone) -> String {
    strftime(ms, zone, "%H:%M").unwrap_or_else(|| "--:--".into())
}

/// `YYYY-MM-DD HH:MM:SS` in `zone`.
pub fn date_time_in(ms: i64, zone: &TimeZone) -> String {
    strftime(ms, zone, "%Y-%m-%d %H:%M:%S").unwrap_or_else(|| NO_DATE.into())
}

/// `YYYY-MM-DD HH:MM:SS +HH:MM` in `zone`: unambiguous wherever it is read (exports).
pub fn date_time_offset_in(ms: i64, zone: &TimeZone) -> String {
    strftime(ms, zone, "%Y-%m-%d %H:%M:%S %:z").unwrap_or_else(|| NO_DATE.into())
}

/// `YYYY-MM-DD-HHMMSS` in `zone`, for a file name.
pub fn stamp_in(ms: i64, zone: &TimeZone) -> String {
    strftime(ms, zone, "%Y-%m-%d-%H%M%S").unwrap_or_else(|| "0000-00-00-000000".into())
}

/// The calendar day of a time in `zone`, as a number that grows by one a day.
pub fn day_in(ms: i64, zone: &TimeZone) -> i64 {
    Timestamp::from_millisecond(ms)
        .ok()
        .and_then(|at| {
            let date = at.to_zoned(zone.clone()).date();
            date.since(jiff::civil::date(1970, 1, 1)).ok()
        })
        .map(|span| i64::from(span.get_days()))
        .unwrap_or(i64::MIN)
}

/// The heading over a day's messages: "Today", "Yesterday" or the date, in `zone`.
pub fn day_heading_in(ms: i64, now_ms: i64, zone: &TimeZone) -> String {
    match day_in(now_ms, zone).saturating_sub(day_in(ms, zone)) {
        0 => "Today".into(),
        1 => "Yesterday".into(),
        _ => date_in(ms, zone),
    }
}

/// `YYYY-MM-DD`, local.
pub fn date(ms: i64) -> String {
    date_in(ms, &local_zone())
}

/// `HH:MM`, local.
pub fn time_of_day(ms: i64) -> String {
    time_of_day_in(ms, &local_zone())
}

/// `YYYY-MM-DD HH:MM:SS`, local.
pub fn date_time(ms: i64) -> String {
    date_time_in(ms, &local_zone())
}

/// `YYYY-MM-DD HH:MM:SS +HH:MM`, local.
pub fn date_time_offset(ms: i64) -> String {
    date_time_offset_in(ms, &local_zone())
}

/// `YYYY-MM-DD-HHMMSS`, local.
pub fn stamp(ms: i64) -> String {
    stamp_in(ms, &local_zone())
}

/// The local calendar day of a time.
pub fn day(ms: i64) -> i64 {
    day_in(ms, &local_zone())
}

/// "Today", "Yesterday" or the local date.
pub fn day_heading(ms: i64, now_ms: i64) -> String {
    day_heading_in(ms, now_ms, &local_zone())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-12-01 11:50:00 UTC.
    const T: i64 = 1_796_125_800_000;
    const DAY: i64 = 86_400_000;

    fn berlin() -> TimeZone {
        // Central European time with its summer time, as a POSIX rule: no tz database needed.
        TimeZone::posix("CET-1CEST,M3.5.0,M10.5.0/3").expect("a POSIX zone")
    }

    #[test]
    fn utc_dates_and_times() {
        let utc = TimeZone::UTC;
        assert_eq!(date_in(0, &utc), "1970-01-01");
        assert_eq!(date_in(-1, &utc), "1969-12-31");
        assert_eq!(date_in(951_782_400_000, &utc), "2000-02-29");
        assert_eq!(date_time_in(T, &utc), "2026-12-01 11:50:00");
        assert_eq!(time_of_day_in(T + 59_999, &utc), "11:50");
        assert_eq!(stamp_in(T, &utc), "2026-12-01-115000");
        assert_eq!(date_time_offset_in(T, &utc), "2026-12-01 11:50:00 +00:00");
    }

    #[test]
    fn local_time_follows_the_zone_and_its_summer_time() {
        let zone = berlin();
        assert_eq!(date_time_offset_in(T, &zone), "2026-12-01 12:50:00 +01:00");
        // 2026-07-01 23:30 UTC is already the 2nd in Berlin, at +02:00.
        let summer = 1_782_948_600_000;
        assert_eq!(
            date_time_offset_in(summer, &zone),
            "2026-07-02 01:30:00 +02:00"
        );
        assert_eq!(date_in(summer, &zone), "2026-07-02");
        assert_eq!(date_in(summer, &TimeZone::UTC), "2026-07-01");
    }

    #[test]
    fn headings_name_today_yesterday_then_dates_in_the_users_day() {
        let zone = berlin();
        assert_eq!(day_heading_in(T, T, &zone), "Today");
        assert_eq!(day_heading_in(T - DAY, T, &zone), "Yesterday");
        assert_eq!(day_heading_in(T - 10 * DAY, T, &zone), "2026-11-21");
        // 23:30 UTC on the 30th is the 1st in Berlin: today there, yesterday in UTC.
        let late = T - 12 * 3_600_000 - 20 * 60_000;
        assert_eq!(day_heading_in(late, T, &zone), "Today");
        assert_eq!(day_heading_in(late, T, &TimeZone::UTC), "Yesterday");
        assert_eq!(day_in(T, &zone) - day_in(T - DAY, &zone), 1);
    }

    #[test]
    fn a_time_no_calendar_holds_is_shown_not_panicked_on() {
        for ms in [i64::MIN, i64::MAX] {
            assert_eq!(date_in(ms, &TimeZone::UTC), NO_DATE);
            assert_eq!(time_of_day_in(ms, &TimeZone::UTC), "--:--");
            let _ = day_heading_in(ms, T, &TimeZone::UTC);
            let _ = day_heading_in(T, ms, &TimeZone::UTC);
        }
    }
}

//! Owns local time for display: stored times are UTC milliseconds; the screens show the
//! day and the time of day where the user is (the C library's time zone, i.e. `TZ` or
//! /etc/localtime).

/// The local UTC offset at a time, in ms (0 where it cannot be known).
pub(crate) fn offset_ms(ms: i64) -> i64 {
    #[cfg(unix)]
    {
        let t: libc::time_t = ms.div_euclid(1000) as libc::time_t;
        // SAFETY: `localtime_r` only writes the `tm` we own; both pointers are valid for
        // the call.
        let mut tm: libc::tm = unsafe { std::mem::zeroed() };
        let ok = unsafe { !libc::localtime_r(&t, &mut tm).is_null() };
        if ok {
            return tm.tm_gmtoff * 1000;
        }
    }
    let _ = ms;
    0
}

/// A stored time moved to local time, for the calendar functions of `natter::civil`.
pub(crate) fn local(ms: i64) -> i64 {
    ms + offset_ms(ms)
}

/// The day heading for a message: "Today", "Yesterday" or the date.
pub(crate) fn day_heading(ms: i64, now_ms: i64) -> String {
    let (day, today) = (
        natter::civil::day_of(local(ms)),
        natter::civil::day_of(local(now_ms)),
    );
    match today - day {
        0 => "Today".into(),
        1 => "Yesterday".into(),
        _ => natter::civil::date(local(ms)),
    }
}

/// Local `HH:MM`.
pub(crate) fn time_of_day(ms: i64) -> String {
    natter::civil::hour_minute(local(ms))
}

#[cfg(test)]
mod tests {
    #[test]
    fn headings_name_today_yesterday_then_dates() {
        let now = 1_796_125_800_000; // 2026-12-01 11:50 UTC
        assert_eq!(super::day_heading(now, now), "Today");
        assert_eq!(super::day_heading(now - 86_400_000, now), "Yesterday");
        let old = super::day_heading(now - 10 * 86_400_000, now);
        assert!(old.starts_with("2026-11-2"), "{old}");
    }
}

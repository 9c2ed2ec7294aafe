//! Calendar dates and instants as the rest of churnguard counts them.
//!
//! A date is a day number (days since 1970-01-01, proleptic Gregorian); an instant is
//! milliseconds since 1970-01-01T00:00:00 UTC. Conversions are hand-written because they sit in
//! the hot loop of ingestion, where a general-purpose date library costs more than it gives.

use std::fmt;

/// The first and last years a date or timestamp of the data or the config may fall in: wider
/// than any customer history, narrow enough that day arithmetic on them never overflows.
pub const DATE_YEARS: std::ops::RangeInclusive<i32> = 1900..=2199;

/// Milliseconds in one day.
pub const MS_PER_DAY: i64 = 86_400_000;

/// A calendar date, stored as days since 1970-01-01.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date(i32);

impl Date {
    /// The date from a year, month (1-12) and day (1-31), if it exists.
    pub fn from_ymd(year: i32, month: u32, day: u32) -> Option<Date> {
        if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
            return None;
        }
        Some(Date(days_from_civil(year, month, day)))
    }

    /// The date a number of days after 1970-01-01.
    pub fn from_days(days: i32) -> Date {
        Date(days)
    }

    /// Days since 1970-01-01.
    pub fn days(self) -> i32 {
        self.0
    }

    /// Midnight UTC at the start of this date, in milliseconds since the epoch.
    pub fn start_ms(self) -> i64 {
        i64::from(self.0) * MS_PER_DAY
    }

    /// The date holding an instant given in milliseconds since the epoch.
    pub fn of_ms(ms: i64) -> Date {
        Date(ms.div_euclid(MS_PER_DAY) as i32)
    }

    /// The day after: the cutoff of a snapshot whose rows count up to and including this day.
    pub fn next_day(self) -> Date {
        Date(self.0 + 1)
    }

    /// The day before: the last day whose rows count in a snapshot at this cutoff.
    pub fn previous_day(self) -> Date {
        Date(self.0 - 1)
    }

    /// Today, UTC, by the machine's clock.
    pub fn today() -> Date {
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        Date::of_ms(ms)
    }

    /// Year, month and day.
    pub fn ymd(self) -> (i32, u32, u32) {
        civil_from_days(self.0)
    }

    /// Parses `YYYY-MM-DD`.
    pub fn parse_iso(s: &str) -> Option<Date> {
        let b = s.as_bytes();
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return None;
        }
        Date::from_ymd(digits(&b[0..4])? as i32, digits(&b[5..7])?, digits(&b[8..10])?)
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d) = self.ymd();
        write!(f, "{y:04}-{m:02}-{d:02}")
    }
}

impl serde::Serialize for Date {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Date {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Date::parse_iso(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("\"{text}\" is not a date (expected YYYY-MM-DD)")))
    }
}

/// Parses ASCII digits into a number; `None` on anything else or an empty slice.
pub fn digits(b: &[u8]) -> Option<u32> {
    if b.is_empty() || b.len() > 9 {
        return None;
    }
    let mut n = 0u32;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        n = n * 10 + u32::from(c - b'0');
    }
    Some(n)
}

fn is_leap(y: i32) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i32, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(y) => 29,
        _ => 28,
    }
}

// Howard Hinnant's days_from_civil / civil_from_days: exact for the proleptic Gregorian calendar.
fn days_from_civil(y: i32, m: u32, d: u32) -> i32 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400) as u32;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe as i32 - 719_468
}

fn civil_from_days(z: i32) -> (i32, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097) as u32;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe as i32 + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_day_of_four_centuries() {
        for days in -200_000..200_000 {
            let d = Date::from_days(days);
            let (y, m, dd) = d.ymd();
            assert_eq!(Date::from_ymd(y, m, dd), Some(d), "{y}-{m}-{dd}");
        }
    }

    #[test]
    fn known_dates() {
        assert_eq!(Date::parse_iso("1970-01-01").map(Date::days), Some(0));
        assert_eq!(
            Date::parse_iso("1998-06-30").map(|d| d.to_string()).as_deref(),
            Some("1998-06-30")
        );
        assert_eq!(Date::parse_iso("2000-02-29").map(Date::days), Some(11_016));
        assert_eq!(Date::parse_iso("1999-02-29"), None);
        assert_eq!(Date::parse_iso("1999-13-01"), None);
        assert_eq!(Date::parse_iso("1999-1-01"), None);
        assert_eq!(Date::of_ms(-1).to_string(), "1969-12-31");
    }
}

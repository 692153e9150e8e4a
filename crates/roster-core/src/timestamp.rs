//! Timestamps: UTC instants with microsecond precision, written on the wire as RFC 3339 with a
//! `Z` suffix (`2026-11-27T17:19:23.123456Z`) and stored by backends as integer microseconds.
//!
//! Time enters through a [`Clock`] so tests can pin it.

use serde::{Serialize, Serializer};
use std::fmt;
use time::OffsetDateTime;
use time::macros::format_description;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    pub fn from_micros(micros: i64) -> Self {
        Self(micros)
    }

    /// The moment `d` earlier.
    pub fn minus(self, d: std::time::Duration) -> Self {
        let micros = i64::try_from(d.as_micros()).unwrap_or(i64::MAX);
        Self(self.0.saturating_sub(micros))
    }

    /// The moment `d` later.
    pub fn plus(self, d: std::time::Duration) -> Self {
        let micros = i64::try_from(d.as_micros()).unwrap_or(i64::MAX);
        Self(self.0.saturating_add(micros))
    }

    pub fn as_micros(self) -> i64 {
        self.0
    }

    pub fn to_offset_date_time(self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.0) * 1000)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    pub fn from_offset_date_time(t: OffsetDateTime) -> Self {
        // Instants beyond ±292,000 years do not occur here; saturate rather than panic.
        let micros = t.unix_timestamp_nanos() / 1000;
        Self(i64::try_from(micros).unwrap_or(i64::MAX))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.to_offset_date_time();
        let Ok(year) = u32::try_from(t.year()) else {
            return slow(t, f);
        };
        if year > 9999 {
            return slow(t, f);
        }
        // Digits straight into a fixed buffer: lists write three timestamps per row, and the
        // general formatter (a description read per call, a String each) was a tenth of a
        // 100,000-row response's time.
        let mut out = *b"0000-00-00T00:00:00.000000Z";
        for (at, width, n) in [
            (0, 4, year),
            (5, 2, u32::from(u8::from(t.month()))),
            (8, 2, u32::from(t.day())),
            (11, 2, u32::from(t.hour())),
            (14, 2, u32::from(t.minute())),
            (17, 2, u32::from(t.second())),
            (20, 6, t.microsecond()),
        ] {
            let mut n = n;
            for digit in out[at..at + width].iter_mut().rev() {
                *digit = b'0' + (n % 10) as u8;
                n /= 10;
            }
        }
        f.write_str(std::str::from_utf8(&out).map_err(|_| fmt::Error)?)
    }
}

/// Years outside 0..=9999, which the fixed layout cannot hold.
fn slow(t: OffsetDateTime, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let format =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");
    match t.format(&format) {
        Ok(s) => f.write_str(&s),
        Err(_) => Err(fmt::Error),
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl utoipa::PartialSchema for Timestamp {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
            .examples(["2026-11-27T17:19:23.123456Z"])
            .into()
    }
}

impl utoipa::ToSchema for Timestamp {}

/// The source of "now". The server holds one; tests may substitute a fixed clock.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Timestamp;
}

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_offset_date_time(OffsetDateTime::now_utc())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is the test failing
mod tests {
    use super::*;

    #[test]
    fn formats_rfc3339_with_micros_and_z() {
        let t = Timestamp::from_micros(1_795_800_000_123_456);
        assert_eq!(t.to_string(), "2026-11-27T17:20:00.123456Z");
        assert_eq!(
            Timestamp::from_micros(0).to_string(),
            "1970-01-01T00:00:00.000000Z"
        );
    }

    #[test]
    fn the_fixed_layout_writes_what_the_general_formatter_does() {
        let mut micros: i64 = -62_135_596_800_000_000; // 0001-01-01
        while micros < 253_402_300_799_999_999 {
            let t = Timestamp::from_micros(micros);
            let general = t
                .to_offset_date_time()
                .format(format_description!(
                    "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
                ))
                .unwrap();
            assert_eq!(t.to_string(), general);
            micros += 987_654_321_012_345;
        }
    }

    #[test]
    fn round_trips_through_offset_date_time() {
        let t = Timestamp::from_micros(1_795_800_000_123_456);
        assert_eq!(Timestamp::from_offset_date_time(t.to_offset_date_time()), t);
    }
}

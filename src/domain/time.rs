//! Timestamps as the APIs show them: UTC, ISO 8601, trailing `Z`.

use chrono::{DateTime, SecondsFormat, Utc};

pub type Timestamp = DateTime<Utc>;

/// `2013-04-10T13:52:17Z`, the form every API response uses.
pub fn iso(t: &Timestamp) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Fixed-width, lexically sortable form used in the store (microseconds).
pub fn db(t: &Timestamp) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

pub fn parse_db(s: &str) -> Option<Timestamp> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

pub fn now() -> Timestamp {
    Utc::now()
}

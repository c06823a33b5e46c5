//! The automation task's clock: wall time in the home's time zone. Rules
//! see time only through it, so tests drive it with `tokio::time::pause`.

use hub_skills::automation::Now;

/// Wall-clock source.
#[derive(Clone, Debug)]
pub struct Clock {
    tz: jiff::tz::TimeZone,
    /// `None`: the system clock. `Some((wall_ms, at))`: `wall_ms` at the tokio
    /// instant `at`, moving with tokio's (pausable) time.
    base: Option<(i64, tokio::time::Instant)>,
}

impl Clock {
    /// The system clock in `tz` (`None` = the system's time zone).
    pub fn system(tz: Option<&str>) -> Result<Clock, jiff::Error> {
        let tz = match tz {
            Some(name) => jiff::tz::TimeZone::get(name)?,
            None => jiff::tz::TimeZone::system(),
        };
        Ok(Clock { tz, base: None })
    }

    /// The system clock in the system's time zone (UTC if it has none).
    pub fn local() -> Clock {
        Clock { tz: jiff::tz::TimeZone::system(), base: None }
    }

    /// A clock that reads `wall_ms` now and then follows tokio's time (tests).
    pub fn following_tokio(wall_ms: i64, tz: &str) -> Result<Clock, jiff::Error> {
        Ok(Clock { tz: jiff::tz::TimeZone::get(tz)?, base: Some((wall_ms, tokio::time::Instant::now())) })
    }

    pub fn now(&self) -> Now {
        let ms = match self.base {
            None => crate::store::now_ms(),
            Some((wall, at)) => wall + at.elapsed().as_millis() as i64,
        };
        let offset = jiff::Timestamp::from_millisecond(ms).map(|ts| self.tz.to_offset(ts).seconds()).unwrap_or(0);
        Now::at(ms, offset)
    }
}

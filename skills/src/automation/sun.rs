//! Sunrise and sunset: the sunrise equation (NOAA's solar position
//! approximations, about one minute of error away from the poles), with the
//! standard −0.833° altitude for refraction and the sun's radius. Pure: the
//! caller passes the civil date and the home's latitude/longitude.

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
pub fn days_from_civil(y: i32, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y as i64 - 1 } else { y as i64 };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Sunrise and sunset in unix milliseconds; `None` when the sun does not
/// rise or does not set that day (polar night or midnight sun).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SunTimes {
    pub sunrise: Option<i64>,
    pub sunset: Option<i64>,
}

/// Sunrise and sunset around the local solar noon of the civil date
/// `(y, m, d)` at `lat`/`lon` (degrees, east positive).
pub fn sun_times(y: i32, m: u32, d: u32, lat: f64, lon: f64) -> SunTimes {
    let rad = std::f64::consts::PI / 180.0;
    // Julian day number of the date at 00:00 UTC, relative to J2000.0.
    let n = (days_from_civil(y, m, d) as f64 + 2_440_587.5 - 2_451_545.0 + 0.0008).ceil();
    let j_star = n - lon / 360.0;
    let m_anom = (357.5291 + 0.985_600_28 * j_star).rem_euclid(360.0);
    let c = 1.9148 * (m_anom * rad).sin() + 0.0200 * (2.0 * m_anom * rad).sin() + 0.0003 * (3.0 * m_anom * rad).sin();
    let lambda = (m_anom + c + 180.0 + 102.9372).rem_euclid(360.0);
    let transit = 2_451_545.0 + j_star + 0.0053 * (m_anom * rad).sin() - 0.0069 * (2.0 * lambda * rad).sin();
    let sin_decl = (lambda * rad).sin() * (23.4397 * rad).sin();
    let cos_decl = (1.0 - sin_decl * sin_decl).sqrt();
    let cos_w = ((-0.833 * rad).sin() - (lat * rad).sin() * sin_decl) / ((lat * rad).cos() * cos_decl);
    if !(-1.0..=1.0).contains(&cos_w) {
        return SunTimes { sunrise: None, sunset: None };
    }
    let w = cos_w.acos() / rad;
    let to_ms = |jd: f64| ((jd - 2_440_587.5) * 86_400_000.0).round() as i64;
    SunTimes { sunrise: Some(to_ms(transit - w / 360.0)), sunset: Some(to_ms(transit + w / 360.0)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Minutes past 00:00 UTC of the date, for a unix-ms time on that date
    /// (negative or > 1440 when the event falls on the day before/after).
    fn utc_minutes(y: i32, m: u32, d: u32, ms: i64) -> f64 {
        (ms - days_from_civil(y, m, d) * 86_400_000) as f64 / 60_000.0
    }

    fn hm(h: i32, m: i32) -> f64 {
        (h * 60 + m) as f64
    }

    /// Published times (timeanddate.com / USNO tables, rounded to the
    /// minute), converted to UTC; the equation is good to about a minute.
    #[test]
    fn matches_published_sun_tables() {
        let cases = [
            // London, summer solstice 2024: 04:43 / 21:21 BST.
            ("London 2024-06-21", 2024, 6, 21, 51.5074, -0.1278, hm(3, 43), hm(20, 21)),
            // London, winter solstice 2024: 08:04 / 15:53 GMT.
            ("London 2024-12-21", 2024, 12, 21, 51.5074, -0.1278, hm(8, 4), hm(15, 53)),
            // New York, 2024-12-21: 07:17 / 16:32 EST.
            ("New York 2024-12-21", 2024, 12, 21, 40.7128, -74.0060, hm(12, 17), hm(21, 32)),
            // Sydney, 2024-12-21: 05:41 / 20:05 AEDT (UTC+11): the sunrise is on 20 Dec in UTC.
            ("Sydney 2024-12-21", 2024, 12, 21, -33.8688, 151.2093, hm(18, 41) - 1440.0, hm(9, 5)),
        ];
        for (name, y, m, d, lat, lon, rise, set) in cases {
            let t = sun_times(y, m, d, lat, lon);
            let r = utc_minutes(y, m, d, t.sunrise.expect("sunrise"));
            let s = utc_minutes(y, m, d, t.sunset.expect("sunset"));
            assert!((r - rise).abs() <= 2.0, "{name}: sunrise {r:.1} min vs {rise}");
            assert!((s - set).abs() <= 2.0, "{name}: sunset {s:.1} min vs {set}");
        }
    }

    #[test]
    fn polar_night_and_midnight_sun_have_no_events() {
        // Tromsø: no sunrise at the winter solstice, no sunset at the summer one.
        assert_eq!(sun_times(2024, 12, 21, 69.6492, 18.9553), SunTimes { sunrise: None, sunset: None });
        assert_eq!(sun_times(2024, 6, 21, 69.6492, 18.9553), SunTimes { sunrise: None, sunset: None });
    }

    #[test]
    fn civil_days() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(2024, 12, 21), 20_078);
    }
}

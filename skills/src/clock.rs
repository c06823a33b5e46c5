//! `HassGetCurrentTime` and `HassGetCurrentDate`: Home Assistant's English
//! answers, from the home's local time (`now` is passed in).

use crate::automation::Now;

/// What the clock is asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockQuery {
    Time,
    Date,
}

impl ClockQuery {
    /// "3:05 PM" / "December 5th, 2026".
    pub fn reply(self, now: &Now) -> String {
        match self {
            ClockQuery::Time => {
                let (h, m) = (now.secs / 3600, now.secs % 3600 / 60);
                match h {
                    0 => format!("12:{m:02} AM"),
                    1..=11 => format!("{h}:{m:02} AM"),
                    12 => format!("12:{m:02} PM"),
                    _ => format!("{}:{m:02} PM", h - 12),
                }
            }
            ClockQuery::Date => {
                const MONTHS: [&str; 12] = [
                    "January",
                    "February",
                    "March",
                    "April",
                    "May",
                    "June",
                    "July",
                    "August",
                    "September",
                    "October",
                    "November",
                    "December",
                ];
                let month = MONTHS.get(now.month.saturating_sub(1) as usize).copied().unwrap_or("");
                let suffix = match now.day {
                    1 | 21 | 31 => "st",
                    2 | 22 => "nd",
                    3 | 23 => "rd",
                    _ => "th",
                };
                format!("{month} {}{suffix}, {}", now.day, now.year)
            }
        }
    }
}

impl ClockQuery {
    /// The slots Home Assistant's responses read: `time` {hour, minute} and
    /// `date` {year, month, day, weekday (Monday = 0, for `date.weekday()`)}.
    pub fn response_slots(self, now: &Now) -> serde_json::Map<String, serde_json::Value> {
        let mut m = serde_json::Map::new();
        match self {
            ClockQuery::Time => {
                m.insert("time".into(), serde_json::json!({"hour": now.secs / 3600, "minute": now.secs % 3600 / 60}));
            }
            ClockQuery::Date => {
                let date =
                    serde_json::json!({"year": now.year, "month": now.month, "day": now.day, "weekday": now.weekday});
                m.insert("date".into(), date);
            }
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_and_date_read_like_home_assistant() {
        // 2026-12-05 15:05 in UTC+1 (the offset is already in `Now`).
        let now = Now::at(1_796_479_500_000, 3600);
        assert_eq!((now.year, now.month, now.day), (2026, 12, 5));
        assert_eq!(ClockQuery::Time.reply(&now), "3:05 PM");
        assert_eq!(ClockQuery::Date.reply(&now), "December 5th, 2026");
        assert_eq!(ClockQuery::Time.reply(&Now::at(1_796_425_200_000, 3600)), "12:00 AM");
        assert_eq!(ClockQuery::Time.reply(&Now::at(1_796_468_400_000, 3600)), "12:00 PM");
        assert_eq!(ClockQuery::Date.reply(&Now::at(1_798_675_200_000, 0)), "December 31st, 2026");
    }
}

//! Rotation windows: `Mon-Fri 22:00-06:00` style spans of local time in which `apply` may run,
//! so that a plan reviewed in the afternoon does not change a client's firewall at noon.

use chrono::{Datelike, NaiveTime, Timelike, Weekday};
use serde::Serialize;

/// Days and a time span; a span whose end is before its start runs past midnight.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Window {
    pub text: String,
    #[serde(skip)]
    days: [bool; 7],
    #[serde(skip)]
    start: u32,
    #[serde(skip)]
    end: u32,
}

fn day(s: &str) -> Option<usize> {
    let d: Weekday = s.parse().ok()?;
    Some(d.num_days_from_monday() as usize)
}

fn minutes(s: &str) -> Option<u32> {
    let t = NaiveTime::parse_from_str(s, "%H:%M").ok()?;
    Some(t.hour() * 60 + t.minute())
}

impl Window {
    /// Parses `DAYS HH:MM-HH:MM`, DAYS being `Mon`, `Mon-Fri`, `Sat,Sun` or `*`.
    pub fn parse(text: &str) -> Result<Window, String> {
        let bad = || format!("window `{text}` is not `DAYS HH:MM-HH:MM` (e.g. `Mon-Fri 22:00-06:00`)");
        let (days_s, span) = text.trim().split_once(' ').ok_or_else(bad)?;
        let mut days = [false; 7];
        for part in days_s.split(',') {
            if part == "*" {
                days = [true; 7];
            } else if let Some((a, b)) = part.split_once('-') {
                let (a, b) = (day(a).ok_or_else(bad)?, day(b).ok_or_else(bad)?);
                let mut i = a;
                loop {
                    days[i] = true;
                    if i == b {
                        break;
                    }
                    i = (i + 1) % 7;
                }
            } else {
                days[day(part).ok_or_else(bad)?] = true;
            }
        }
        let (s, e) = span.trim().split_once('-').ok_or_else(bad)?;
        let (start, end) = (minutes(s).ok_or_else(bad)?, minutes(e).ok_or_else(bad)?);
        Ok(Window {
            text: text.trim().to_string(),
            days,
            start,
            end,
        })
    }

    /// Whether `at` falls in the window. A span past midnight belongs to the day it starts on.
    pub fn contains<T: Datelike + Timelike>(&self, at: &T) -> bool {
        let today = at.weekday().num_days_from_monday() as usize;
        let m = at.hour() * 60 + at.minute();
        if self.start <= self.end {
            self.days[today] && m >= self.start && m <= self.end
        } else {
            let yesterday = (today + 6) % 7;
            (self.days[today] && m >= self.start) || (self.days[yesterday] && m <= self.end)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> chrono::NaiveDateTime {
        NaiveDate::from_ymd_opt(y, mo, d)
            .unwrap()
            .and_hms_opt(h, mi, 0)
            .unwrap()
    }

    #[test]
    fn overnight_window_belongs_to_its_start_day() {
        let w = Window::parse("Fri 22:00-06:00").unwrap();
        assert!(w.contains(&at(2026, 11, 27, 23, 0))); // Friday night
        assert!(w.contains(&at(2026, 11, 28, 5, 59))); // Saturday early
        assert!(!w.contains(&at(2026, 11, 28, 22, 30))); // Saturday night
        assert!(!w.contains(&at(2026, 11, 27, 12, 0)));
    }

    #[test]
    fn day_ranges_and_lists() {
        let w = Window::parse("Sat,Sun 00:00-23:59").unwrap();
        assert!(w.contains(&at(2026, 11, 29, 12, 0)));
        assert!(!w.contains(&at(2026, 11, 30, 12, 0)));
        assert!(Window::parse("Mon-Fri 09:00-17:00")
            .unwrap()
            .contains(&at(2026, 11, 26, 10, 0)));
        assert!(Window::parse("Someday 1-2").is_err());
    }
}

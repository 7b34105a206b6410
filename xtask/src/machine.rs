//! The date and the machine a report was measured on.

use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

/// What the report says about where and when it was measured.
pub struct Machine {
    /// `YYYY-MM-DD HH:MM UTC`.
    pub date: String,
    pub cpu: String,
    pub cores: usize,
    pub os: String,
    pub rustc: String,
}

/// The current date and this machine, each part falling back to "unknown".
pub fn describe() -> Machine {
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    Machine {
        date: utc_date_time(seconds),
        cpu: cpu_model().unwrap_or_else(|| "unknown CPU".to_owned()),
        cores: std::thread::available_parallelism().map_or(1, usize::from),
        os: os_release().unwrap_or_else(|| std::env::consts::OS.to_owned()),
        rustc: command_line("rustc", &["--version"]).unwrap_or_else(|| "unknown rustc".to_owned()),
    }
}

fn cpu_model() -> Option<String> {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    cpuinfo
        .lines()
        .find_map(|line| line.strip_prefix("model name"))
        .and_then(|rest| rest.split_once(':'))
        .map(|(_, model)| model.trim().to_owned())
}

fn os_release() -> Option<String> {
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").ok()?;
    Some(format!("{} {}", std::env::consts::OS, kernel.trim()))
}

fn command_line(program: &str, args: &[&str]) -> Option<String> {
    let output = Command::new(program).args(args).output().ok()?;
    let text = String::from_utf8(output.stdout).ok()?;
    Some(text.trim().to_owned()).filter(|text| !text.is_empty())
}

/// `YYYY-MM-DD HH:MM UTC` of seconds since the Unix epoch.
pub fn utc_date_time(seconds: u64) -> String {
    let days = seconds / 86_400;
    let second_of_day = seconds % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        second_of_day / 3600,
        second_of_day % 3600 / 60
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_dates() {
        assert_eq!(utc_date_time(0), "1970-01-01 00:00 UTC");
        // 2000-02-29 12:34:56 UTC, a leap day of a century leap year.
        assert_eq!(utc_date_time(951_827_696), "2000-02-29 12:34 UTC");
        // 2026-11-26 07:05:00 UTC.
        assert_eq!(utc_date_time(1_795_676_700), "2026-11-26 07:05 UTC");
        // The last second of 2023.
        assert_eq!(utc_date_time(1_704_067_199), "2023-12-31 23:59 UTC");
    }
}

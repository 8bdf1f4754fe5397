//! Numbers to text: medians and ranges, markdown, the command line, the output file.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};

/// Median, minimum and maximum of a non-empty set of values.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Spread {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Spread {
    /// `None` for an empty slice. An even count takes the mean of the middle two.
    pub fn of(values: &[f64]) -> Option<Spread> {
        if values.is_empty() {
            return None;
        }
        let mut v = values.to_vec();
        v.sort_by(f64::total_cmp);
        let mid = v.len() / 2;
        let median = if v.len() % 2 == 1 {
            v[mid]
        } else {
            (v[mid - 1] + v[mid]) / 2.0
        };
        Some(Spread {
            median,
            min: v[0],
            max: v[v.len() - 1],
        })
    }

    /// `median (min-max)` with `f` formatting each number.
    pub fn show(&self, f: impl Fn(f64) -> String) -> String {
        format!("{} ({}-{})", f(self.median), f(self.min), f(self.max))
    }
}

/// Requests per second, compactly: `812`, `91.3k`, `1.23M`.
pub fn rps(x: f64) -> String {
    if x >= 1e6 {
        format!("{:.2}M", x / 1e6)
    } else if x >= 1e3 {
        format!("{:.1}k", x / 1e3)
    } else {
        format!("{x:.0}")
    }
}

/// A ratio with two decimals.
pub fn ratio(x: f64) -> String {
    format!("{x:.2}")
}

/// Milliseconds as redis-benchmark prints them (three decimals).
pub fn ms(x: f64) -> String {
    format!("{x:.3}")
}

/// Bytes in binary units: `812 B`, `15.3 MiB`.
pub fn bytes(x: f64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut v = x;
    let mut unit = 0;
    while v.abs() >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{v:.0} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// Quotes `arg` for a POSIX shell when needed, so a printed command line can be pasted back.
pub fn shell_quote(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
    if plain {
        arg.to_owned()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

/// A shell-ready command line.
pub fn command_line<S: AsRef<str>>(argv: &[S]) -> String {
    argv.iter()
        .map(|a| shell_quote(a.as_ref()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// This process's own command line.
pub fn own_command_line() -> String {
    let argv: Vec<String> = std::env::args().collect();
    command_line(&argv)
}

/// Current UTC time as `YYYY-MM-DD HH:MM:SS UTC`.
pub fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    utc_from_unix(secs)
}

fn utc_from_unix(secs: u64) -> String {
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    // Days to civil date (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// One line about the machine: CPU model, CPU count, kernel.
pub fn host_summary() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "unknown".into());
    format!("{cpu}, {cores} CPUs available, Linux {kernel}")
}

/// Writes `text` to `path`: appended, or replacing the file with `overwrite`.
pub fn write_out(path: &Path, text: &str, overwrite: bool) -> Result<()> {
    let mut f = OpenOptions::new()
        .create(true)
        .write(true)
        .append(!overwrite)
        .truncate(overwrite)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    f.write_all(text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// A markdown table.
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new<S: Into<String>>(header: impl IntoIterator<Item = S>) -> Self {
        Self {
            header: header.into_iter().map(Into::into).collect(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// Renders with columns padded for reading as plain text too.
    pub fn render(&self) -> String {
        let n = self.header.len();
        let escape = |cells: &[String]| -> Vec<String> {
            (0..n)
                .map(|i| {
                    cells
                        .get(i)
                        .map_or(String::new(), |c| c.replace('|', "\\|"))
                })
                .collect()
        };
        let header = escape(&self.header);
        let rows: Vec<Vec<String>> = self.rows.iter().map(|r| escape(r)).collect();
        let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
        for r in &rows {
            for (i, c) in r.iter().enumerate() {
                widths[i] = widths[i].max(c.chars().count());
            }
        }
        let line = |cells: &[String]| {
            let mut s = String::from("|");
            for (i, w) in widths.iter().enumerate() {
                let cell = &cells[i];
                s.push_str(&format!(" {cell:<w$} |"));
            }
            s.push('\n');
            s
        };
        let mut out = line(&header);
        out.push('|');
        for w in &widths {
            out.push_str(&format!("-{}-|", "-".repeat(*w)));
        }
        out.push('\n');
        for r in &rows {
            out.push_str(&line(r));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_median_odd_even() {
        let s = Spread::of(&[3.0, 1.0, 2.0]).unwrap();
        assert_eq!((s.median, s.min, s.max), (2.0, 1.0, 3.0));
        let s = Spread::of(&[4.0, 1.0, 2.0, 3.0]).unwrap();
        assert_eq!(s.median, 2.5);
        assert!(Spread::of(&[]).is_none());
        assert_eq!(s.show(ratio), "2.50 (1.00-4.00)");
    }

    #[test]
    fn formats_numbers() {
        assert_eq!(rps(812.4), "812");
        assert_eq!(rps(91_300.0), "91.3k");
        assert_eq!(rps(1_234_000.0), "1.23M");
        assert_eq!(bytes(512.0), "512 B");
        assert_eq!(bytes(1536.0), "1.5 KiB");
        assert_eq!(ms(0.7191), "0.719");
    }

    #[test]
    fn quotes_for_the_shell() {
        assert_eq!(shell_quote("--save"), "--save");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(
            command_line(&["redis-server", "--save", ""]),
            "redis-server --save ''"
        );
    }

    #[test]
    fn civil_dates() {
        assert_eq!(utc_from_unix(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc_from_unix(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc_from_unix(1_763_900_000), "2025-11-23 12:13:20 UTC");
    }

    #[test]
    fn renders_tables() {
        let mut t = Table::new(["a", "bb"]);
        t.row(vec!["x|y".into(), "1".into()]);
        assert_eq!(t.render(), "| a    | bb |\n|------|----|\n| x\\|y | 1  |\n");
    }
}

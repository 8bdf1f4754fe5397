//! Logging in Redis's format, which operators' scripts parse:
//! `pid:role DD Mon YYYY HH:MM:SS.mmm <level> message`, with `.` debug, `-` verbose,
//! `*` notice and `#` warning.

use std::fmt;
use std::io::Write;
use std::sync::atomic::{AtomicU8, Ordering::Relaxed};
use std::sync::Mutex;

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// Formats events like Redis's `serverLog`.
pub struct RedisFormat {
    pid: u32,
}

impl RedisFormat {
    /// Lines start with the pid and the role letter [`set_role`] last set (`M` at first).
    pub fn new(role: char) -> Self {
        set_role(role);
        RedisFormat {
            pid: std::process::id(),
        }
    }
}

/// The role letter of the lines logged from now on: `M` for a primary, `S` for a replica, as
/// Redis writes them (REPLICAOF and the cluster's role changes set it).
static ROLE: AtomicU8 = AtomicU8::new(b'M');

pub fn set_role(role: char) {
    ROLE.store(u8::try_from(role).unwrap_or(b'M'), Relaxed);
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `DD Mon YYYY HH:MM:SS.mmm` in UTC for a unix time in milliseconds.
pub fn timestamp(ms: u64) -> String {
    let secs = ms / 1000;
    let days = (secs / 86400) as i64;
    let rem = secs % 86400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + (m <= 2) as i64;
    format!(
        "{:02} {} {} {:02}:{:02}:{:02}.{:03}",
        d,
        MONTHS[(m - 1) as usize],
        y,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms % 1000
    )
}

fn level_char(l: &Level) -> char {
    match *l {
        Level::TRACE => '.',
        Level::DEBUG => '-',
        Level::INFO => '*',
        Level::WARN | Level::ERROR => '#',
    }
}

impl<S, N> FormatEvent<S, N> for RedisFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut w: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        write!(
            w,
            "{}:{} {} {} ",
            self.pid,
            ROLE.load(Relaxed) as char,
            timestamp(crate::server::unix_ms()),
            level_char(event.metadata().level())
        )?;
        ctx.field_format().format_fields(w.by_ref(), event)?;
        writeln!(w)
    }
}

/// The tracing level for a Redis `loglevel`.
pub fn level_for(loglevel: &str) -> Level {
    match loglevel {
        "debug" => Level::TRACE,
        "verbose" => Level::DEBUG,
        "warning" => Level::WARN,
        _ => Level::INFO,
    }
}

static LEVEL: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(2);

fn rank(l: &Level) -> u8 {
    match *l {
        Level::TRACE => 0,
        Level::DEBUG => 1,
        Level::INFO => 2,
        Level::WARN | Level::ERROR => 3,
    }
}

/// Sets the minimum level logged, from a Redis `loglevel` (applies at once, for CONFIG SET).
pub fn set_level(loglevel: &str) {
    LEVEL.store(
        rank(&level_for(loglevel)),
        std::sync::atomic::Ordering::Relaxed,
    );
}

/// True if events of this level are logged now.
pub fn enabled(l: &Level) -> bool {
    rank(l) >= LEVEL.load(std::sync::atomic::Ordering::Relaxed)
}

/// A log file opened in append mode, or stdout when the path is empty.
pub struct LogTarget(Mutex<Box<dyn Write + Send>>);

impl LogTarget {
    pub fn open(path: &str) -> std::io::Result<LogTarget> {
        let w: Box<dyn Write + Send> = if path.is_empty() {
            Box::new(std::io::stdout())
        } else {
            Box::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)?,
            )
        };
        Ok(LogTarget(Mutex::new(w)))
    }
}

/// Writer handle used by the subscriber: each event is written and flushed as one line.
pub struct LogWriter<'a>(&'a LogTarget);

impl Write for LogWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut g = self.0 .0.lock().unwrap_or_else(|e| e.into_inner());
        g.write_all(buf)?;
        g.flush()?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogTarget {
    type Writer = LogWriter<'a>;
    fn make_writer(&'a self) -> Self::Writer {
        LogWriter(self)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn timestamps() {
        assert_eq!(super::timestamp(0), "01 Jan 1970 00:00:00.000");
        assert_eq!(
            super::timestamp(1_795_437_389_123),
            "23 Nov 2026 12:36:29.123"
        );
    }
}

//! The differential runner: one script, stock `redis-server` and `ferrodis-server` side by
//! side, every reply compared (byte for byte unless the script says otherwise).

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::Duration;

use crate::resp_client::{escape, ClientError, Reply, RespClient};
use crate::script::{parse_script, Action, Check, Step};
use crate::server::{workspace_root, Flavor, Server};

/// How long `@closed` waits for the server to close the connection.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// What one server did in answer to one read.
pub type Outcome = Result<Reply, ClientError>;

/// Asserts that two transcripts of the same session (one line per step, from stock and from
/// ferrodis) are equal, showing the first line that differs.
pub fn assert_same_transcripts(stock: &[String], ours: &[String]) {
    for (s, o) in stock.iter().zip(ours) {
        assert_eq!(o, s, "ferrodis (left) and stock (right) differ");
    }
    assert_eq!(ours.len(), stock.len(), "transcripts of different lengths");
}

/// The directory holding the `*.redis` scripts.
pub fn scripts_dir() -> PathBuf {
    workspace_root().join("tests/scripts")
}

/// Every `*.redis` file in [`scripts_dir`], by name without the extension, sorted.
pub fn script_names() -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(scripts_dir())
        .expect("read tests/scripts")
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            (path.extension()? == "redis").then(|| path.file_stem()?.to_str().map(String::from))?
        })
        .collect();
    names.sort();
    names
}

/// One server and the connections the script talks through.
pub struct Side {
    /// The server process.
    pub server: Server,
    /// Connection `i` is opened by the first `@conn i`; 0 exists from the start.
    clients: Vec<Option<RespClient>>,
    current: usize,
}

impl Side {
    /// Starts `flavor` with the default arguments and connects to it.
    pub fn start(flavor: Flavor) -> Side {
        Side::new(Server::builder(flavor).start())
    }

    /// Connects to an already started server.
    pub fn new(server: Server) -> Side {
        let client = server.client();
        Side {
            server,
            clients: vec![Some(client)],
            current: 0,
        }
    }

    /// The connection steps currently go through (opened if needed).
    fn client(&mut self) -> &mut RespClient {
        if self.clients.len() <= self.current {
            self.clients.resize_with(self.current + 1, || None);
        }
        let server = &self.server;
        self.clients[self.current].get_or_insert_with(|| server.client())
    }

    fn reconnect(&mut self) {
        self.client().shutdown();
        let fresh = self.server.client();
        self.clients[self.current] = Some(fresh);
    }

    fn send(&mut self, bytes: &[u8]) -> Option<Outcome> {
        match self.client().send_raw(bytes) {
            Ok(()) => None,
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                Some(Err(ClientError::Closed {
                    partial: Vec::new(),
                }))
            }
            Err(e) => Some(Err(ClientError::Io(e))),
        }
    }

    /// Runs one step; returns what was read (one outcome per expected reply).
    pub fn run(&mut self, step: &Step) -> Vec<Outcome> {
        let (bytes, replies) = match &step.action {
            Action::Command(args) => (crate::resp_client::encode_command(args), 1),
            Action::Raw { bytes, replies } => (bytes.clone(), *replies),
            Action::Reconnect => {
                self.reconnect();
                return Vec::new();
            }
            Action::Sleep(d) => {
                thread::sleep(*d);
                return Vec::new();
            }
            Action::Conn(n) => {
                self.current = *n;
                self.client();
                return Vec::new();
            }
            Action::Read => return vec![self.client().read_reply()],
            Action::Closed => {
                let got = match self.client().expect_closed(CLOSE_TIMEOUT) {
                    Ok(()) => Err(ClientError::Closed {
                        partial: Vec::new(),
                    }),
                    Err(other) => other,
                };
                self.reconnect();
                return vec![got];
            }
        };
        if let Some(failed) = self.send(&bytes) {
            return vec![failed];
        }
        if step.check == Check::NoReply {
            return Vec::new();
        }
        (0..replies).map(|_| self.client().read_reply()).collect()
    }
}

/// Shows an outcome the way failure messages print it.
pub fn show(outcome: &Outcome) -> String {
    match outcome {
        Ok(reply) => reply.to_string(),
        Err(e) => e.to_string(),
    }
}

/// Why two outcomes do not count as the same, or `None` when they do.
pub fn compare(check: Check, expected: &Outcome, actual: &Outcome) -> Option<String> {
    match (expected, actual) {
        (Ok(a), Ok(b)) => {
            let same = if a.is_error() || b.is_error() {
                a.raw() == b.raw()
            } else {
                match check {
                    Check::Exact | Check::NoReply => a.raw() == b.raw(),
                    Check::Sorted => a.sorted_raw(1) == b.sorted_raw(1),
                    Check::SortedPairs => a.sorted_raw(2) == b.sorted_raw(2),
                    Check::Shape => a.same_shape(b),
                }
            };
            (!same).then(|| "replies differ".to_string())
        }
        (Err(ClientError::Timeout { .. }), Err(ClientError::Timeout { .. })) => Some(
            "both timed out: the script waits for a reply that never comes \
             (use @noreply, or @raw*N with the right count)"
                .to_string(),
        ),
        (Err(ClientError::Closed { partial: a }), Err(ClientError::Closed { partial: b })) => {
            (a != b).then(|| "closed after different partial replies".to_string())
        }
        _ => Some("outcomes differ".to_string()),
    }
}

/// Runs `steps` (from `path`, for messages) against stock Redis and ferrodis. Returns the
/// failure report on the first mismatch.
pub fn run_differential(path: &Path, steps: &[Step]) -> Result<(), String> {
    run_pair(
        path,
        steps,
        Side::start(Flavor::Stock),
        Side::start(Flavor::Ferrodis),
    )
}

/// Runs `steps` on two servers, `stock` being the reference. Both are flushed first.
pub fn run_pair(
    path: &Path,
    steps: &[Step],
    mut stock: Side,
    mut ferro: Side,
) -> Result<(), String> {
    for side in [&mut stock, &mut ferro] {
        let flushed = side.client().command(["FLUSHALL"]);
        if !matches!(&flushed, Ok(r) if r.raw() == b"+OK\r\n") {
            return Err(format!(
                "{}: FLUSHALL before the script failed on {}: {}",
                path.display(),
                side.server.flavor().name(),
                show(&flushed)
            ));
        }
    }
    for step in steps {
        let expected = stock.run(step);
        let actual = ferro.run(step);
        let count = expected.len().max(actual.len());
        for i in 0..count {
            let (Some(e), Some(a)) = (expected.get(i), actual.get(i)) else {
                return Err(report(
                    path,
                    step,
                    i,
                    count,
                    "reply counts differ",
                    None,
                    None,
                    &mut ferro,
                ));
            };
            if let Some(why) = compare(step.check, e, a) {
                return Err(report(
                    path,
                    step,
                    i,
                    count,
                    &why,
                    Some(e),
                    Some(a),
                    &mut ferro,
                ));
            }
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn report(
    path: &Path,
    step: &Step,
    index: usize,
    count: usize,
    why: &str,
    expected: Option<&Outcome>,
    actual: Option<&Outcome>,
    ferro: &mut Side,
) -> String {
    let mut out = String::new();
    let _ = write!(out, "{}:{}: {why}", path.display(), step.line);
    if count > 1 {
        let _ = write!(out, " (reply {} of {count})", index + 1);
    }
    if step.check != Check::Exact {
        let _ = write!(out, " [{}]", step.check.directive());
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "  step:     {}", step.source);
    if let Action::Command(args) = &step.action {
        let shown: Vec<String> = args.iter().map(|a| format!("\"{}\"", escape(a))).collect();
        let _ = writeln!(out, "  args:     {}", shown.join(" "));
    }
    let none = "<nothing>".to_string();
    let _ = writeln!(
        out,
        "  redis:    {}",
        expected.map(show).unwrap_or(none.clone())
    );
    let _ = writeln!(out, "  ferrodis: {}", actual.map(show).unwrap_or(none));
    if !ferro.server.is_running() {
        let _ = writeln!(
            out,
            "  the {} server has exited; last log lines:\n{}",
            ferro.server.flavor().name(),
            ferro.server.log_tail(30)
        );
    }
    out
}

/// Loads `tests/scripts/<name>.redis` and runs it differentially; panics with the report.
pub fn run_script(name: &str) {
    let path = scripts_dir().join(format!("{name}.redis"));
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let steps = parse_script(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    if let Err(report) = run_differential(&path, &steps) {
        panic!("\n{report}");
    }
}

/// Runs `steps` against one server and returns a transcript: each step, then its replies.
/// For writing scripts: shows what stock Redis (or ferrodis) answers.
pub fn transcript(flavor: Flavor, steps: &[Step]) -> String {
    let mut side = Side::start(flavor);
    let _ = side.client().command(["FLUSHALL"]);
    let mut out = String::new();
    for step in steps {
        let _ = writeln!(out, "{:>4}  {}", step.line, step.source);
        for outcome in side.run(step) {
            let _ = writeln!(out, "        -> {}", show(&outcome));
        }
    }
    out
}

//! The differential script format (`tests/scripts/*.redis`).
//!
//! One step per line; blank lines and lines starting with `#` are ignored.
//!
//! ```text
//! SET key "a value\r\n" EX 10      a command, arguments split like redis-cli does
//! @sorted SMEMBERS s               compare with the top-level elements sorted
//! @sortedpairs HGETALL h           same, sorting (field, value) pairs of a flat array
//! @ignore TIME                     compare only the shape: type, lengths, element types
//! @noreply SET a b                 send, read nothing (after CLIENT REPLY OFF/SKIP)
//! @raw "PING\r\n"                  send raw bytes (tokens concatenated), read one reply
//! @raw*3 "PING\r\nPING\r\nECHO x\r\n"   ... read three replies (@raw*0: read none)
//! @closed                          both servers must have closed the connection; reconnect
//! @reconnect                       open a fresh connection (RESP2, db 0, no name)
//! @sleep 120                       wait 120 ms (expiry tests only; keep it small)
//! @conn 1                          talk through connection 1 from now on (opened on first use;
//!                                  connection 0 is the one every script starts with)
//! @read                            read one more reply on the current connection (a push
//!                                  message, or the answer to a command that blocked)
//! ```
//!
//! Modifiers (`@sorted`, `@sortedpairs`, `@ignore`, `@noreply`) go before a command or an
//! `@raw`. Quoting follows `sdssplitargs`: `"..."` understands `\n \r \t \b \a \" \\ \xHH`,
//! `'...'` only `\'`, and a closing quote must be followed by a space or the end of the line.

use std::fmt;
use std::time::Duration;

/// How many connections a script may use (`@conn 0` .. `@conn 7`).
pub const MAX_CONNECTIONS: usize = 8;

/// How two replies are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// Byte for byte.
    Exact,
    /// Top-level aggregate elements sorted first (maps: by pair).
    Sorted,
    /// Top-level elements sorted by pairs (HGETALL / ZRANGE WITHSCORES in RESP2).
    SortedPairs,
    /// Same type, recursively same lengths and element types; values ignored.
    Shape,
    /// No reply is read.
    NoReply,
}

impl Check {
    /// The directive that selects this check.
    pub fn directive(self) -> &'static str {
        match self {
            Check::Exact => "exact",
            Check::Sorted => "@sorted",
            Check::SortedPairs => "@sortedpairs",
            Check::Shape => "@ignore",
            Check::NoReply => "@noreply",
        }
    }
}

/// What a step does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send a command as a multibulk request.
    Command(Vec<Vec<u8>>),
    /// Send raw bytes and read `replies` replies.
    Raw {
        /// The bytes, as they go on the wire.
        bytes: Vec<u8>,
        /// How many replies to read.
        replies: usize,
    },
    /// Both servers must close the connection; then reconnect.
    Closed,
    /// Open a fresh connection on both.
    Reconnect,
    /// Wait.
    Sleep(Duration),
    /// Switch to connection N (opened on first use).
    Conn(usize),
    /// Read one reply without sending anything.
    Read,
}

/// One line of a script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// 1-based line number.
    pub line: usize,
    /// The line as written (for messages).
    pub source: String,
    /// What to do.
    pub action: Action,
    /// How to compare the replies.
    pub check: Check,
}

/// A syntax error in a script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub reason: String,
}

impl fmt::Display for ScriptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.reason)
    }
}

impl std::error::Error for ScriptError {}

/// Splits a line into arguments like redis-cli (`sdssplitargs`).
pub fn split_args(line: &str) -> Result<Vec<Vec<u8>>, String> {
    let bytes = line.as_bytes();
    let mut args = Vec::new();
    let mut i = 0;
    loop {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= bytes.len() {
            return Ok(args);
        }
        let mut current = Vec::new();
        let mut in_double = false;
        let mut in_single = false;
        loop {
            if in_double {
                let Some(&c) = bytes.get(i) else {
                    return Err("unbalanced double quotes".into());
                };
                if c == b'\\'
                    && bytes.get(i + 1) == Some(&b'x')
                    && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit)
                    && bytes.get(i + 3).is_some_and(u8::is_ascii_hexdigit)
                {
                    let hex = std::str::from_utf8(&bytes[i + 2..i + 4]).expect("ascii");
                    current.push(u8::from_str_radix(hex, 16).expect("hex digits"));
                    i += 4;
                    continue;
                }
                if c == b'\\' && i + 1 < bytes.len() {
                    current.push(match bytes[i + 1] {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 0x08,
                        b'a' => 0x07,
                        other => other,
                    });
                    i += 2;
                    continue;
                }
                if c == b'"' {
                    if bytes.get(i + 1).is_some_and(|n| !n.is_ascii_whitespace()) {
                        return Err("closing quote must be followed by a space".into());
                    }
                    i += 1;
                    break;
                }
                current.push(c);
                i += 1;
            } else if in_single {
                let Some(&c) = bytes.get(i) else {
                    return Err("unbalanced single quotes".into());
                };
                if c == b'\\' && bytes.get(i + 1) == Some(&b'\'') {
                    current.push(b'\'');
                    i += 2;
                    continue;
                }
                if c == b'\'' {
                    if bytes.get(i + 1).is_some_and(|n| !n.is_ascii_whitespace()) {
                        return Err("closing quote must be followed by a space".into());
                    }
                    i += 1;
                    break;
                }
                current.push(c);
                i += 1;
            } else {
                match bytes.get(i) {
                    None => break,
                    Some(c) if c.is_ascii_whitespace() => break,
                    Some(b'"') => in_double = true,
                    Some(b'\'') => in_single = true,
                    Some(&c) => current.push(c),
                }
                i += 1;
            }
        }
        args.push(current);
    }
}

/// Parses a whole script.
pub fn parse_script(text: &str) -> Result<Vec<Step>, ScriptError> {
    let mut steps = Vec::new();
    for (index, raw_line) in text.lines().enumerate() {
        let line = index + 1;
        let trimmed = raw_line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let err = |reason: String| ScriptError { line, reason };
        let (check, action) = parse_line(trimmed).map_err(err)?;
        steps.push(Step {
            line,
            source: trimmed.to_string(),
            action,
            check,
        });
    }
    Ok(steps)
}

fn parse_line(line: &str) -> Result<(Check, Action), String> {
    let mut rest = line;
    let mut check = Check::Exact;
    loop {
        let (word, tail) = match rest.split_once(char::is_whitespace) {
            Some((w, t)) => (w, t.trim_start()),
            None => (rest, ""),
        };
        let modifier = match word {
            "@sorted" => Some(Check::Sorted),
            "@sortedpairs" => Some(Check::SortedPairs),
            "@ignore" => Some(Check::Shape),
            "@noreply" => Some(Check::NoReply),
            _ => None,
        };
        if let Some(m) = modifier {
            if check != Check::Exact {
                return Err(format!("{} after {}", word, check.directive()));
            }
            check = m;
            rest = tail;
            continue;
        }
        let only = |action: Action| {
            if !tail.is_empty() {
                Err(format!("{word} takes no argument"))
            } else if check != Check::Exact {
                Err(format!("{} cannot modify {word}", check.directive()))
            } else {
                Ok((Check::Exact, action))
            }
        };
        return match word {
            "" => Err(format!("{} without a command", check.directive())),
            "@closed" => only(Action::Closed),
            "@reconnect" => only(Action::Reconnect),
            "@read" => {
                if !tail.is_empty() {
                    return Err("@read takes no argument".into());
                }
                if check == Check::NoReply {
                    return Err("@noreply cannot modify @read".into());
                }
                Ok((check, Action::Read))
            }
            "@conn" => {
                let n: usize = tail
                    .trim()
                    .parse()
                    .ok()
                    .filter(|n| *n < MAX_CONNECTIONS)
                    .ok_or_else(|| format!("@conn needs 0..{MAX_CONNECTIONS}, got {tail:?}"))?;
                if check != Check::Exact {
                    return Err(format!("{} cannot modify @conn", check.directive()));
                }
                Ok((Check::Exact, Action::Conn(n)))
            }
            "@sleep" => {
                let ms: u64 = tail
                    .trim()
                    .parse()
                    .map_err(|_| format!("@sleep needs milliseconds, got {tail:?}"))?;
                if check != Check::Exact {
                    return Err(format!("{} cannot modify @sleep", check.directive()));
                }
                Ok((Check::Exact, Action::Sleep(Duration::from_millis(ms))))
            }
            w if w == "@raw" || w.starts_with("@raw*") => {
                let replies = match w.strip_prefix("@raw*") {
                    Some(n) => n.parse().map_err(|_| format!("bad reply count in {w:?}"))?,
                    None => 1,
                };
                let bytes: Vec<u8> = split_args(tail)?.concat();
                if bytes.is_empty() {
                    return Err("@raw needs bytes".into());
                }
                Ok((check, Action::Raw { bytes, replies }))
            }
            w if w.starts_with('@') => Err(format!("unknown directive {w}")),
            _ => {
                let args = split_args(rest)?;
                Ok((check, Action::Command(args)))
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<String> {
        split_args(line)
            .unwrap()
            .into_iter()
            .map(|a| String::from_utf8_lossy(&a).into_owned())
            .collect()
    }

    #[test]
    fn splits_like_redis_cli() {
        assert_eq!(args("set  a   b "), ["set", "a", "b"]);
        assert_eq!(args(r#"set "a b" 'c d'"#), ["set", "a b", "c d"]);
        assert_eq!(args(r#""\x41\x4a\r\n\"" 'it\'s'"#), ["AJ\r\n\"", "it's"]);
        assert_eq!(args(r#"a"b c""#), ["ab c"]);
        assert_eq!(args(r#""""#), [""]);
        assert_eq!(split_args(r#""\xff""#).unwrap(), vec![vec![0xffu8]]);
        assert!(split_args(r#""abc"#).is_err());
        assert!(split_args(r#""a"b"#).is_err());
        assert!(split_args("'a").is_err());
    }

    #[test]
    fn parses_directives() {
        let steps = parse_script(
            "# comment\n\nGET a\n@sorted KEYS *\n@raw*2 \"PING\\r\\n\" \"PING\\r\\n\"\n\
             @closed\n@sleep 5\n@ignore @raw \"TIME\\r\\n\"\n@noreply SET a b\n",
        )
        .unwrap();
        assert_eq!(steps.len(), 7);
        assert_eq!(steps[0].line, 3);
        assert_eq!(steps[1].check, Check::Sorted);
        assert_eq!(
            steps[2].action,
            Action::Raw {
                bytes: b"PING\r\nPING\r\n".to_vec(),
                replies: 2
            }
        );
        assert_eq!(steps[3].action, Action::Closed);
        assert_eq!(steps[4].action, Action::Sleep(Duration::from_millis(5)));
        assert_eq!(steps[5].check, Check::Shape);
        assert_eq!(steps[6].check, Check::NoReply);
    }

    #[test]
    fn rejects_bad_directives() {
        assert!(parse_script("@bogus x").is_err());
        assert!(parse_script("@sorted").is_err());
        assert!(parse_script("@sorted @ignore GET a").is_err());
        assert!(parse_script("@closed now").is_err());
        assert!(parse_script("@sleep soon").is_err());
        assert!(parse_script("@raw").is_err());
        assert!(parse_script("@conn").is_err());
        assert!(parse_script("@conn 8").is_err());
        assert!(parse_script("@read 1").is_err());
        assert!(parse_script("@noreply @read").is_err());
    }

    #[test]
    fn parses_connections() {
        let steps = parse_script("@conn 2\n@sorted @read\n@conn 0\n").unwrap();
        assert_eq!(steps[0].action, Action::Conn(2));
        assert_eq!(
            (steps[1].check, &steps[1].action),
            (Check::Sorted, &Action::Read)
        );
        assert_eq!(steps[2].action, Action::Conn(0));
    }
}

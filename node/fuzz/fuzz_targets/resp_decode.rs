//! Fuzzes the RESP request decoder (`ferrodis_node::resp::parse_command`).
//!
//! The input's first byte picks how the rest is cut into network reads; the same bytes are
//! then decoded twice, all at once and read by read, and must give the same commands and the
//! same protocol error. Along the way: no panic, every command consumes bytes, nothing is
//! consumed while a command is incomplete, and each multibulk command re-encoded decodes to
//! the same arguments.
#![no_main]

use bytes::{Bytes, BytesMut};
use ferrodis_node::resp::{parse_command, Limits, ProtocolError};
use libfuzzer_sys::fuzz_target;

/// Small enough that the fuzzer reaches the bulk-length limit.
const LIMITS: Limits = Limits {
    max_bulk: 1 << 16,
    unauthenticated: false,
};

#[derive(Debug, PartialEq)]
enum Event {
    Command(Vec<Bytes>),
    Error(String),
}

/// Decodes what `feed` delivers, one read at a time, until a protocol error (which closes
/// the connection) or the end of input.
fn decode(reads: &[&[u8]]) -> Vec<Event> {
    let mut buf = BytesMut::new();
    let mut args = Vec::new();
    let mut events = Vec::new();
    for read in reads {
        buf.extend_from_slice(read);
        loop {
            let before = buf.len();
            let snapshot = buf.clone();
            match parse_command(&mut buf, LIMITS, &mut args) {
                Ok(true) => {
                    assert!(buf.len() < before, "a command must consume bytes");
                    if !args.is_empty() {
                        events.push(Event::Command(args.clone()));
                    }
                }
                Ok(false) => {
                    assert_eq!(buf, snapshot, "an incomplete command must consume nothing");
                    break;
                }
                Err(e) => {
                    events.push(Event::Error(error_text(&e)));
                    return events;
                }
            }
        }
    }
    events
}

fn error_text(e: &ProtocolError) -> String {
    e.to_string()
}

fn reencode(args: &[Bytes]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&shape, body)) = data.split_first() else {
        return;
    };
    let whole = decode(&[body]);

    // Cut into reads of 1..=8 bytes (shape's low bits) or pseudo-random sizes.
    let mut reads: Vec<&[u8]> = Vec::new();
    let mut rest = body;
    let mut state = shape as usize | 1;
    while !rest.is_empty() {
        state = state.wrapping_mul(1103515245).wrapping_add(12345);
        let n = if shape & 0x80 == 0 {
            (shape as usize & 7) + 1
        } else {
            (state >> 8) % 64 + 1
        };
        let (head, tail) = rest.split_at(n.min(rest.len()));
        reads.push(head);
        rest = tail;
    }
    let piecewise = decode(&reads);

    // Inline commands are cut at the 64 KB inline limit depending on how much is buffered, so
    // only compare when no error depends on buffering; otherwise both must still agree on the
    // commands decoded before the error.
    match (whole.last(), piecewise.last()) {
        (Some(Event::Error(_)), _) | (_, Some(Event::Error(_))) => {
            let n = whole.len().min(piecewise.len()).saturating_sub(1);
            assert_eq!(whole[..n], piecewise[..n]);
        }
        _ => assert_eq!(whole, piecewise),
    }

    for event in &whole {
        if let Event::Command(args) = event {
            let encoded = reencode(args);
            let again = decode(&[&encoded]);
            assert_eq!(again, vec![Event::Command(args.clone())]);
        }
    }
});

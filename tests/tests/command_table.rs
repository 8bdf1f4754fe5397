//! The command table against stock Redis 7.0: the same commands (COMMAND COUNT, COMMAND
//! LIST) and, for every one of them, the same COMMAND INFO (arity, flags, key positions, ACL
//! categories, tips, key specs, subcommands) in RESP2 and RESP3. Redis lists flags,
//! categories and subcommands in its hash tables' order, so those are compared as sets.
//! Also LOLWUT, whose drawings are random: their shape, framing and errors.

use ferrodis_tests::{Flavor, Reply, RespClient, Server};

/// A reply with the parts Redis lists in no fixed order sorted: element 2 (flags), 6 (ACL
/// categories) and 9 (subcommands, each in the same form) of a COMMAND INFO entry.
fn canonical_entry(r: &Reply) -> String {
    let c = r.children();
    if c.len() < 10 {
        return format!("{r}");
    }
    let mut parts: Vec<String> = Vec::with_capacity(c.len());
    for (i, e) in c.iter().enumerate() {
        let mut items: Vec<String> = match i {
            2 | 6 => e.children().iter().map(|x| format!("{x}")).collect(),
            9 => e.children().iter().map(canonical_entry).collect(),
            _ => {
                parts.push(format!("{e}"));
                continue;
            }
        };
        items.sort();
        parts.push(format!("[{}]", items.join(", ")));
    }
    parts.join(" ")
}

fn table(flavor: Flavor) -> (Vec<String>, Vec<(String, String)>) {
    let s = Server::builder(flavor).start();
    let mut c: RespClient = s.client();
    let count = c.ok(["COMMAND", "COUNT"]);
    let list = c.ok(["COMMAND", "LIST"]);
    let mut names: Vec<String> = list
        .children()
        .iter()
        .map(|n| n.as_str().expect("a name"))
        .collect();
    names.sort();
    let mut out = vec![format!("COMMAND COUNT -> {count}")];
    out.extend(names.iter().cloned());
    let mut infos = Vec::new();
    for proto in ["2", "3"] {
        c.ok(["HELLO", proto]);
        for chunk in names.chunks(40) {
            let mut args = vec!["COMMAND", "INFO"];
            args.extend(chunk.iter().map(String::as_str));
            let r = c.ok(args);
            assert_eq!(r.children().len(), chunk.len());
            for (name, entry) in chunk.iter().zip(r.children()) {
                infos.push((format!("RESP{proto} {name}"), canonical_entry(entry)));
            }
        }
    }
    (out, infos)
}

#[test]
fn every_command_is_described_as_in_redis() {
    let (stock_names, stock) = table(Flavor::Stock);
    let (ours_names, ours) = table(Flavor::Ferrodis);
    assert_eq!(ours_names, stock_names);
    assert!(stock.len() > 400, "{}", stock.len());
    let differ: Vec<String> = stock
        .iter()
        .zip(&ours)
        .filter(|(s, o)| s != o)
        .map(|(s, o)| format!("{}\n  stock:    {}\n  ferrodis: {}", s.0, s.1, o.1))
        .collect();
    assert!(differ.is_empty(), "{}", differ.join("\n"));
}

/// What can be compared of a LOLWUT reply: its type, then per line the number of characters
/// (the drawing's size), with the lines of text (caption, version) as they are.
fn lolwut_shape(r: &Reply) -> String {
    if r.is_error() {
        return format!("{r}");
    }
    let text = r.as_str().expect("text");
    let lines: Vec<String> = text
        .split('\n')
        .map(|l| {
            if l.contains("Redis ver.") || l.starts_with("Dedicated") || l.is_empty() {
                l.to_string()
            } else {
                // A drawn line: Braille characters, or one coloured cell per column.
                let cells = l.matches("\x1b[0m").count();
                format!(
                    "{} cells",
                    if cells > 0 { cells } else { l.chars().count() }
                )
            }
        })
        .collect();
    format!("{:?} {}", r.kind(), lines.join(" | "))
}

fn lolwuts(flavor: Flavor) -> Vec<String> {
    let s = Server::builder(flavor).start();
    let mut c = s.client();
    let mut out = Vec::new();
    for proto in ["2", "3"] {
        c.ok(["HELLO", proto]);
        for args in [
            &["LOLWUT"][..],
            &["LOLWUT", "version"],
            &["LOLWUT", "foo", "bar"],
            &["LOLWUT", "VERSION", "7"],
            &["LOLWUT", "VERSION", "-1"],
            &["LOLWUT", "VERSION", "x"],
            &["LOLWUT", "VERSION", "5"],
            &["LOLWUT", "VERSION", "5", "10"],
            &["LOLWUT", "version", "5", "10", "2", "3", "extra"],
            &["LOLWUT", "VERSION", "5", "0", "0", "0"],
            &["LOLWUT", "VERSION", "5", "-5", "8", "12"],
            &["LOLWUT", "VERSION", "5", "66", "-5", "-5"],
            &["LOLWUT", "VERSION", "5", "2000", "300", "300"],
            &["LOLWUT", "VERSION", "5", "10", "x"],
            &["LOLWUT", "VERSION", "6"],
            &["LOLWUT", "VERSION", "6", "10", "5"],
            &["LOLWUT", "VERSION", "6", "-3", "0"],
            &["LOLWUT", "VERSION", "6", "1", "1.5"],
        ] {
            let r = c.command(args.iter().copied()).expect("reply");
            out.push(format!("RESP{proto} {args:?} -> {}", lolwut_shape(&r)));
        }
    }
    out
}

#[test]
fn lolwut_has_redis_shapes() {
    let stock = lolwuts(Flavor::Stock);
    assert_eq!(lolwuts(Flavor::Ferrodis), stock);
    assert!(stock[0].ends_with("Redis ver. 7.0.15 | "), "{}", stock[0]);
}

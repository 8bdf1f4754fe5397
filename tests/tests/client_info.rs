//! CLIENT INFO / CLIENT LIST fields that other connections and tools read, against stock
//! Redis: the database after a script's SELECT, `cmd` after an unknown command or
//! subcommand, `multi` once a transaction is doomed, NO-EVICT across RESET, and CLIENT LIST's
//! ID and TYPE forms. Addresses, ids, ages and memory figures are left out.

use ferrodis_tests::{Flavor, RespClient, Server};

/// The `name=value` fields of a CLIENT INFO / LIST line.
fn field(line: &str, name: &str) -> String {
    line.split_whitespace()
        .find_map(|f| f.strip_prefix(name).and_then(|v| v.strip_prefix('=')))
        .unwrap_or_else(|| panic!("{name} in {line}"))
        .to_string()
}

fn id_of(c: &mut RespClient) -> String {
    c.ok(["CLIENT", "ID"]).as_int().expect("id").to_string()
}

/// CLIENT LIST ID `id` as seen from `by`: the fields checked.
fn seen(by: &mut RespClient, id: &str) -> String {
    let text = by.ok(["CLIENT", "LIST", "ID", id]).as_str().expect("text");
    let line = text.lines().next().expect("one line");
    ["db", "cmd", "multi", "flags", "name"]
        .map(|f| format!("{f}={}", field(line, f)))
        .join(" ")
}

fn scenario(flavor: Flavor) -> Vec<String> {
    let s = Server::builder(flavor).start();
    let mut a = s.client();
    let mut b = s.client();
    let ida = id_of(&mut a);
    let idb = id_of(&mut b);
    let mut out = Vec::new();
    let mut step = |a: &mut RespClient, args: &[&str], b: &mut RespClient| {
        let r = a.command(args).expect("reply");
        out.push(format!("{args:?} -> {r} | {}", seen(b, &ida)));
    };
    step(
        &mut a,
        &["EVAL", "return redis.call('SELECT', 1)", "0"],
        &mut b,
    );
    step(&mut a, &["NOSUCH", "x"], &mut b);
    step(&mut a, &["CLIENT", "BADSUB"], &mut b);
    step(&mut a, &["CLIENT"], &mut b);
    step(&mut a, &["MULTI"], &mut b);
    step(&mut a, &["SET", "k", "v"], &mut b);
    step(&mut a, &["GET"], &mut b);
    step(&mut a, &["SET", "k", "v"], &mut b);
    step(&mut a, &["SET", "k", "v"], &mut b);
    step(&mut a, &["EXEC"], &mut b);
    // A WATCH broken before the commands are queued.
    step(&mut a, &["WATCH", "w"], &mut b);
    b.ok(["SET", "w", "1"]);
    step(&mut a, &["MULTI"], &mut b);
    step(&mut a, &["SET", "k", "v"], &mut b);
    step(&mut a, &["EXEC"], &mut b);
    step(&mut a, &["CLIENT", "NO-EVICT", "on"], &mut b);
    step(&mut a, &["CLIENT", "SETNAME", "named"], &mut b);
    step(&mut a, &["RESET"], &mut b);
    step(&mut a, &["CLIENT", "NO-EVICT", "off"], &mut b);
    for args in [
        vec!["CLIENT", "LIST", "ID", "-1"],
        vec!["CLIENT", "LIST", "ID", "0"],
        vec!["CLIENT", "LIST", "ID", "x"],
        vec!["CLIENT", "LIST", "TYPE", "normal", "ID", "5"],
        vec!["CLIENT", "LIST", "TYPE"],
        vec!["CLIENT", "LIST", "TYPE", "bogus"],
    ] {
        let r = b.command(&args).expect("reply");
        out.push(format!("{args:?} -> {r}"));
    }
    // IDs in the order given, a repeated one twice.
    let text = b
        .ok(["CLIENT", "LIST", "ID", &idb, &ida, &idb])
        .as_str()
        .expect("text");
    let ids: Vec<String> = text.lines().map(|l| field(l, "id")).collect();
    assert_eq!(ids, [idb.clone(), ida.clone(), idb.clone()], "{flavor:?}");
    out
}

#[test]
fn client_fields_as_in_redis() {
    let stock = scenario(Flavor::Stock);
    let ours = scenario(Flavor::Ferrodis);
    ferrodis_tests::diff::assert_same_transcripts(&stock, &ours);
}

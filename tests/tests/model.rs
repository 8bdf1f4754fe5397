//! Model-based tests, one per data type: random command sequences (seeded) go to a ferrodis
//! server and to a plain in-test model (`BTreeMap`, `BTreeSet`, `VecDeque`); every reply must
//! be the one the model predicts, byte for byte (RESP2). Values are chosen so that the
//! sequences cross the small/large encoding limits (listpack -> hashtable, intset ->
//! hashtable, list chunk boundaries). A failure prints the seed and the step.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use ferrodis_tests::resp_client::escape;
use ferrodis_tests::{Flavor, RespClient, Server};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Seeds per type (`MODEL_SEEDS` overrides) and commands per seed.
const SEEDS: u64 = 12;
const STEPS: usize = 600;

/// An expected RESP2 reply.
enum E {
    Int(i64),
    Bulk(Vec<u8>),
    Nil,
    Ok,
    Arr(Vec<E>),
}

impl E {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            E::Int(n) => out.extend_from_slice(format!(":{n}\r\n").as_bytes()),
            E::Bulk(b) => {
                out.extend_from_slice(format!("${}\r\n", b.len()).as_bytes());
                out.extend_from_slice(b);
                out.extend_from_slice(b"\r\n");
            }
            E::Nil => out.extend_from_slice(b"$-1\r\n"),
            E::Ok => out.extend_from_slice(b"+OK\r\n"),
            E::Arr(items) => {
                out.extend_from_slice(format!("*{}\r\n", items.len()).as_bytes());
                for i in items {
                    i.encode(out);
                }
            }
        }
    }
}

fn bulk(b: &[u8]) -> E {
    E::Bulk(b.to_vec())
}

fn bulks<'a>(items: impl IntoIterator<Item = &'a [u8]>) -> E {
    E::Arr(items.into_iter().map(bulk).collect())
}

/// Runs `seeds` sequences of `STEPS` commands from `next` (which updates the model and
/// returns the command and its expected reply) against a fresh database each.
fn run_model<M: Default>(
    name: &str,
    mut next: impl FnMut(&mut StdRng, &mut M) -> (Vec<Vec<u8>>, E),
) {
    let server = Server::builder(Flavor::Ferrodis).start();
    let mut c: RespClient = server.client();
    let seeds = std::env::var("MODEL_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(SEEDS);
    for seed in 0..seeds {
        c.ok(["FLUSHALL"]);
        let mut rng = StdRng::seed_from_u64(seed ^ 0x6d6f_6465_6c00);
        let mut model = M::default();
        for step in 0..STEPS {
            let (args, expected) = next(&mut rng, &mut model);
            let mut want = Vec::new();
            expected.encode(&mut want);
            let got = c.command(&args).unwrap_or_else(|e| {
                panic!(
                    "{name} seed {seed} step {step}: {e}\n  server log:\n{}",
                    server.log_tail(20)
                )
            });
            if got.raw() != want.as_slice() {
                let shown: Vec<String> = args.iter().map(|a| escape(a)).collect();
                panic!(
                    "{name} seed {seed} step {step}: {}\n  model:    {}\n  ferrodis: {}",
                    shown.join(" "),
                    escape(&want),
                    escape(got.raw())
                );
            }
        }
    }
}

fn cmd(parts: &[&[u8]]) -> Vec<Vec<u8>> {
    parts.iter().map(|p| p.to_vec()).collect()
}

/// A value: mostly short, sometimes long enough to leave the compact encodings.
fn value(rng: &mut StdRng) -> Vec<u8> {
    let len = if rng.gen_ratio(1, 25) {
        rng.gen_range(65..300)
    } else {
        rng.gen_range(0..12)
    };
    (0..len).map(|_| b'a' + rng.gen_range(0..6)).collect()
}

#[test]
fn hash_matches_model() {
    run_model::<BTreeMap<Vec<u8>, Vec<u8>>>("hash", |rng, m| {
        let field = format!("f{}", rng.gen_range(0..200)).into_bytes();
        match rng.gen_range(0..8) {
            0 | 1 => {
                let v = value(rng);
                let new = m.insert(field.clone(), v.clone()).is_none();
                (cmd(&[b"HSET", b"h", &field, &v]), E::Int(new as i64))
            }
            2 => {
                let gone = m.remove(&field).is_some();
                (cmd(&[b"HDEL", b"h", &field]), E::Int(gone as i64))
            }
            3 => (
                cmd(&[b"HGET", b"h", &field]),
                m.get(&field).map_or(E::Nil, |v| bulk(v)),
            ),
            4 => (cmd(&[b"HLEN", b"h"]), E::Int(m.len() as i64)),
            5 => (
                cmd(&[b"HSTRLEN", b"h", &field]),
                E::Int(m.get(&field).map_or(0, Vec::len) as i64),
            ),
            6 => {
                // Numeric fields live apart so HINCRBY never meets a non-number.
                let nf = format!("n{}", rng.gen_range(0..20)).into_bytes();
                let by: i64 = rng.gen_range(-50..50);
                let old: i64 = m
                    .get(&nf)
                    .and_then(|v| std::str::from_utf8(v).ok()?.parse().ok())
                    .unwrap_or(0);
                m.insert(nf.clone(), (old + by).to_string().into_bytes());
                (
                    cmd(&[b"HINCRBY", b"h", &nf, by.to_string().as_bytes()]),
                    E::Int(old + by),
                )
            }
            _ => {
                // HMGET keeps argument order, so no sorting is needed.
                let f2 = format!("f{}", rng.gen_range(0..200)).into_bytes();
                let get = |f: &Vec<u8>| m.get(f).map_or(E::Nil, |v| bulk(v));
                (
                    cmd(&[b"HMGET", b"h", &field, &f2]),
                    E::Arr(vec![get(&field), get(&f2)]),
                )
            }
        }
    });
}

#[test]
fn set_matches_model() {
    run_model::<BTreeSet<Vec<u8>>>("set", |rng, m| {
        // Integers keep the set an intset until a string or the 512 limit arrives.
        let member = if rng.gen_ratio(9, 10) {
            rng.gen_range(-700i64..700).to_string().into_bytes()
        } else {
            format!("m{}", rng.gen_range(0..50)).into_bytes()
        };
        match rng.gen_range(0..7) {
            0..=2 => {
                let new = m.insert(member.clone());
                (cmd(&[b"SADD", b"s", &member]), E::Int(new as i64))
            }
            3 => {
                let gone = m.remove(&member);
                (cmd(&[b"SREM", b"s", &member]), E::Int(gone as i64))
            }
            4 => (
                cmd(&[b"SISMEMBER", b"s", &member]),
                E::Int(m.contains(&member) as i64),
            ),
            5 => (cmd(&[b"SCARD", b"s"]), E::Int(m.len() as i64)),
            _ => {
                // SMISMEMBER answers in argument order: no sorting needed.
                let probe: Vec<Vec<u8>> = (0..8)
                    .map(|_| rng.gen_range(-700i64..700).to_string().into_bytes())
                    .collect();
                let mut args: Vec<Vec<u8>> = vec![b"SMISMEMBER".to_vec(), b"s".to_vec()];
                args.extend(probe.iter().cloned());
                let want = probe.iter().map(|p| E::Int(m.contains(p) as i64)).collect();
                (args, E::Arr(want))
            }
        }
    });
}

#[test]
fn list_matches_model() {
    run_model::<VecDeque<Vec<u8>>>("list", |rng, m| {
        let len = m.len() as i64;
        let index = |rng: &mut StdRng| rng.gen_range(-(len + 2)..len + 2);
        // Resolves a possibly negative index like Redis; None when out of range.
        let at = |i: i64| -> Option<usize> {
            let j = if i < 0 { len + i } else { i };
            (0..len).contains(&j).then_some(j as usize)
        };
        match rng.gen_range(0..12) {
            0 | 1 => {
                let v = value(rng);
                m.push_front(v.clone());
                (cmd(&[b"LPUSH", b"l", &v]), E::Int(m.len() as i64))
            }
            2 | 3 => {
                let v = value(rng);
                m.push_back(v.clone());
                (cmd(&[b"RPUSH", b"l", &v]), E::Int(m.len() as i64))
            }
            4 => (cmd(&[b"LPOP", b"l"]), m.pop_front().map_or(E::Nil, E::Bulk)),
            5 => (cmd(&[b"RPOP", b"l"]), m.pop_back().map_or(E::Nil, E::Bulk)),
            6 => {
                let i = index(rng);
                (
                    cmd(&[b"LINDEX", b"l", i.to_string().as_bytes()]),
                    at(i).map_or(E::Nil, |j| bulk(&m[j])),
                )
            }
            7 if len > 0 => {
                let i = rng.gen_range(-len..len);
                let v = value(rng);
                let j = at(i).expect("in range");
                m[j] = v.clone();
                (cmd(&[b"LSET", b"l", i.to_string().as_bytes(), &v]), E::Ok)
            }
            8 => {
                let (a, b) = (index(rng), index(rng));
                let start = if a < 0 { (len + a).max(0) } else { a };
                let end = if b < 0 { len + b } else { b.min(len - 1) };
                let items: Vec<&[u8]> = if start > end || start >= len {
                    Vec::new()
                } else {
                    (start..=end).map(|k| m[k as usize].as_slice()).collect()
                };
                (
                    cmd(&[
                        b"LRANGE",
                        b"l",
                        a.to_string().as_bytes(),
                        b.to_string().as_bytes(),
                    ]),
                    bulks(items),
                )
            }
            9 if len > 0 => {
                let pivot = m[rng.gen_range(0..m.len())].clone();
                let v = value(rng);
                let before = rng.gen_bool(0.5);
                let p = m.iter().position(|x| *x == pivot).expect("pivot present");
                m.insert(if before { p } else { p + 1 }, v.clone());
                let side: &[u8] = if before { b"BEFORE" } else { b"AFTER" };
                (
                    cmd(&[b"LINSERT", b"l", side, &pivot, &v]),
                    E::Int(m.len() as i64),
                )
            }
            10 => {
                let v = value(rng);
                let count: i64 = rng.gen_range(-2..3);
                let mut removed = 0i64;
                let limit = if count == 0 { i64::MAX } else { count.abs() };
                if count >= 0 {
                    let mut k = 0;
                    while k < m.len() && removed < limit {
                        if m[k] == v {
                            m.remove(k);
                            removed += 1;
                        } else {
                            k += 1;
                        }
                    }
                } else {
                    let mut k = m.len();
                    while k > 0 && removed < limit {
                        k -= 1;
                        if m[k] == v {
                            m.remove(k);
                            removed += 1;
                        }
                    }
                }
                (
                    cmd(&[b"LREM", b"l", count.to_string().as_bytes(), &v]),
                    E::Int(removed),
                )
            }
            _ => (cmd(&[b"LLEN", b"l"]), E::Int(len)),
        }
    });
}

/// Sorted-set model: member -> integer score; order is (score, member).
#[derive(Default)]
struct ZModel(BTreeMap<Vec<u8>, i64>);

impl ZModel {
    fn ordered(&self) -> Vec<(&[u8], i64)> {
        let mut v: Vec<(&[u8], i64)> = self.0.iter().map(|(m, s)| (m.as_slice(), *s)).collect();
        v.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(b.0)));
        v
    }
}

#[test]
fn zset_matches_model() {
    run_model::<ZModel>("zset", |rng, m| {
        let member = format!("m{}", rng.gen_range(0..180)).into_bytes();
        let score: i64 = rng.gen_range(-20..20);
        match rng.gen_range(0..9) {
            0..=2 => {
                let new = m.0.insert(member.clone(), score).is_none();
                (
                    cmd(&[b"ZADD", b"z", score.to_string().as_bytes(), &member]),
                    E::Int(new as i64),
                )
            }
            3 => {
                let s = m.0.get(&member).copied().unwrap_or(0) + score;
                m.0.insert(member.clone(), s);
                (
                    cmd(&[b"ZINCRBY", b"z", score.to_string().as_bytes(), &member]),
                    E::Bulk(s.to_string().into_bytes()),
                )
            }
            4 => {
                let gone = m.0.remove(&member).is_some();
                (cmd(&[b"ZREM", b"z", &member]), E::Int(gone as i64))
            }
            5 => (
                cmd(&[b"ZSCORE", b"z", &member]),
                m.0.get(&member)
                    .map_or(E::Nil, |s| E::Bulk(s.to_string().into_bytes())),
            ),
            6 => {
                let rank = m
                    .ordered()
                    .iter()
                    .position(|(x, _)| *x == member.as_slice());
                (
                    cmd(&[b"ZRANK", b"z", &member]),
                    rank.map_or(E::Nil, |r| E::Int(r as i64)),
                )
            }
            7 => {
                let (lo, hi) = (score.min(score + 5), score + 5);
                let items: Vec<E> = m
                    .ordered()
                    .into_iter()
                    .filter(|(_, s)| (lo..=hi).contains(s))
                    .flat_map(|(x, s)| [bulk(x), E::Bulk(s.to_string().into_bytes())])
                    .collect();
                (
                    cmd(&[
                        b"ZRANGEBYSCORE",
                        b"z",
                        lo.to_string().as_bytes(),
                        hi.to_string().as_bytes(),
                        b"WITHSCORES",
                    ]),
                    E::Arr(items),
                )
            }
            _ => {
                let n = m.0.len() as i64;
                let (a, b) = (rng.gen_range(-n - 2..n + 2), rng.gen_range(-n - 2..n + 2));
                let start = if a < 0 { (n + a).max(0) } else { a };
                let end = if b < 0 { n + b } else { b.min(n - 1) };
                let ordered = m.ordered();
                let items: Vec<&[u8]> = if start > end || start >= n {
                    Vec::new()
                } else {
                    (start..=end).map(|k| ordered[k as usize].0).collect()
                };
                (
                    cmd(&[
                        b"ZRANGE",
                        b"z",
                        a.to_string().as_bytes(),
                        b.to_string().as_bytes(),
                    ]),
                    bulks(items),
                )
            }
        }
    });
}

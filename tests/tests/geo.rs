//! Geo at volume, and the side effects of the HyperLogLog and geo commands: random points and
//! searches on stock Redis and ferrodis with every reply compared byte for byte, and the
//! dirty counter and keyspace hits/misses each command adds (INFO), compared too.

use ferrodis_tests::resp_client::escape;
use ferrodis_tests::{RespClient, Server};

struct Pair {
    _servers: (Server, Server),
    stock: RespClient,
    ours: RespClient,
}

impl Pair {
    fn start() -> Pair {
        let stock = Server::stock();
        let ours = Server::ferrodis();
        let (sc, oc) = (stock.client(), ours.client());
        Pair {
            _servers: (stock, ours),
            stock: sc,
            ours: oc,
        }
    }

    fn same(&mut self, args: &[String]) {
        let a = self.stock.command(args).expect("stock reply");
        let b = self.ours.command(args).expect("ferrodis reply");
        assert_eq!(
            escape(a.raw()),
            escape(b.raw()),
            "{}: stock vs ferrodis",
            args.join(" ")
        );
    }
}

/// A deterministic pseudo-random sequence (no dependency on the rand crate's algorithm).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 11
    }

    /// Uniform in [lo, hi).
    fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (self.next() as f64 / (1u64 << 53) as f64) * (hi - lo)
    }
}

fn cmd(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|s| s.to_string()).collect()
}

#[test]
fn random_points_and_searches() {
    let mut p = Pair::start();
    let mut rng = Lcg(42);
    // Clusters around a few centres (ties, poles, the antimeridian), plus points everywhere.
    let centres = [
        (0.0, 0.0),
        (179.9, 10.0),
        (-179.9, -10.0),
        (12.5, 84.9),
        (-70.0, -84.9),
        (2.35, 48.85),
    ];
    let mut members = Vec::new();
    for batch in 0..20 {
        let mut args = cmd(&["GEOADD", "pts"]);
        for i in 0..100 {
            let (lon, lat) = if i % 4 == 0 {
                (rng.range(-180.0, 180.0), rng.range(-85.0, 85.0))
            } else {
                let (clon, clat): (f64, f64) = centres[(i + batch) % centres.len()];
                let lon = (clon + rng.range(-0.5, 0.5)).clamp(-180.0, 180.0);
                let lat = (clat + rng.range(-0.3, 0.3)).clamp(-85.05, 85.05);
                (lon, lat)
            };
            let name = format!("m{batch}-{i}");
            args.push(format!("{lon:.6}"));
            args.push(format!("{lat:.6}"));
            args.push(name.clone());
            members.push(name);
        }
        p.same(&args);
    }
    let mut pos = cmd(&["GEOPOS", "pts"]);
    pos.extend(members.iter().take(200).cloned());
    p.same(&pos);
    let mut hash = cmd(&["GEOHASH", "pts"]);
    hash.extend(members.iter().take(200).cloned());
    p.same(&hash);
    for i in 0..200 {
        let (clon, clat) = centres[i % centres.len()];
        let lon = format!("{:.5}", (clon + rng.range(-0.2, 0.2)).clamp(-180.0, 180.0));
        let lat = format!("{:.5}", (clat + rng.range(-0.2, 0.2)).clamp(-85.0, 85.0));
        let radius = format!("{:.3}", rng.range(0.0, 1.0).powi(3) * 3000.0);
        let unit = ["m", "km", "mi", "ft"][i % 4];
        let count = format!("{}", 1 + rng.next() % 30);
        let order = ["ASC", "DESC"][i % 2];
        p.same(&cmd(&[
            "GEOSEARCH",
            "pts",
            "FROMLONLAT",
            &lon,
            &lat,
            "BYRADIUS",
            &radius,
            "km",
            "WITHDIST",
            "WITHHASH",
            "WITHCOORD",
            order,
        ]));
        p.same(&cmd(&[
            "GEOSEARCH",
            "pts",
            "FROMLONLAT",
            &lon,
            &lat,
            "BYBOX",
            &radius,
            &radius,
            unit,
            "WITHDIST",
            "COUNT",
            &count,
            order,
        ]));
        p.same(&cmd(&[
            "GEORADIUS",
            "pts",
            &lon,
            &lat,
            &radius,
            unit,
            "COUNT",
            &count,
            "ANY",
        ]));
        p.same(&cmd(&["GEORADIUS", "pts", &lon, &lat, &radius, "km"]));
        let member = &members[(rng.next() as usize) % members.len()];
        let other = &members[(rng.next() as usize) % members.len()];
        p.same(&cmd(&[
            "GEORADIUSBYMEMBER",
            "pts",
            member,
            &radius,
            "km",
            "WITHDIST",
            "COUNT",
            &count,
        ]));
        p.same(&cmd(&["GEODIST", "pts", member, other, unit]));
        p.same(&cmd(&[
            "GEOSEARCHSTORE",
            "dst",
            "pts",
            "FROMMEMBER",
            member,
            "BYRADIUS",
            &radius,
            "km",
            "STOREDIST",
        ]));
        p.same(&cmd(&[
            "GEOSEARCH",
            "dst",
            "FROMMEMBER",
            member,
            "BYRADIUS",
            "0",
            "m",
        ]));
    }
}

/// `rdb_changes_since_last_save`, `keyspace_hits`, `keyspace_misses`.
fn counters(c: &mut RespClient) -> [i64; 3] {
    let reply = c.ok(["INFO", "all"]);
    let text = String::from_utf8_lossy(reply.as_bytes().unwrap_or_default()).to_string();
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}:")))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(-1)
    };
    [
        field("rdb_changes_since_last_save"),
        field("keyspace_hits"),
        field("keyspace_misses"),
    ]
}

#[test]
fn dirty_counter_and_keyspace_hits() {
    let mut p = Pair::start();
    let script: &[&[&str]] = &[
        &["PFADD", "h"],
        &["PFADD", "h"],
        &["PFADD", "h", "a", "b", "c"],
        &["PFADD", "h", "a", "b", "c"],
        &["PFCOUNT", "h"],
        &["PFCOUNT", "h"],
        &["PFCOUNT", "nokey"],
        &["PFCOUNT", "h", "nokey", "h"],
        &["PFMERGE", "m", "h", "nokey"],
        &["PFMERGE", "m"],
        &["PFDEBUG", "TODENSE", "m"],
        &["PFDEBUG", "TODENSE", "m"],
        &["PFDEBUG", "GETREG", "h"],
        &["SET", "s", "x"],
        &["PFADD", "s", "a"],
        &["PFCOUNT", "s"],
        &["PFCOUNT", "h", "s"],
        &["GEOADD", "g", "1", "1", "a", "2", "2", "b"],
        &["GEOADD", "g", "1", "1", "a", "3", "3", "b", "4", "4", "c"],
        &["GEOADD", "g", "XX", "5", "5", "a", "5", "5", "d"],
        &["GEOADD", "g", "NX", "CH", "6", "6", "a", "6", "6", "e"],
        &["GEOADD", "newg", "XX", "1", "1", "a"],
        &["GEOADD", "s", "1", "1", "a"],
        &["GEODIST", "g", "a", "b"],
        &["GEODIST", "nokey", "a", "b"],
        &["GEOHASH", "g", "a"],
        &["GEOPOS", "nokey", "a"],
        &[
            "GEOSEARCH",
            "g",
            "FROMMEMBER",
            "a",
            "BYRADIUS",
            "5000",
            "km",
        ],
        &[
            "GEOSEARCH",
            "nokey",
            "FROMMEMBER",
            "a",
            "BYRADIUS",
            "5000",
            "km",
        ],
        &["GEORADIUS", "g", "0", "0", "5000", "km", "STORE", "st"],
        &["GEORADIUS", "g", "0", "0", "1", "m", "STORE", "st"],
        &["GEORADIUS", "g", "0", "0", "1", "m", "STORE", "st"],
        &["GEORADIUS", "nokey", "0", "0", "1", "m", "STORE", "g"],
        &[
            "GEOSEARCHSTORE",
            "st2",
            "g",
            "FROMLONLAT",
            "0",
            "0",
            "BYRADIUS",
            "1",
            "m",
        ],
        &["GEORADIUSBYMEMBER", "nokey", "x", "1", "m"],
    ];
    for args in script {
        let before = (counters(&mut p.stock), counters(&mut p.ours));
        let args = cmd(args);
        p.same(&args);
        let after = (counters(&mut p.stock), counters(&mut p.ours));
        let delta = |a: [i64; 3], b: [i64; 3]| [b[0] - a[0], b[1] - a[1], b[2] - a[2]];
        assert_eq!(
            delta(before.0, after.0),
            delta(before.1, after.1),
            "{}: [dirty, hits, misses] stock vs ferrodis",
            args.join(" ")
        );
    }
}

//! HyperLogLog at volume: the same PFADD / PFCOUNT / PFMERGE / GET sequence on stock Redis and
//! ferrodis, up to 100k distinct elements, every reply compared byte for byte. GET compares the
//! stored sparse and dense bytes (opcodes, promotion point, cached cardinality); PFCOUNT
//! compares the estimator at every size along the way.

use ferrodis_tests::resp_client::escape;
use ferrodis_tests::{RespClient, Server};

/// Both servers and a client to each.
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

    /// Sends the same command to both and checks the replies are the same bytes.
    fn same(&mut self, args: &[Vec<u8>]) {
        let a = self.stock.command(args).expect("stock reply");
        let b = self.ours.command(args).expect("ferrodis reply");
        if a.raw() != b.raw() {
            let shown: Vec<String> = args.iter().take(4).map(|x| escape(x)).collect();
            panic!(
                "{} ...: stock {} vs ferrodis {}",
                shown.join(" "),
                escape(&a.raw()[..a.raw().len().min(300)]),
                escape(&b.raw()[..b.raw().len().min(300)])
            );
        }
    }

    fn same_str(&mut self, args: &[&str]) {
        let v: Vec<Vec<u8>> = args.iter().map(|s| s.as_bytes().to_vec()).collect();
        self.same(&v);
    }
}

fn pfadd(key: &str, elements: impl Iterator<Item = String>) -> Vec<Vec<u8>> {
    let mut v = vec![b"PFADD".to_vec(), key.as_bytes().to_vec()];
    v.extend(elements.map(String::into_bytes));
    v
}

#[test]
fn counts_and_bytes_up_to_100k() {
    let mut p = Pair::start();
    // One element at a time while sparse, checking every step.
    for i in 0..1500 {
        p.same(&pfadd("one", std::iter::once(format!("el:{i}"))));
        p.same_str(&["PFCOUNT", "one"]);
        if i % 10 == 0 {
            p.same_str(&["GET", "one"]);
        }
    }
    p.same_str(&["PFDEBUG", "ENCODING", "one"]);
    // Batches up to 100k, checking the count after each batch.
    let mut n = 0;
    while n < 100_000 {
        let batch = if n < 5000 { 50 } else { 1000 };
        p.same(&pfadd("big", (n..n + batch).map(|i| format!("{i}"))));
        n += batch;
        p.same_str(&["PFCOUNT", "big"]);
        if n % 5000 == 0 {
            p.same_str(&["GET", "big"]);
        }
    }
    // Duplicates change nothing.
    p.same(&pfadd("big", (0..1000).map(|i| format!("{i}"))));
    p.same_str(&["GET", "big"]);
}

#[test]
fn merges_of_many_sizes() {
    let mut p = Pair::start();
    let sizes = [0usize, 1, 10, 100, 300, 1000, 3000, 20_000];
    for (k, &size) in sizes.iter().enumerate() {
        let key = format!("h{k}");
        p.same(&pfadd(&key, (0..size).map(|i| format!("{k}-{i}"))));
        p.same_str(&["PFCOUNT", &key]);
        p.same_str(&["PFDEBUG", "ENCODING", &key]);
    }
    for a in 0..sizes.len() {
        for b in 0..sizes.len() {
            let (ka, kb) = (format!("h{a}"), format!("h{b}"));
            let dest = format!("m{a}-{b}");
            p.same_str(&["PFMERGE", &dest, &ka, &kb]);
            p.same_str(&["GET", &dest]);
            p.same_str(&["PFCOUNT", &dest]);
            p.same_str(&["PFCOUNT", &ka, &kb]);
        }
    }
    // Merging into an existing sparse destination, in place.
    p.same_str(&["PFMERGE", "h2", "h3", "h4"]);
    p.same_str(&["GET", "h2"]);
    p.same_str(&["PFMERGE", "h1", "h7"]);
    p.same_str(&["GET", "h1"]);
    let keys: Vec<String> = (0..sizes.len()).map(|k| format!("h{k}")).collect();
    let mut all = vec!["PFCOUNT"];
    all.extend(keys.iter().map(String::as_str));
    p.same_str(&all);
}

#[test]
fn sparse_limit_follows_config() {
    let mut p = Pair::start();
    for limit in ["0", "100", "20000"] {
        p.same_str(&["CONFIG", "SET", "hll-sparse-max-bytes", limit]);
        let key = format!("lim{limit}");
        for chunk in 0..40 {
            p.same(&pfadd(&key, (0..25).map(|i| format!("{chunk}.{i}"))));
            p.same_str(&["PFDEBUG", "ENCODING", &key]);
            p.same_str(&["STRLEN", &key]);
        }
        p.same_str(&["GET", &key]);
        p.same_str(&["PFCOUNT", &key]);
    }
}

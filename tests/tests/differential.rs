//! Differential tests: each `tests/scripts/<name>.redis` runs on a fresh stock redis-server and
//! a fresh ferrodis-server, and every reply must match (see `ferrodis_tests::script` for the
//! format). One `#[test]` per script, so `cargo test -p ferrodis-tests strings` runs one.

use ferrodis_tests::diff::{run_script, script_names};

macro_rules! scripts {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                run_script(stringify!($name));
            }
        )*

        /// A script without a test here would silently never run.
        #[test]
        fn every_script_has_a_test() {
            let listed: Vec<&str> = vec![$(stringify!($name)),*];
            let missing: Vec<String> = script_names()
                .into_iter()
                .filter(|name| !listed.contains(&name.as_str()))
                .collect();
            assert!(
                missing.is_empty(),
                "add these scripts to the scripts! list in tests/tests/differential.rs: {missing:?}"
            );
        }
    };
}

scripts!(
    acl,
    acl_auth,
    bitfield,
    bitmaps,
    command,
    connection,
    counters,
    databases,
    dump,
    expire,
    functions,
    geo,
    hash,
    hll,
    keys,
    latency,
    lcs,
    migrate,
    module,
    min_replicas,
    list,
    lua,
    multi,
    nocluster,
    notify,
    object,
    protocol,
    pubsub,
    resp3,
    set,
    scripting,
    sort,
    stream,
    stream_dump,
    stream_groups,
    strings,
    tracking,
    watch,
    zset,
);

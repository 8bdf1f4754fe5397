//! Server commands: INFO, CONFIG, TIME, LASTSAVE, SHUTDOWN, MONITOR, SLOWLOG, MEMORY, DEBUG.

use std::fmt::Write as _;
use std::sync::atomic::Ordering::Relaxed;

use super::connection::help;
use super::{acl, flags as f, CmdResult, Command, KeySpec};
use crate::cmd::kflags;
use crate::dispatch::{Action, Ctx};
use crate::error::CmdError;
use crate::server::{unix_ms, unix_us, Server};

const ADMIN_SUB: u32 = f::ADMIN | f::NOSCRIPT | f::LOADING | f::STALE;

pub static COMMANDS: &[Command] = &[
    Command {
        name: "info",
        arity: -1,
        flags: f::LOADING | f::STALE,
        acl: acl::DANGEROUS,
        tips: &[
            "nondeterministic_output",
            "request_policy:all_shards",
            "response_policy:special",
        ],
        handler: Some(info),
        group: "server",
        summary: "Reports the server's state and statistics.",
        ..Command::DEFAULT
    },
    Command {
        name: "config",
        arity: -2,
        subcommands: CONFIG,
        group: "server",
        since: "2.0.0",
        summary: "Reads and changes the configuration.",
        ..Command::DEFAULT
    },
    Command {
        name: "time",
        arity: 1,
        flags: f::LOADING | f::STALE | f::FAST,
        tips: &["nondeterministic_output"],
        handler: Some(time),
        group: "server",
        since: "2.6.0",
        summary: "The server's clock: seconds and microseconds.",
        ..Command::DEFAULT
    },
    Command {
        name: "lastsave",
        arity: 1,
        flags: f::LOADING | f::STALE | f::FAST,
        acl: acl::ADMIN | acl::DANGEROUS,
        tips: &["nondeterministic_output"],
        handler: Some(lastsave),
        group: "server",
        summary: "Unix time of the last successful save.",
        ..Command::DEFAULT
    },
    Command {
        name: "save",
        arity: 1,
        flags: f::ADMIN | f::NOSCRIPT | f::NO_ASYNC_LOADING | f::NO_MULTI | f::ALL_SHARDS,
        acl: acl::ADMIN | acl::DANGEROUS,
        handler: Some(save),
        group: "server",
        summary: "Writes the dataset to the RDB file, blocking every client meanwhile.",
        ..Command::DEFAULT
    },
    Command {
        name: "bgrewriteaof",
        arity: 1,
        flags: f::ADMIN | f::NOSCRIPT | f::NO_ASYNC_LOADING | f::ALL_SHARDS,
        acl: acl::ADMIN | acl::DANGEROUS,
        handler: Some(bgrewriteaof),
        group: "server",
        summary: "Rewrites the append-only file in the background, from a snapshot of the dataset.",
        ..Command::DEFAULT
    },
    Command {
        name: "bgsave",
        arity: -1,
        flags: f::ADMIN | f::NOSCRIPT | f::NO_ASYNC_LOADING | f::ALL_SHARDS,
        acl: acl::ADMIN | acl::DANGEROUS,
        handler: Some(bgsave),
        group: "server",
        summary: "Writes the dataset to the RDB file in the background.",
        ..Command::DEFAULT
    },
    Command {
        name: "shutdown",
        arity: -1,
        flags: f::ADMIN | f::NOSCRIPT | f::LOADING | f::STALE | f::NO_MULTI | f::ALLOW_BUSY,
        handler: Some(shutdown),
        group: "server",
        complexity: "O(N)",
        summary: "Stops the server.",
        ..Command::DEFAULT
    },
    Command {
        name: "monitor",
        arity: 1,
        flags: ADMIN_SUB,
        handler: Some(monitor),
        group: "server",
        summary: "Streams every command the server runs.",
        ..Command::DEFAULT
    },
    Command {
        name: "slowlog",
        arity: -2,
        subcommands: SLOWLOG,
        group: "server",
        since: "2.2.12",
        summary: "Reads or clears the slow command log.",
        ..Command::DEFAULT
    },
    Command {
        name: "memory",
        arity: -2,
        subcommands: MEMORY,
        group: "server",
        since: "4.0.0",
        summary: "Memory introspection.",
        ..Command::DEFAULT
    },
    Command {
        name: "debug",
        arity: -2,
        flags: ADMIN_SUB,
        handler: Some(debug),
        group: "server",
        summary: "Debugging helpers for tests and tools.",
        ..Command::DEFAULT
    },
];

static CONFIG: &[Command] = &[
    Command {
        name: "get",
        arity: -3,
        flags: ADMIN_SUB,
        handler: Some(config_get),
        group: "server",
        since: "2.0.0",
        complexity: "O(N)",
        summary: "Values of the parameters matching glob patterns.",
        ..Command::DEFAULT
    },
    Command {
        name: "set",
        arity: -4,
        flags: ADMIN_SUB,
        tips: &["request_policy:all_nodes", "response_policy:all_succeeded"],
        handler: Some(config_set),
        group: "server",
        since: "2.0.0",
        complexity: "O(N)",
        summary: "Changes parameters, all or none.",
        ..Command::DEFAULT
    },
    Command {
        name: "resetstat",
        arity: 2,
        flags: ADMIN_SUB,
        handler: Some(config_resetstat),
        group: "server",
        since: "2.0.0",
        summary: "Zeroes the INFO statistics.",
        ..Command::DEFAULT
    },
    Command {
        name: "rewrite",
        arity: 2,
        flags: ADMIN_SUB,
        handler: Some(config_rewrite),
        group: "server",
        since: "2.8.0",
        summary: "Writes the running configuration back to the config file.",
        ..Command::DEFAULT
    },
    Command {
        name: "help",
        arity: 2,
        flags: f::LOADING | f::STALE,
        handler: Some(config_help),
        group: "server",
        since: "5.0.0",
        summary: "Lists the CONFIG subcommands.",
        ..Command::DEFAULT
    },
];

static SLOWLOG: &[Command] = &[
    Command {
        name: "get",
        arity: -2,
        flags: f::ADMIN | f::LOADING | f::STALE,
        tips: &["request_policy:all_nodes", "nondeterministic_output"],
        handler: Some(slowlog_get),
        group: "server",
        since: "2.2.12",
        complexity: "O(N)",
        summary: "The newest slow log entries.",
        ..Command::DEFAULT
    },
    Command {
        name: "len",
        arity: 2,
        flags: f::ADMIN | f::LOADING | f::STALE,
        tips: &[
            "request_policy:all_nodes",
            "response_policy:agg_sum",
            "nondeterministic_output",
        ],
        handler: Some(slowlog_len),
        group: "server",
        since: "2.2.12",
        summary: "Number of slow log entries.",
        ..Command::DEFAULT
    },
    Command {
        name: "reset",
        arity: 2,
        flags: f::ADMIN | f::LOADING | f::STALE,
        tips: &["request_policy:all_nodes", "response_policy:all_succeeded"],
        handler: Some(slowlog_reset),
        group: "server",
        since: "2.2.12",
        complexity: "O(N)",
        summary: "Empties the slow log.",
        ..Command::DEFAULT
    },
    Command {
        name: "help",
        arity: 2,
        flags: f::LOADING | f::STALE,
        handler: Some(slowlog_help),
        group: "server",
        since: "6.2.0",
        summary: "Lists the SLOWLOG subcommands.",
        ..Command::DEFAULT
    },
];

const ALL_SHARDS_SPECIAL: &[&str] = &[
    "nondeterministic_output",
    "request_policy:all_shards",
    "response_policy:special",
];

static MEMORY: &[Command] = &[
    Command {
        name: "usage",
        arity: -3,
        flags: f::READONLY,
        key_specs: &[KeySpec::one(2, kflags::RO)],
        handler: Some(memory_usage),
        group: "server",
        since: "4.0.0",
        complexity: "O(N)",
        summary: "Bytes a key and its value take.",
        ..Command::DEFAULT
    },
    Command {
        name: "stats",
        arity: 2,
        tips: ALL_SHARDS_SPECIAL,
        handler: Some(memory_stats),
        group: "server",
        since: "4.0.0",
        summary: "Details of the server's memory use.",
        ..Command::DEFAULT
    },
    Command {
        name: "doctor",
        arity: 2,
        tips: ALL_SHARDS_SPECIAL,
        handler: Some(memory_doctor),
        group: "server",
        since: "4.0.0",
        summary: "Advice on memory problems.",
        ..Command::DEFAULT
    },
    Command {
        name: "malloc-stats",
        arity: 2,
        tips: ALL_SHARDS_SPECIAL,
        handler: Some(memory_malloc_stats),
        group: "server",
        since: "4.0.0",
        complexity: "Depends on how much memory is allocated, could be slow",
        summary: "The allocator's internal statistics.",
        ..Command::DEFAULT
    },
    Command {
        name: "purge",
        arity: 2,
        tips: &["request_policy:all_shards", "response_policy:all_succeeded"],
        handler: Some(memory_purge),
        group: "server",
        since: "4.0.0",
        complexity: "Depends on how much memory is allocated, could be slow",
        summary: "Asks the allocator to return free memory.",
        ..Command::DEFAULT
    },
    Command {
        name: "help",
        arity: 2,
        flags: f::LOADING | f::STALE,
        handler: Some(memory_help),
        group: "server",
        since: "4.0.0",
        summary: "Lists the MEMORY subcommands.",
        ..Command::DEFAULT
    },
];

/// `1.15M`-style sizes, as Redis prints them in INFO.
pub fn human_bytes(n: u64) -> String {
    let n = n as f64;
    const UNITS: [(f64, &str); 5] = [
        (1024f64 * 1024.0 * 1024.0 * 1024.0 * 1024.0, "P"),
        (1024f64 * 1024.0 * 1024.0 * 1024.0, "T"),
        (1024f64 * 1024.0 * 1024.0, "G"),
        (1024f64 * 1024.0, "M"),
        (1024f64, "K"),
    ];
    for (scale, unit) in UNITS {
        if n >= scale {
            return format!("{:.2}{}", n / scale, unit);
        }
    }
    format!("{}B", n as u64)
}

/// Resident set size of this process, from /proc.
pub fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}

/// User and system CPU seconds of this process, from /proc (clock ticks of 1/100 s).
fn cpu_times() -> (f64, f64) {
    let Ok(s) = std::fs::read_to_string("/proc/self/stat") else {
        return (0.0, 0.0);
    };
    // Fields after the command name, which is in parentheses and may contain spaces.
    let rest = s.rsplit_once(')').map_or("", |x| x.1);
    let v: Vec<&str> = rest.split_whitespace().collect();
    let get = |i: usize| v.get(i).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0) / 100.0;
    (get(11), get(12))
}

fn os_line() -> String {
    let read = |p: &str| {
        std::fs::read_to_string(p)
            .unwrap_or_default()
            .trim()
            .to_string()
    };
    format!(
        "{} {} {}",
        read("/proc/sys/kernel/ostype"),
        read("/proc/sys/kernel/osrelease"),
        std::env::consts::ARCH
    )
}

/// The text of `INFO` for the sections asked for.
/// `counts`: the keyspace counts when the caller already holds every shard (INFO inside EXEC).
pub fn info_text(
    server: &Server,
    client_count: usize,
    sections: &[Vec<u8>],
    counts: Option<[(usize, usize); crate::db::NDBS]>,
) -> String {
    let all = sections.iter().any(|s| s == b"all" || s == b"everything");
    let default = sections.is_empty() || sections.iter().any(|s| s == b"default");
    let want = |name: &str| all || default || sections.iter().any(|s| s == name.as_bytes());
    let mut out = String::new();
    let cfg = server.config.read();
    let uptime = server.started.elapsed().as_secs();
    let section = |out: &mut String, title: &str, body: String| {
        if !out.is_empty() {
            out.push_str("\r\n");
        }
        let _ = write!(out, "# {title}\r\n{body}");
    };
    if want("server") {
        let mut b = String::new();
        let _ = write!(
            b,
            "redis_version:{}\r\nferrodis_version:{}\r\nredis_git_sha1:00000000\r\nredis_git_dirty:0\r\nredis_build_id:0\r\nredis_mode:standalone\r\nos:{}\r\narch_bits:64\r\nmonotonic_clock:POSIX clock_gettime\r\nmultiplexing_api:epoll\r\natomicvar_api:c11-builtin\r\ngcc_version:0.0.0\r\nprocess_id:{}\r\nprocess_supervised:no\r\nrun_id:{}\r\ntcp_port:{}\r\nserver_time_usec:{}\r\nuptime_in_seconds:{}\r\nuptime_in_days:{}\r\nhz:{}\r\nconfigured_hz:{}\r\nlru_clock:{}\r\nexecutable:{}\r\nconfig_file:{}\r\nio_threads_active:0\r\n",
            crate::REDIS_VERSION,
            env!("CARGO_PKG_VERSION"),
            os_line(),
            std::process::id(),
            server.run_id,
            server.tcp_port.load(Relaxed),
            unix_us(),
            uptime,
            uptime / 86400,
            cfg.hz(),
            cfg.hz(),
            (unix_ms() / 1000) & 0xff_ffff,
            server.executable,
            cfg.config_file().map(|p| p.display().to_string()).unwrap_or_default(),
        );
        section(&mut out, "Server", b);
    }
    if want("clients") {
        section(
            &mut out,
            "Clients",
            format!(
                "connected_clients:{}\r\ncluster_connections:0\r\nmaxclients:{}\r\nclient_recent_max_input_buffer:0\r\nclient_recent_max_output_buffer:{}\r\nblocked_clients:{}\r\ntracking_clients:{}\r\nclients_in_timeout_table:{}\r\n",
                client_count,
                cfg.maxclients(),
                // Pending out-of-band output (pub/sub messages) of the most loaded client.
                server
                    .clients
                    .lock()
                    .values()
                    .map(|c| c.pushes.pending())
                    .max()
                    .unwrap_or(0),
                server.blocking.blocked_clients(),
                server.tracking.client_count(),
                server.blocking.in_timeout_table(),
            ),
        );
    }
    if want("memory") {
        let used = server.used_memory();
        let peak = server.note_memory_peak(used);
        let rss = rss_bytes();
        let maxmem = cfg.maxmemory();
        // The script cache (the interpreters' own memory is not measured: it is counted in
        // used_memory with the rest).
        let cached = server.scripts.body_bytes();
        let (_, functions) = server.functions.counts();
        let fn_bytes = server.functions.code_bytes();
        let all = cached + fn_bytes;
        let scripts = format!(
            "used_memory_lua:{cached}\r\nused_memory_vm_eval:{cached}\r\nused_memory_lua_human:{}\r\nused_memory_scripts_eval:{cached}\r\nnumber_of_cached_scripts:{}\r\nnumber_of_functions:{functions}\r\nused_memory_vm_functions:{fn_bytes}\r\nused_memory_vm_total:{all}\r\nused_memory_vm_total_human:{}\r\nused_memory_functions:{fn_bytes}\r\nused_memory_scripts:{all}\r\nused_memory_scripts_human:{}\r\n",
            human_bytes(cached as u64),
            server.scripts.len(),
            human_bytes(all as u64),
            human_bytes(all as u64),
        );
        section(
            &mut out,
            "Memory",
            format!(
                "used_memory:{used}\r\nused_memory_human:{}\r\nused_memory_rss:{rss}\r\nused_memory_rss_human:{}\r\nused_memory_peak:{peak}\r\nused_memory_peak_human:{}\r\nused_memory_peak_perc:{:.2}%\r\nused_memory_startup:{}\r\nused_memory_dataset:{}\r\nallocator_allocated:{used}\r\nallocator_resident:{rss}\r\ntotal_system_memory:{}\r\ntotal_system_memory_human:{}\r\n{scripts}maxmemory:{maxmem}\r\nmaxmemory_human:{}\r\nmaxmemory_policy:{}\r\nmem_fragmentation_ratio:{:.2}\r\nmem_allocator:libc\r\nlazyfree_pending_objects:0\r\nlazyfreed_objects:0\r\n",
                human_bytes(used),
                human_bytes(rss),
                human_bytes(peak),
                if peak > 0 { used as f64 * 100.0 / peak as f64 } else { 0.0 },
                server.startup_memory(),
                used.saturating_sub(server.startup_memory()),
                total_memory(),
                human_bytes(total_memory()),
                human_bytes(maxmem),
                cfg.maxmemory_policy(),
                if used > 0 { rss as f64 / used as f64 } else { 0.0 },
            ),
        );
    }
    if want("persistence") {
        let rdb = &server.rdb;
        section(
            &mut out,
            "Persistence",
            format!(
                "loading:{}\r\nasync_loading:0\r\ncurrent_cow_peak:0\r\ncurrent_cow_size:0\r\ncurrent_cow_size_age:0\r\ncurrent_fork_perc:0.00\r\ncurrent_save_keys_processed:0\r\ncurrent_save_keys_total:0\r\nrdb_changes_since_last_save:{}\r\nrdb_bgsave_in_progress:{}\r\nrdb_last_save_time:{}\r\nrdb_last_bgsave_status:{}\r\nrdb_last_bgsave_time_sec:{}\r\nrdb_current_bgsave_time_sec:{}\r\nrdb_saves:{}\r\nrdb_last_cow_size:0\r\nrdb_last_load_keys_expired:{}\r\nrdb_last_load_keys_loaded:{}\r\n{}module_fork_in_progress:0\r\nmodule_fork_last_cow_size:0\r\n{}",
                rdb.loading.load(Relaxed) as u8,
                server.dirty.load(Relaxed),
                rdb.bgsave_in_progress.load(Relaxed) as u8,
                server.lastsave.load(Relaxed),
                if rdb.last_bgsave_ok.load(Relaxed) { "ok" } else { "err" },
                rdb.last_bgsave_secs.load(Relaxed),
                if rdb.bgsave_in_progress.load(Relaxed) {
                    (unix_ms().saturating_sub(rdb.bgsave_started_ms.load(Relaxed)) / 1000) as i64
                } else {
                    -1
                },
                rdb.saves.load(Relaxed),
                rdb.loaded_expired.load(Relaxed),
                rdb.loaded_keys.load(Relaxed),
                aof_info(server).0,
                aof_info(server).1,
            ),
        );
        if rdb.loading.load(Relaxed) {
            out.push_str(&rdb.progress.info(unix_ms() / 1000));
        }
    }
    if want("stats") {
        let s = &server.stats;
        let ps = server.pubsub.sizes();
        section(
            &mut out,
            "Stats",
            format!(
                "total_connections_received:{}\r\ntotal_commands_processed:{}\r\ninstantaneous_ops_per_sec:{}\r\ntotal_net_input_bytes:{}\r\ntotal_net_output_bytes:{}\r\ntotal_net_repl_input_bytes:0\r\ntotal_net_repl_output_bytes:0\r\ninstantaneous_input_kbps:0.00\r\ninstantaneous_output_kbps:0.00\r\ninstantaneous_input_repl_kbps:0.00\r\ninstantaneous_output_repl_kbps:0.00\r\nrejected_connections:{}\r\nsync_full:0\r\nsync_partial_ok:0\r\nsync_partial_err:0\r\nexpired_keys:{}\r\nexpired_stale_perc:0.00\r\nexpired_time_cap_reached_count:0\r\nexpire_cycle_cpu_milliseconds:0\r\nevicted_keys:{}\r\nevicted_clients:0\r\ntotal_eviction_exceeded_time:0\r\ncurrent_eviction_exceeded_time:0\r\nkeyspace_hits:{}\r\nkeyspace_misses:{}\r\npubsub_channels:{}\r\npubsub_patterns:{}\r\npubsubshard_channels:{}\r\nlatest_fork_usec:0\r\ntotal_forks:0\r\nmigrate_cached_sockets:0\r\nslave_expires_tracked_keys:0\r\nactive_defrag_hits:0\r\nactive_defrag_misses:0\r\nactive_defrag_key_hits:0\r\nactive_defrag_key_misses:0\r\ntotal_active_defrag_time:0\r\ncurrent_active_defrag_time:0\r\ntracking_total_keys:0\r\ntracking_total_items:0\r\ntracking_total_prefixes:0\r\nunexpected_error_replies:0\r\ntotal_error_replies:{}\r\ndump_payload_sanitizations:0\r\ntotal_reads_processed:0\r\ntotal_writes_processed:0\r\nio_threaded_reads_processed:0\r\nio_threaded_writes_processed:0\r\nreply_buffer_shrinks:0\r\nreply_buffer_expands:0\r\n",
                s.connections_received.load(Relaxed),
                s.commands_processed.load(Relaxed),
                s.ops_per_sec.load(Relaxed),
                s.net_input_bytes.load(Relaxed),
                s.net_output_bytes.load(Relaxed),
                s.rejected_connections.load(Relaxed),
                s.expired_keys.load(Relaxed),
                s.evicted_keys.load(Relaxed),
                s.keyspace_hits.load(Relaxed),
                s.keyspace_misses.load(Relaxed),
                ps[0],
                ps[1],
                ps[2],
                s.error_replies.load(Relaxed),
            ),
        );
    }
    if want("replication") {
        section(&mut out, "Replication", crate::repl::info(server));
    }
    if want("cpu") {
        let (user, sys) = cpu_times();
        section(
            &mut out,
            "CPU",
            format!(
                "used_cpu_sys:{sys:.6}\r\nused_cpu_user:{user:.6}\r\nused_cpu_sys_children:0.000000\r\nused_cpu_user_children:0.000000\r\nused_cpu_sys_main_thread:{sys:.6}\r\nused_cpu_user_main_thread:{user:.6}\r\n"
            ),
        );
    }
    if want("modules") {
        section(&mut out, "Modules", String::new());
    }
    // Not in the default sections, as in Redis.
    if all || sections.iter().any(|s| s == b"commandstats") {
        let mut body = String::new();
        for (name, stats) in crate::cmd::command_stats() {
            if let Some(line) = stats.line() {
                let _ = write!(body, "cmdstat_{name}:{line}\r\n");
            }
        }
        section(&mut out, "Commandstats", body);
    }
    if want("errorstats") {
        let mut body = String::new();
        for (code, n) in server.stats.error_codes.lock().iter() {
            let _ = write!(body, "errorstat_{code}:count={n}\r\n");
        }
        section(&mut out, "Errorstats", body);
    }
    // Not in the default sections either.
    if all || sections.iter().any(|s| s == b"latencystats") {
        let percentiles = server.config.read().latency_percentiles();
        let mut body = String::new();
        if crate::cmd::latency_tracking() {
            for (name, h) in crate::cmd::latency_histograms() {
                let values: Vec<String> = percentiles
                    .iter()
                    .map(|&p| {
                        let usec = h.percentile(p) as f64 / 1000.0;
                        format!("p{}={usec:.3}", percentile_label(p))
                    })
                    .collect();
                let _ = write!(
                    body,
                    "latency_percentiles_usec_{name}:{}\r\n",
                    values.join(",")
                );
            }
        }
        section(&mut out, "Latencystats", body);
    }
    if want("cluster") {
        let enabled = u8::from(server.cluster.get().is_some());
        section(
            &mut out,
            "Cluster",
            format!("cluster_enabled:{enabled}\r\n"),
        );
    }
    if want("keyspace") {
        let mut b = String::new();
        // A replica loading its primary's snapshot holds every shard: nothing to count yet.
        let loading = server.rdb.loading.load(Relaxed);
        let counts = match counts {
            Some(c) => c,
            None if loading => Default::default(),
            None => server.keyspace.counts(),
        };
        for (i, (keys, expires)) in counts.iter().enumerate() {
            if *keys > 0 {
                let avg_ttl = server.avg_ttl[i].load(Relaxed);
                let _ = write!(
                    b,
                    "db{i}:keys={keys},expires={expires},avg_ttl={avg_ttl}\r\n"
                );
            }
        }
        section(&mut out, "Keyspace", b);
    }
    out
}

fn total_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("MemTotal:"))?;
            line.split_whitespace().nth(1)?.parse::<u64>().ok()
        })
        .map_or(0, |kb| kb * 1024)
}

/// A percentile as INFO latencystats names it: six decimals, trailing zeros dropped
/// (`99.9`, `50`).
fn percentile_label(p: f64) -> String {
    let s = format!("{p:.6}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn info(ctx: &mut Ctx) -> CmdResult {
    // This connection's own commands so far count (it may have pipelined them with INFO).
    ctx.client.stats.flush();
    let sections: Vec<Vec<u8>> = ctx.args[1..]
        .iter()
        .map(|a| a.to_ascii_lowercase())
        .collect();
    let n = ctx.server.clients.lock().len();
    let text = info_text(ctx.server, n, &sections, ctx.db.counts());
    ctx.out.verbatim(text.as_bytes());
    Ok(())
}

fn config_get(ctx: &mut Ctx) -> CmdResult {
    let patterns: Vec<&[u8]> = ctx.args[2..].iter().map(|a| &a[..]).collect();
    let pairs = ctx.server.config.read().get(&patterns);
    ctx.out.map(pairs.len());
    for (k, v) in pairs {
        ctx.out.bulk(k.as_bytes());
        ctx.out.bulk(v.as_bytes());
    }
    Ok(())
}

fn config_set(ctx: &mut Ctx) -> CmdResult {
    if !(ctx.args.len() - 2).is_multiple_of(2) {
        return Err(CmdError::WrongArity("config|set".into()));
    }
    let pairs: Vec<(&[u8], &[u8])> = ctx.args[2..]
        .chunks(2)
        .map(|c| (&c[0][..], &c[1][..]))
        .collect();
    let changed = {
        let mut cfg = ctx.server.config.write();
        let is_tls = |n: &[u8]| n.len() > 4 && n[..4].eq_ignore_ascii_case(b"tls-");
        // TLS directives are applied together: if the new configuration does not load, the
        // old values come back (Redis restores them too).
        let before = pairs.iter().any(|(n, _)| is_tls(n)).then(|| cfg.clone());
        let changed = cfg.set(&pairs).map_err(|e| CmdError::Msg(e.into()))?;
        if let Some(before) = before {
            if changed.iter().any(|n| n.starts_with("tls-")) {
                if let Err(reason) = ctx.server.tls.configure(&cfg) {
                    let name = pairs
                        .iter()
                        .map(|(n, _)| String::from_utf8_lossy(n).into_owned())
                        .find(|n| is_tls(n.as_bytes()))
                        .unwrap_or_default();
                    tracing::warn!("{reason}");
                    tracing::warn!("Failed applying new configuration. Possibly related to new {name} setting. Restoring previous settings.");
                    *cfg = before;
                    return Err(crate::error::tls_config_set_failed(&name));
                }
                if changed.contains(&"tls-port") {
                    if let Err(e) = move_tls_port(ctx.server, &cfg) {
                        tracing::warn!("Failed to listen on the new tls-port: {e}");
                        *cfg = before;
                        let _ = ctx.server.tls.configure(&cfg);
                        return Err(crate::error::listen_failed("tls-port"));
                    }
                }
            }
        }
        changed
    };
    ctx.server.config_changed();
    for name in changed {
        apply_change(ctx.server, name, ctx.db.holds_locks());
    }
    ctx.out.ok();
    Ok(())
}

/// CONFIG SET tls-port: listens on the new port (0: none) and stops the old listeners.
fn move_tls_port(server: &Server, cfg: &crate::config::Config) -> std::io::Result<()> {
    let port: u16 = cfg
        .get_str("tls-port")
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    let listeners = if port == 0 {
        Vec::new()
    } else {
        crate::listener::bind_all_now(&cfg.bind(), port)?
    };
    if port != 0 && listeners.is_empty() {
        return Err(std::io::Error::other("no address to listen on"));
    }
    if let Some(me) = server.arc() {
        crate::listener::serve_tls(&me, listeners);
    }
    server.tls_port.store(port as u32, Relaxed);
    Ok(())
}

/// Side effects of a changed parameter beyond the settings snapshot. `locked`: the caller
/// holds keyspace shards (CONFIG SET inside EXEC), so eviction is left to the cron.
fn apply_change(server: &Server, name: &str, locked: bool) {
    let cfg = server.config.read();
    match name {
        "loglevel" => crate::log::set_level(cfg.loglevel()),
        "requirepass" => server
            .acl
            .set_default_password(cfg.requirepass().as_deref()),
        "dir" => {
            if let Err(e) = std::env::set_current_dir(cfg.dir()) {
                tracing::warn!("Can't chdir to '{}': {e}", cfg.dir());
            }
        }
        "appendonly" | "appendfsync" | "aof-timestamp-enabled" => {
            drop(cfg);
            crate::aof::rewrite::config_changed(server, name, locked);
        }
        "maxmemory" if !locked => {
            drop(cfg);
            let s = server.settings();
            if !server.free_memory_if_needed(&s, unix_ms()) {
                tracing::warn!("WARNING: the new maxmemory value set via CONFIG SET ({}) is smaller than the current memory usage ({}). This will result in key eviction and/or the inability to accept new write commands depending on the maxmemory-policy.", s.maxmemory, server.used_memory());
            }
        }
        _ => {}
    }
}

/// The `aof_*` lines of `INFO persistence`, and Redis's extra lines (after the module fork
/// lines) while the AOF is on.
fn aof_info(server: &Server) -> (String, String) {
    let aof = &server.aof;
    let st = &aof.stats;
    let on = aof.on();
    let running = st.rewrite_in_progress.load(Relaxed);
    let s = format!(
        "aof_enabled:{}\r\naof_rewrite_in_progress:{}\r\naof_rewrite_scheduled:{}\r\naof_last_rewrite_time_sec:{}\r\naof_current_rewrite_time_sec:{}\r\naof_last_bgrewrite_status:{}\r\naof_rewrites:{}\r\naof_rewrites_consecutive_failures:{}\r\naof_last_write_status:{}\r\naof_last_cow_size:0\r\n",
        on as u8,
        running as u8,
        st.rewrite_scheduled.load(Relaxed) as u8,
        st.last_rewrite_secs.load(Relaxed),
        if running {
            (unix_ms().saturating_sub(st.rewrite_started_ms.load(Relaxed)) / 1000) as i64
        } else {
            -1
        },
        if st.last_rewrite_ok.load(Relaxed) { "ok" } else { "err" },
        st.rewrites.load(Relaxed),
        st.consecutive_failures.load(Relaxed),
        if aof.last_write_ok() { "ok" } else { "err" },
    );
    let mut extra = String::new();
    if on {
        extra.push_str(&format!(
            "aof_current_size:{}\r\naof_base_size:{}\r\naof_pending_rewrite:{}\r\naof_buffer_length:{}\r\naof_pending_bio_fsync:{}\r\naof_delayed_fsync:{}\r\n",
            st.current_size.load(Relaxed),
            st.rewrite_base_size.load(Relaxed),
            st.rewrite_scheduled.load(Relaxed) as u8,
            aof.buffered(),
            aof.fsync_running() as u8,
            st.delayed_fsync.load(Relaxed),
        ));
    }
    (s, extra)
}

fn config_resetstat(ctx: &mut Ctx) -> CmdResult {
    let s = &ctx.server.stats;
    for c in [
        &s.connections_received,
        &s.commands_processed,
        &s.rejected_connections,
        &s.expired_keys,
        &s.evicted_keys,
        &s.keyspace_hits,
        &s.keyspace_misses,
        &s.net_input_bytes,
        &s.net_output_bytes,
        &s.error_replies,
        &s.ops_per_sec,
    ] {
        c.store(0, Relaxed);
    }
    s.error_codes.lock().clear();
    crate::cmd::reset_command_stats();
    ctx.out.ok();
    Ok(())
}

fn config_rewrite(ctx: &mut Ctx) -> CmdResult {
    let users: Vec<Vec<u8>> = ctx.server.acl.users().iter().map(|u| u.line()).collect();
    let r = ctx.server.config.read().rewrite_with_users(Some(&users));
    match r {
        Ok(()) => {
            tracing::info!("CONFIG REWRITE executed with success.");
            ctx.out.ok();
            Ok(())
        }
        Err(e) => {
            tracing::warn!("CONFIG REWRITE failed: {e}");
            Err(CmdError::Msg(e.into()))
        }
    }
}

fn config_help(ctx: &mut Ctx) -> CmdResult {
    help(
        ctx,
        "CONFIG",
        &[
            "GET <pattern>",
            "    Values of the parameters whose names match the glob <pattern>.",
            "SET <directive> <value>",
            "    Change <directive> to <value> (several pairs are applied together or not at all).",
            "RESETSTAT",
            "    Zero the statistics that INFO reports.",
            "REWRITE",
            "    Write the running configuration back to the config file.",
        ],
    );
    Ok(())
}

fn time(ctx: &mut Ctx) -> CmdResult {
    let us = unix_us();
    ctx.out.array(2);
    ctx.out.bulk_int((us / 1_000_000) as i64);
    ctx.out.bulk_int((us % 1_000_000) as i64);
    Ok(())
}

fn lastsave(ctx: &mut Ctx) -> CmdResult {
    ctx.out.int(ctx.server.lastsave.load(Relaxed) as i64);
    Ok(())
}

fn save(ctx: &mut Ctx) -> CmdResult {
    crate::persist::save(ctx.server, &mut ctx.db).map_err(CmdError::err)?;
    ctx.out.ok();
    Ok(())
}

/// `BGSAVE [SCHEDULE]`.
fn bgsave(ctx: &mut Ctx) -> CmdResult {
    let schedule = match ctx.args.get(1) {
        None => false,
        Some(a) if ctx.args.len() == 2 && a.eq_ignore_ascii_case(b"schedule") => true,
        Some(_) => return Err(CmdError::Syntax),
    };
    let st = &ctx.server.rdb;
    if st.bgsave_in_progress.load(Relaxed) {
        if schedule {
            st.scheduled.store(true, Relaxed);
            ctx.out.simple("Background saving scheduled");
            return Ok(());
        }
        return Err(CmdError::err("Background save already in progress"));
    }
    if ctx.server.aof.stats.rewrite_in_progress.load(Relaxed) {
        if schedule {
            st.scheduled.store(true, Relaxed);
            ctx.out.simple("Background saving scheduled");
            return Ok(());
        }
        return Err(CmdError::err("An AOF log rewriting in progress: can't BGSAVE right now. Use BGSAVE SCHEDULE in order to schedule a BGSAVE whenever possible."));
    }
    crate::persist::bgsave(ctx.server, &mut ctx.db).map_err(CmdError::err)?;
    ctx.out.simple("Background saving started");
    Ok(())
}

/// `BGREWRITEAOF`: works with the AOF off too (writes a fresh AOF, as Redis does).
fn bgrewriteaof(ctx: &mut Ctx) -> CmdResult {
    if ctx.server.aof.stats.rewrite_in_progress.load(Relaxed) {
        return Err(CmdError::err(
            "Background append only file rewriting already in progress",
        ));
    }
    match crate::aof::rewrite::start(ctx.server, &mut ctx.db).map_err(CmdError::err)? {
        crate::aof::rewrite::Started::Started => ctx
            .out
            .simple("Background append only file rewriting started"),
        crate::aof::rewrite::Started::Scheduled => ctx
            .out
            .simple("Background append only file rewriting scheduled"),
    }
    Ok(())
}

fn shutdown(ctx: &mut Ctx) -> CmdResult {
    let mut abort = false;
    let mut mode = crate::server::SHUTDOWN_DEFAULT;
    for a in &ctx.args[1..] {
        let a = a.to_ascii_lowercase();
        match a.as_slice() {
            b"nosave" => mode = crate::server::SHUTDOWN_NOSAVE,
            b"save" => mode = crate::server::SHUTDOWN_SAVE,
            b"now" | b"force" => {}
            b"abort" => abort = true,
            _ => return Err(CmdError::Syntax),
        }
    }
    if abort {
        return Err(CmdError::err("No shutdown in progress."));
    }
    // While another client's script runs, only SHUTDOWN NOSAVE goes through (a save would
    // keep the script's writes half done), as in Redis.
    if mode != crate::server::SHUTDOWN_NOSAVE
        && ctx.server.scripts.busy_for(ctx.client.info.id).is_some()
    {
        return Err(CmdError::raw(ctx.server.scripts.busy_reply()));
    }
    ctx.server.shutdown_mode.store(mode, Relaxed);
    ctx.server.request_shutdown();
    // Like Redis, no reply: the connection closes as the server exits.
    ctx.client.action = Some(Action::Close);
    Ok(())
}

fn monitor(ctx: &mut Ctx) -> CmdResult {
    if !ctx.client.may_block() {
        return Err(CmdError::raw(
            "ERR MONITOR isn't allowed for DENY BLOCKING client",
        ));
    }
    ctx.out.ok();
    ctx.client.action = Some(Action::Monitor);
    Ok(())
}

fn slowlog_get(ctx: &mut Ctx) -> CmdResult {
    let count = if ctx.args.len() == 3 {
        match crate::util::num::parse_i64(&ctx.args[2]) {
            Some(n) if n >= -1 => n,
            _ => return Err(CmdError::err("count should be greater than or equal to -1")),
        }
    } else if ctx.args.len() > 3 {
        return Err(CmdError::WrongArity("slowlog|get".into()));
    } else {
        10
    };
    let log = ctx.server.slowlog.lock();
    let n = if count < 0 {
        log.entries.len()
    } else {
        (count as usize).min(log.entries.len())
    };
    ctx.out.array(n);
    for e in log.entries.iter().take(n) {
        ctx.out.array(6);
        ctx.out.int(e.id as i64);
        ctx.out.int(e.time as i64);
        ctx.out.int(e.micros as i64);
        ctx.out.array(e.args.len());
        for a in &e.args {
            ctx.out.bulk(a);
        }
        ctx.out.bulk(e.addr.as_bytes());
        ctx.out.bulk(&e.name);
    }
    Ok(())
}

fn slowlog_len(ctx: &mut Ctx) -> CmdResult {
    let n = ctx.server.slowlog.lock().entries.len();
    ctx.out.int(n as i64);
    Ok(())
}

fn slowlog_reset(ctx: &mut Ctx) -> CmdResult {
    ctx.server.slowlog.lock().entries.clear();
    ctx.out.ok();
    Ok(())
}

fn slowlog_help(ctx: &mut Ctx) -> CmdResult {
    help(
        ctx,
        "SLOWLOG",
        &[
            "GET [<count>]",
            "    The newest <count> entries (default 10, -1 for all). Each entry is:",
            "    id, unix time, duration in microseconds, arguments, client address,",
            "    client name",
            "LEN",
            "    Number of entries.",
            "RESET",
            "    Remove every entry.",
        ],
    );
    Ok(())
}

/// Approximate bytes used by a key and its value, including the table slot it occupies.
fn memory_usage(ctx: &mut Ctx) -> CmdResult {
    let mut i = 3;
    while i < ctx.args.len() {
        if ctx.args[i].eq_ignore_ascii_case(b"SAMPLES") && i + 1 < ctx.args.len() {
            match crate::util::num::parse_i64(&ctx.args[i + 1]) {
                Some(n) if n >= 0 => {}
                // Redis's answer to a negative count.
                Some(_) => return Err(CmdError::Syntax),
                None => return Err(CmdError::NotInteger),
            }
            i += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let key = ctx.args[2].clone();
    match ctx.db.peek(&key) {
        Some(e) => {
            let entry = std::mem::size_of::<crate::db::SmallBytes>()
                + std::mem::size_of::<crate::db::Entry>()
                + 1;
            let key_heap = if key.len() > 22 { key.len() } else { 0 };
            ctx.out.int((entry + key_heap + e.value.heap_size()) as i64);
        }
        None => ctx.out.null(),
    }
    Ok(())
}

fn memory_stats(ctx: &mut Ctx) -> CmdResult {
    let used = ctx.server.used_memory();
    let peak = ctx.server.note_memory_peak(used);
    let startup = ctx.server.startup_memory();
    let counts = ctx
        .db
        .counts()
        .unwrap_or_else(|| ctx.server.keyspace.counts());
    let keys: usize = counts.iter().map(|c| c.0).sum();
    let out = &mut ctx.out;
    out.map(8);
    out.bulk(b"peak.allocated");
    out.int(peak as i64);
    out.bulk(b"total.allocated");
    out.int(used as i64);
    out.bulk(b"startup.allocated");
    out.int(startup as i64);
    out.bulk(b"keys.count");
    out.int(keys as i64);
    out.bulk(b"keys.bytes-per-key");
    out.int(if keys > 0 {
        (used.saturating_sub(startup) / keys as u64) as i64
    } else {
        0
    });
    out.bulk(b"dataset.bytes");
    out.int(used.saturating_sub(startup) as i64);
    out.bulk(b"rss-overhead.bytes");
    out.int(rss_bytes() as i64 - used as i64);
    out.bulk(b"fragmentation");
    out.double(if used > 0 {
        rss_bytes() as f64 / used as f64
    } else {
        0.0
    });
    Ok(())
}

fn memory_doctor(ctx: &mut Ctx) -> CmdResult {
    let used = ctx.server.used_memory();
    let text = if used < 5 * 1024 * 1024 {
        "Hi Sam, this instance is empty or is using very little memory, my issues detector can't be used in these conditions. Please, leave for your mission on Earth and fill it with some data. The new Sam and I will be back to our programming as soon as I finished rebooting.".to_string()
    } else {
        format!(
            "Memory use: {} allocated, {} resident. No problem detected.",
            human_bytes(used),
            human_bytes(rss_bytes())
        )
    };
    ctx.out.verbatim(text.as_bytes());
    Ok(())
}

fn memory_malloc_stats(ctx: &mut Ctx) -> CmdResult {
    ctx.out
        .verbatim(b"Stats not supported for the current allocator");
    Ok(())
}

fn memory_purge(ctx: &mut Ctx) -> CmdResult {
    crate::alloc::release();
    ctx.out.ok();
    Ok(())
}

fn memory_help(ctx: &mut Ctx) -> CmdResult {
    help(
        ctx,
        "MEMORY",
        &[
            "DOCTOR",
            "    Advice on memory problems.",
            "MALLOC-STATS",
            "    The allocator's internal statistics.",
            "PURGE",
            "    Ask the allocator to return free memory to the system.",
            "STATS",
            "    Details of the server's memory use.",
            "USAGE <key> [SAMPLES <count>]",
            "    Bytes used by <key> and its value.",
        ],
    );
    Ok(())
}

/// Whether `enable-debug-command` lets this client run DEBUG (`local`: from loopback).
/// Checked by dispatch before the command runs or is queued, as Redis checks its
/// protected commands.
pub fn debug_allowed(server: &Server, client: &crate::dispatch::Client) -> bool {
    protected_allowed(server.config.read().enable_debug_command(), client)
}

/// Whether `enable-module-command` lets this client load or unload modules.
pub fn module_allowed(server: &Server, client: &crate::dispatch::Client) -> bool {
    protected_allowed(server.config.read().enable_module_command(), client)
}

/// A protected command's setting (`yes`, `local`, `no`) for this client.
fn protected_allowed(setting: &str, client: &crate::dispatch::Client) -> bool {
    match setting {
        "yes" => true,
        "local" => client
            .info
            .addr
            .rsplit_once(':')
            .is_some_and(|(ip, _)| ip == "127.0.0.1" || ip == "[::1]"),
        _ => false,
    }
}

/// `DEBUG RELOAD [MERGE] [NOFLUSH] [NOSAVE]`: saves the RDB file (not with NOSAVE), empties
/// every database and the function libraries (not with NOFLUSH) and loads the file. Unlike
/// Redis, a file that is not there is refused before anything is emptied.
fn debug_reload(ctx: &mut Ctx) -> CmdResult {
    let (mut merge, mut flush, mut save) = (false, true, true);
    for a in &ctx.args[2..] {
        match a.to_ascii_lowercase().as_slice() {
            b"merge" => merge = true,
            b"noflush" => flush = false,
            b"nosave" => save = false,
            _ => {
                return Err(CmdError::raw(
                    "ERR DEBUG RELOAD only supports the MERGE, NOFLUSH and NOSAVE options.",
                ))
            }
        }
    }
    let server = ctx.server;
    let load_failed = || CmdError::raw("ERR Error trying to load the RDB dump");
    ctx.with_view(0, None, |db| {
        if save {
            crate::persist::save(server, db).map_err(|_| CmdError::raw("ERR"))?;
        }
        let path = crate::persist::rdb_path(server);
        let file = std::fs::File::open(&path).map_err(|_| load_failed())?;
        // Not a write of its own: nothing is propagated for the keys it empties.
        let dirty = db.dirty;
        if flush {
            for i in 0..crate::db::NDBS {
                db.flush_db(i);
            }
            server.functions.flush();
        }
        db.dirty = dirty;
        let dup = match merge {
            true => crate::persist::OnDuplicate::Replace,
            false => crate::persist::OnDuplicate::Refuse,
        };
        let index = db.index;
        let loaded = crate::persist::load_rdb_into(server, db, std::io::BufReader::new(file), dup);
        db.index = index;
        match loaded {
            Ok(l) => {
                tracing::info!(
                    "Done loading RDB, keys loaded: {}, keys expired: {}.",
                    l.keys,
                    l.expired
                );
                tracing::warn!("DB reloaded by DEBUG RELOAD");
                Ok(())
            }
            Err(e) => {
                tracing::warn!("{}", e.error);
                Err(load_failed())
            }
        }
    })
}

/// `DEBUG OBJECT key`: Redis's one-line description of a value (the address is where
/// ferrodis holds it; a list is described as the quicklist Redis would make of it: nodes of
/// up to 8 KB of listpack, which is also what its serialized length counts).
fn debug_object(ctx: &mut Ctx) -> Result<String, CmdError> {
    let fill = ctx.server.config.read().get_str("list-max-listpack-size");
    let compress = ctx.server.config.read().get_str("list-compress-depth");
    let key = ctx.args[2].clone();
    let now_s = (crate::server::unix_ms() / 1000) as u32;
    let slot = crate::db::key_slot(&key);
    let settings = ctx.settings;
    ctx.with_view(ctx.client.db, Some(&[slot]), |db| {
        db.peek(&key).map(|e| {
            let v = &e.value;
            let refcount = super::keys::refcount(v, settings);
            let (serialized, list_fields) = if let crate::db::Value::List(l) = v {
                // As listpacks: 6 bytes of header, each element with its length and
                // back-length bytes (one each while short), one end byte.
                let bytes: usize = 7 + l.iter().map(|x| x.len() + 2).sum::<usize>();
                let nodes = bytes.div_ceil(8192).max(1);
                // Written as the node count, then each node's container byte and listpack
                // as a string.
                let len_size = |n: usize| match n {
                    0..64 => 1,
                    64..16384 => 2,
                    _ => 5,
                };
                let serialized = len_size(nodes) + nodes * (1 + len_size(bytes / nodes)) + bytes;
                let fields = format!(
                    " ql_nodes:{nodes} ql_avg_node:{:.2} ql_listpack_max:{} ql_compressed:{} ql_uncompressed_size:{bytes}",
                    l.len() as f64 / nodes as f64,
                    fill.as_deref().unwrap_or("-2"),
                    u8::from(compress.as_deref().is_some_and(|c| c != "0")),
                );
                (serialized, fields)
            } else {
                let mut body = Vec::new();
                crate::rdb::write_value(&mut body, v, true);
                (body.len(), String::new())
            };
            format!(
                "Value at:{:p} refcount:{refcount} encoding:{} serializedlength:{serialized} lru:{} lru_seconds_idle:{}{list_fields}",
                v as *const _,
                v.encoding(),
                e.access & 0x00ff_ffff,
                now_s.saturating_sub(e.access),
            )
        })
    })
    .ok_or(CmdError::raw("ERR no such key"))
}

/// `DEBUG PROTOCOL type`: Redis's sample reply of each RESP type, for client tests.
fn debug_protocol(ctx: &mut Ctx) -> CmdResult {
    let out = &mut ctx.out;
    let kind = ctx.args[2].to_ascii_lowercase();
    match kind.as_slice() {
        b"string" => out.bulk(b"Hello World"),
        b"integer" => out.int(12345),
        // Redis's sample, not an approximation of pi.
        #[allow(clippy::approx_constant)]
        b"double" => out.double(3.141),
        b"bignum" => out.big_number(b"1234567999999999999999999999999999999"),
        b"null" => out.null(),
        b"array" | b"set" | b"map" => {
            match kind.as_slice() {
                b"array" => out.array(3),
                b"set" => out.set(3),
                _ => out.map(3),
            }
            for i in 0..3 {
                out.int(i);
                if kind == b"map" {
                    out.boolean(i == 1);
                }
            }
        }
        b"attrib" => {
            if out.is_resp3() {
                out.raw(b"|1\r\n");
                out.bulk(b"key-popularity");
                out.array(2);
                out.bulk(b"key:123");
                out.int(90);
            }
            out.bulk(b"Some real reply following the attribute");
        }
        b"push" => {
            if !out.is_resp3() {
                return Err(CmdError::raw("ERR RESP2 is not supported by this command"));
            }
            out.push(2);
            out.bulk(b"server-cpu-usage");
            out.int(42);
            out.bulk(b"Some real reply following the push reply");
        }
        b"verbatim" => out.verbatim(b"This is a verbatim\nstring"),
        b"true" => out.boolean(true),
        b"false" => out.boolean(false),
        _ => {
            return Err(CmdError::raw(
                "ERR Wrong protocol type name. Please use one of the following: \
                 string|integer|double|bignum|null|array|set|map|attrib|push|verbatim|true|false",
            ))
        }
    }
    Ok(())
}

/// The refusal of MODULE LOAD/LOADEX/UNLOAD when [`module_allowed`] says no.
pub const MODULE_NOT_ALLOWED: &str = "ERR MODULE command not allowed. If the enable-module-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.";

/// The refusal of DEBUG when [`debug_allowed`] says no.
pub const DEBUG_NOT_ALLOWED: &str = "ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.";

fn debug(ctx: &mut Ctx) -> CmdResult {
    let sub = ctx.args[1].to_ascii_lowercase();
    match (sub.as_slice(), ctx.args.len()) {
        (b"sleep", 3) => {
            let secs = crate::util::num::parse_f64(&ctx.args[2]).ok_or(CmdError::NotFloat)?;
            let d = std::time::Duration::from_secs_f64(secs.clamp(0.0, 3600.0));
            ctx.client.action = Some(Action::Sleep(d));
            ctx.out.ok();
        }
        (b"set-active-expire", 3) => {
            let on = crate::util::num::parse_i64(&ctx.args[2]).ok_or(CmdError::NotInteger)?;
            ctx.server.active_expire.store(on != 0, Relaxed);
            ctx.out.ok();
        }
        (b"digest-value", _) => {
            // Logically expired keys are digested too in Redis; here they are reclaimed first.
            let keys = &ctx.args[2..];
            let slots: Vec<u16> = keys.iter().map(|k| crate::db::key_slot(k)).collect();
            let digests: Vec<String> = ctx.with_view(ctx.client.db, Some(&slots), |db| {
                keys.iter()
                    .map(|k| match db.peek(k) {
                        Some(e) => crate::util::digest::hex(
                            &crate::util::digest::value_digest(&e.value, e.expire_at != 0),
                        ),
                        None => "0".repeat(40),
                    })
                    .collect()
            });
            ctx.out.array(digests.len());
            for d in &digests {
                ctx.out.simple(d);
            }
        }
        (b"populate", 3..=5) => {
            // As Redis: keys `<prefix>:<n>` (prefix `key`) holding `value:<n>`, cut or padded
            // with zero bytes to `size` when given; keys already there are left alone. Not
            // propagated (DEBUG is not a write command).
            // Not a number or negative: one error, as in Redis.
            let positive = |a: &[u8]| -> Result<usize, CmdError> {
                crate::util::num::parse_i64(a)
                    .and_then(|n| usize::try_from(n).ok())
                    .ok_or(CmdError::raw("ERR value is out of range, must be positive"))
            };
            let count = positive(&ctx.args[2])?;
            let size = match ctx.args.get(4) {
                Some(a) => positive(a)?,
                None => 0,
            };
            let prefix = ctx.args.get(3).map_or(&b"key"[..], |a| &a[..]).to_vec();
            ctx.with_view(ctx.client.db, None, |db| {
                let mut key = Vec::with_capacity(prefix.len() + 21);
                for n in 0..count {
                    key.clear();
                    key.extend_from_slice(&prefix);
                    key.push(b':');
                    key.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
                    if db.peek(&key).is_some() {
                        continue;
                    }
                    let mut value = format!("value:{n}").into_bytes();
                    if size > 0 {
                        value.resize(size, 0);
                    }
                    db.set(&key, crate::db::Value::string(&value), false);
                }
            });
            ctx.out.ok();
        }
        (b"digest", 2) => {
            let d = ctx.with_view(0, None, |db| {
                crate::util::digest::dataset_digest(crate::db::NDBS, |i, f| {
                    db.in_db(i, |db| db.for_each(|k, e| f(k, &e.value, e.expire_at != 0)))
                })
            });
            ctx.out.simple(&crate::util::digest::hex(&d));
        }
        (b"object", 3) => {
            let line = debug_object(ctx)?;
            ctx.out.simple(&line);
        }
        (b"protocol", 3) => debug_protocol(ctx)?,
        (b"error", 3) => {
            // Written as is: Redis does not count it in its error statistics either.
            let text = crate::error::lossy(&ctx.args[2], usize::MAX);
            ctx.out.error_bytes(text.as_bytes());
        }
        (b"log", 3) => {
            tracing::warn!("DEBUG LOG: {}", crate::error::lossy(&ctx.args[2], usize::MAX));
            ctx.out.ok();
        }
        (b"reload", _) => {
            debug_reload(ctx)?;
            ctx.out.ok();
        }
        (b"change-repl-id", 2) => {
            tracing::warn!("Changing replication IDs after receiving DEBUG change-repl-id");
            ctx.server.repl.change_replid();
            ctx.out.ok();
        }
        (b"help", 2) => help(
            ctx,
            "DEBUG",
            &[
                "SLEEP <seconds>",
                "    Wait <seconds> (may be fractional) before running this connection's next command.",
                "POPULATE <count> [<prefix>] [<size>]",
                "    Create <count> string keys named key:<num>. If <prefix> is specified then",
                "    it is used instead of the 'key' prefix. These are not propagated to",
                "    replicas. Cluster slots are not respected so keys not belonging to the",
                "    current node can be created.",
                "DIGEST-VALUE <key> [<key> ...]",
                "    Output a hash for every given key's value (what redis-cli --cluster fix compares).",
                "SET-ACTIVE-EXPIRE <0|1>",
                "    Turn the active expiry cycle off or on.",
                "DIGEST",
                "    Output a hash of every key and value of every database.",
                "OBJECT <key>",
                "    Show how the value at <key> is held: encoding, serialized length, LRU.",
                "PROTOCOL <type>",
                "    Reply with a sample value of one type: string, integer, double, bignum,",
                "    null, array, set, map, attrib, push, verbatim, true or false.",
                "ERROR <string>",
                "    Reply with <string> as an error (for client tests).",
                "LOG <message>",
                "    Write <message> in the server log.",
                "RELOAD [MERGE] [NOFLUSH] [NOSAVE]",
                "    Save the RDB file, empty the dataset and load the file back. NOSAVE loads",
                "    the file as it is on disk; NOFLUSH keeps the dataset, and then MERGE lets",
                "    the file's keys and libraries replace the ones already there (without it",
                "    one already there is an error).",
                "CHANGE-REPL-ID",
                "    Give this node a new replication ID and forget the previous one.",
            ],
        ),
        _ => return Err(CmdError::subcommand_syntax(&ctx.args[1], "DEBUG")),
    }
    Ok(())
}

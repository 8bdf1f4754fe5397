//! `ferrodis-server [config-file] [--directive value ...]`: a drop-in for `redis-server`.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use ferrodis_node::config::Config;
use ferrodis_node::server::{unix_ms, Server};
use ferrodis_node::{listener, log};
use tracing::{info, warn};

#[global_allocator]
static GLOBAL: ferrodis_node::alloc::Counting = ferrodis_node::alloc::Counting;

const VERSION: &str = env!("CARGO_PKG_VERSION");
use ferrodis_node::REDIS_VERSION;

fn usage() {
    eprintln!(
        "Usage: ./ferrodis-server [/path/to/redis.conf] [options] [-]\n       \
         ./ferrodis-server - (read config from stdin)\n       \
         ./ferrodis-server -v or --version\n       \
         ./ferrodis-server -h or --help\n\n\
         Examples:\n       \
         ./ferrodis-server (run the server with default config)\n       \
         ./ferrodis-server /etc/redis/6379.conf\n       \
         ./ferrodis-server --port 7777\n       \
         ./ferrodis-server /etc/myredis.conf --loglevel verbose"
    );
}

fn main() {
    ferrodis_node::alloc::tune();
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(first) = args.first() {
        match first.as_str() {
            "-v" | "--version" => {
                println!("Redis server v={REDIS_VERSION} sha=00000000:0 malloc=libc bits=64 build=ferrodis-{VERSION}");
                return;
            }
            "-h" | "--help" => {
                usage();
                return;
            }
            _ => {}
        }
    }
    let config = match Config::from_args(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = run(config) {
        eprintln!("{e:#}");
        std::process::exit(1);
    }
}

fn init_logging(config: &Config) -> anyhow::Result<()> {
    let target = log::LogTarget::open(config.logfile())
        .with_context(|| format!("Can't open the log file: {}", config.logfile()))?;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::Layer;
    log::set_level(config.loglevel());
    let layer = tracing_subscriber::fmt::layer()
        .event_format(log::RedisFormat::new('M'))
        .with_writer(target)
        .with_filter(tracing_subscriber::filter::filter_fn(|m| {
            log::enabled(m.level())
        }));
    tracing_subscriber::registry().with(layer).init();
    Ok(())
}

fn banner(config: &Config, port: u16) {
    let pid = std::process::id();
    let mode = if config.cluster_enabled() {
        "cluster"
    } else {
        "standalone"
    };
    if config.always_show_logo() {
        let art = format!(
            "\n\
             \x20     ___                          _ _\n\
             \x20    / __)                        | (_)       ferrodis {VERSION} (Redis {REDIS_VERSION} compatible) 64 bit\n\
             \x20  _| |__ _____  ____ ____ ___  __| |_  ___\n\
             \x20 (_   __) ___ |/ ___) ___) _ \\/ _  | |/___)  Running in {mode} mode\n\
             \x20   | |  | ____| |  | |  | |_| ( (_| | |___ | Port: {port}\n\
             \x20   |_|  |_____)_|  |_|   \\___/ \\____|_(___/  PID: {pid}\n\n"
        );
        info!("{art}");
    } else {
        info!("Running mode={mode}, port={port}.");
    }
}

/// `daemonize yes`: like Redis, the parent exits at once and the child goes on in a new
/// session with its standard streams on /dev/null (so without `logfile` nothing is logged).
/// Called before any thread exists (the runtime and logging start after this).
fn daemonize() -> anyhow::Result<()> {
    // daemon(3): fork, the parent exits, setsid, stdio to /dev/null; keep the working directory
    // (already `dir`).
    nix::unistd::daemon(true, false).context("daemonize")?;
    Ok(())
}

fn run(config: Config) -> anyhow::Result<()> {
    std::env::set_current_dir(config.dir())
        .with_context(|| format!("Can't chdir to '{}'", config.dir()))?;
    let mut pidfile = config.pidfile().to_string();
    if config.daemonize() {
        daemonize()?;
        if pidfile.is_empty() {
            pidfile = "/var/run/redis.pid".to_string();
        }
    }
    init_logging(&config)?;
    warn!("oO0OoO0OoO0Oo ferrodis is starting oO0OoO0OoO0Oo");
    warn!(
        "ferrodis version={VERSION} (Redis {REDIS_VERSION} compatible), bits=64, pid={}, just started",
        std::process::id()
    );
    match config.config_file() {
        Some(p) => warn!("Configuration loaded from {}", p.display()),
        None => warn!("Warning: no config file specified, using the default config. In order to specify a config file use ferrodis-server /path/to/redis.conf"),
    }
    let port = config.port();
    let tls_port = u16::try_from(
        config
            .get_str("tls-port")
            .and_then(|p| p.parse().ok())
            .unwrap_or(0u32),
    )
    .unwrap_or(0);
    let bind = config.bind();
    let hz = config.hz().max(1);
    let server = Server::new(config);
    if let Err(e) = server.tls.configure(&server.config.read()) {
        anyhow::bail!("Failed to configure TLS. Check logs for more info. ({e})");
    }

    let mut rt = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = server.config.read().worker_threads() {
        rt.worker_threads(n);
    }
    // Scripts run on the workers, and the Lua interpreter recurses once per nested Lua call
    // (its depth limit is sized for this stack); the memory is only reserved.
    rt.thread_stack_size(ferrodis_node::scripting::STACK_SIZE);
    let rt = rt.enable_all().build().context("starting the runtime")?;
    rt.block_on(async move {
        let listeners = if port == 0 {
            Vec::new()
        } else {
            listener::bind_all(&bind, port).await?
        };
        if port != 0 && listeners.is_empty() {
            anyhow::bail!("Failed listening on port {port} (tcp), aborting.");
        }
        server.tcp_port.store(port as u32, Relaxed);
        let tls_listeners = if tls_port == 0 {
            Vec::new()
        } else {
            listener::bind_all(&bind, tls_port).await?
        };
        if tls_port != 0 && tls_listeners.is_empty() {
            anyhow::bail!("Failed listening on port {tls_port} (tls), aborting.");
        }
        server.tls_port.store(tls_port as u32, Relaxed);
        if server.config.read().cluster_enabled() {
            let transport: Option<Arc<dyn ferrodis_node::cluster::Transport>> =
                if server.config.read().get_str("tls-cluster").as_deref() == Some("yes") {
                    Some(Arc::new(ferrodis_node::tls::BusTls {
                        tls: server.tls.clone(),
                    }))
                } else {
                    None
                };
            let base = ferrodis_node::cluster::port_base(&server.config.read(), port, tls_port);
            let cluster = ferrodis_node::cluster::start(&server.config.read(), base, transport)?;
            let _ = server.cluster.set(cluster);
        }
        banner(&server.config.read(), port);
        warn!("Server initialized");
        if let Err(lines) = server.acl.load_at_startup(&server.config.read()) {
            for l in lines {
                warn!("{l}");
            }
            std::process::exit(1);
        }
        if !pidfile.is_empty() {
            if let Err(e) = std::fs::write(&pidfile, format!("{}\n", std::process::id())) {
                warn!("Failed to write PID file: {e}");
            }
        }
        // A dataset on disk is loaded while clients are served, as in Redis: commands
        // without the `loading` flag get LOADING (INFO shows the progress). The state is on
        // before the first client is accepted and lasts the whole start-up, the AOF's
        // opening too: the cron (which would start the AOF itself) waits meanwhile. With
        // nothing on disk the start-up is done first, so a fresh server never answers
        // LOADING (scripts wait with `redis-cli ping`, which takes any reply).
        let mut signals = Signals::new();
        let on_disk = dataset_on_disk(&server);
        let in_background = on_disk.is_some();
        if let Some(total) = on_disk {
            ferrodis_node::persist::Loading::begin(&server, total);
        } else if let Err(msg) = load_dataset(&server) {
            warn!("{msg}");
            std::process::exit(1);
        }
        listener::log_listening(&listeners);
        for l in listeners {
            tokio::spawn(listener::accept_loop(server.clone(), l));
        }
        listener::serve_tls(&server, tls_listeners);
        tokio::spawn(cron(server.clone(), hz));
        if ferrodis_node::spin::worth_it(server.config.read().worker_threads()) {
            let s = server.clone();
            tokio::spawn(server.spin.clone().run(
                move || s.stats.commands_processed.load(Relaxed),
                ferrodis_node::server::mono_ns,
            ));
        }
        if in_background {
            let load = {
                let server = server.clone();
                tokio::task::spawn_blocking(move || {
                    let _loading = ferrodis_node::persist::Loading::adopt(&server);
                    load_dataset(&server)
                })
            };
            tokio::select! {
                loaded = load => match loaded {
                    Ok(Ok(())) => {}
                    Ok(Err(msg)) => {
                        warn!("{msg}");
                        std::process::exit(1);
                    }
                    Err(e) => {
                        warn!("Loading the dataset failed: {e}");
                        std::process::exit(1);
                    }
                },
                // A shutdown asked for while loading: exit without saving what is half
                // loaded.
                _ = signals.shutdown(&server) => {
                    exit_now(&server, &pidfile);
                }
            }
        }
        if let Some(c) = server.cluster.get() {
            c.forward_events(server.clone());
        }
        if let Some((host, port)) = server.config.read().replicaof() {
            ferrodis_node::repl::link::replicaof(&server, Some((host, port)));
        }
        info!("Ready to accept connections");
        loop {
            signals.shutdown(&server).await;
            if final_save(&server) {
                break;
            }
            server.shutting_down.store(false, Relaxed);
        }
        exit_now(&server, &pidfile);
    })
}

/// The dataset at start: the AOF with appendonly (the RDB file is not read then, as in
/// Redis), else the RDB file. Err: the message to log before exiting.
fn load_dataset(server: &Server) -> Result<(), String> {
    if server.config.read().appendonly() {
        ferrodis_node::aof::load::load_at_start(server)
            .and_then(|m| ferrodis_node::aof::rewrite::open_at_start(server, m))
    } else {
        ferrodis_node::persist::load_at_start(server)
    }
}

/// The bytes of the dataset files start-up reads, if there are any: the AOF's with
/// appendonly, else the RDB file.
fn dataset_on_disk(server: &Server) -> Option<u64> {
    if server.config.read().appendonly() {
        ferrodis_node::aof::load::size_on_disk(server)
    } else {
        let rdb = ferrodis_node::persist::rdb_path(server);
        std::fs::metadata(rdb).ok().map(|m| m.len())
    }
}

/// The end of a shutdown: the cluster configuration saved, the pid file removed, and the
/// process gone at once (client tasks are not waited for, as redis-server does not).
fn exit_now(server: &Server, pidfile: &str) -> ! {
    if let Some(c) = server.cluster.get() {
        if let Err(e) = c.flush() {
            warn!("Could not save the cluster configuration: {e}");
        }
    }
    warn!("ferrodis is now ready to exit, bye bye...");
    if !pidfile.is_empty() {
        let _ = std::fs::remove_file(pidfile);
    }
    std::process::exit(0);
}

/// Saves the dataset before exiting when save points are set (or SHUTDOWN SAVE asked), as
/// Redis does. False if that save failed: the server keeps running.
fn final_save(server: &Server) -> bool {
    let mode = server
        .shutdown_mode
        .swap(ferrodis_node::server::SHUTDOWN_DEFAULT, Relaxed);
    let wanted = match mode {
        ferrodis_node::server::SHUTDOWN_NOSAVE => false,
        ferrodis_node::server::SHUTDOWN_SAVE => true,
        _ => !server.config.read().save_params().is_empty(),
    };
    if server.aof.on() {
        // Everything acknowledged is already written; make it durable before exiting.
        info!("Calling fsync() on the AOF file.");
        if let Err(e) = server.aof.write_out(true) {
            warn!("Error writing the AOF on shutdown: {e}");
        }
    }
    !wanted || ferrodis_node::persist::shutdown_save(server)
}

/// SIGTERM and SIGINT, listened to from before the first client is accepted until the
/// process exits: one listener each for the whole run, so a signal arriving between two
/// waits (after the load, after a failed final save) is not lost.
struct Signals {
    term: Option<tokio::signal::unix::Signal>,
    int: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    fn new() -> Signals {
        use tokio::signal::unix::{signal, SignalKind};
        Signals {
            term: signal(SignalKind::terminate()).ok(),
            int: signal(SignalKind::interrupt()).ok(),
        }
    }

    /// Until a signal or SHUTDOWN asks the server to stop.
    async fn shutdown(&mut self, server: &Server) {
        async fn recv(s: &mut Option<tokio::signal::unix::Signal>) {
            match s {
                Some(s) => {
                    s.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        }
        let signalled = |name: &str| {
            if server.rdb.loading.load(Relaxed) {
                warn!("Received shutdown signal during loading, scheduling shutdown.");
            } else {
                warn!("Received {name} scheduling shutdown...");
            }
        };
        tokio::select! {
            _ = recv(&mut self.term) => signalled("SIGTERM"),
            _ = recv(&mut self.int) => signalled("SIGINT"),
            _ = server.shutdown.notified() => {}
        }
        // A running script stops at its next poll (it holds the shards the save needs).
        server.shutting_down.store(true, Relaxed);
        warn!("User requested shutdown...");
    }
}

/// Background work, `hz` times a second: active expiry, idle clients, ops/sec.
async fn cron(server: Arc<Server>, hz: u32) {
    let mut tick = tokio::time::interval(Duration::from_millis(1000 / hz as u64));
    let mut last_cmds = 0u64;
    let mut last_at = std::time::Instant::now();
    let mut last_ping = std::time::Instant::now();
    let mut releaser = ferrodis_node::alloc::Releaser::default();
    loop {
        tick.tick().await;
        ferrodis_node::server::resync_clock();
        if server.rdb.loading.load(Relaxed) || server.scripts.is_running() {
            // A replica loading its primary's snapshot, and a script, hold every shard
            // (Redis's cron waits out a load and a script too): the cron would block a worker
            // that other connections need (to be answered BUSY, or to send SCRIPT KILL).
            continue;
        }
        let now = unix_ms();
        // Keep reclaiming while there is a backlog, bounded per tick.
        server.note_memory_peak(server.used_memory());
        for _ in 0..16 {
            if !server.active_expire.load(Relaxed) {
                break;
            }
            let n = server.active_expire_cycle(now);
            if n == 0 {
                break;
            }
            tokio::task::yield_now().await;
        }
        let s = server.settings();
        if s.timeout_secs > 0 {
            let limit = s.timeout_secs * 1000;
            let up = server.uptime_ms();
            let idle: Vec<_> = server
                .clients
                .lock()
                .values()
                .filter(|c| {
                    // Monitors, blocked clients and subscribers are never idle-killed
                    // (Redis skips all three).
                    c.flags.load(Relaxed)
                        & (ferrodis_node::server::cflags::MONITOR
                            | ferrodis_node::server::cflags::BLOCKED
                            | ferrodis_node::server::cflags::PUBSUB)
                        == 0
                        && up.saturating_sub(c.last_active_ms.load(Relaxed)) > limit
                })
                .cloned()
                .collect();
            for c in idle {
                server.close_client(&c);
            }
        }
        if s.maxmemory > 0 {
            server.free_memory_if_needed(&s, now);
        }
        ferrodis_node::persist::cron(&server);
        server.migrate.close_idle();
        ferrodis_node::cluster::migrate_pool::redirect_blocked(&server);
        ferrodis_node::aof::rewrite::cron(&server);
        let period = server
            .config
            .read()
            .get_str("repl-ping-replica-period")
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(10)
            .max(1);
        if last_ping.elapsed() >= Duration::from_secs(period) {
            ferrodis_node::repl::ping_replicas(&server);
            last_ping = std::time::Instant::now();
        }
        let el = last_at.elapsed();
        if el >= Duration::from_millis(1000) {
            // Certificates changed on disk are picked up within a second.
            server.tls.poll_files();
            let rss = ferrodis_node::cmd::server::rss_bytes();
            let cmds = server.stats.commands_processed.load(Relaxed);
            // Busy: more than a few hundred commands in the last second.
            let busy = cmds - last_cmds > 500;
            if releaser.due(std::time::Instant::now(), rss, server.used_memory(), busy) {
                tokio::task::spawn_blocking(ferrodis_node::alloc::release);
            }
            let ops = (cmds - last_cmds) as f64 / el.as_secs_f64();
            server.stats.ops_per_sec.store(ops as u64, Relaxed);
            last_cmds = cmds;
            last_at = std::time::Instant::now();
        }
    }
}

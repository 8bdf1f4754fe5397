//! ACLs as in Redis 7.0 (`src/acl.c`): the user registry, the permission check dispatch runs
//! before every command, the ACL log, and the ACL file.
//!
//! - [`rules`]: one user's rules (flags, passwords, selectors), parsing and describing them.
//! - [`file`]: `aclfile` loading and saving, `user` lines of redis.conf.
//!
//! Every connection holds an `Arc<User>`. A user's rules change in place (ACL SETUSER), so
//! connections see the change at their next command; a deleted user's connections are closed.
//! A user allowed every command, key and channel (the default user, unless changed) is "open":
//! dispatch checks one atomic flag and skips everything else.

pub mod file;
pub mod rules;

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::{Mutex, RwLock, RwLockReadGuard};

use crate::cmd::{flags, kflags, Command};
pub use rules::Rules;

/// A user; connections keep a handle on it.
pub struct User {
    pub name: Bytes,
    open: AtomicBool,
    rules: RwLock<Rules>,
}

impl User {
    fn new(name: Bytes, rules: Rules) -> Arc<User> {
        Arc::new(User {
            name,
            open: AtomicBool::new(rules.is_open()),
            rules: RwLock::new(rules),
        })
    }

    /// Allowed everything: no check needed.
    #[inline]
    pub fn is_open(&self) -> bool {
        self.open.load(Relaxed)
    }

    pub fn rules(&self) -> RwLockReadGuard<'_, Rules> {
        self.rules.read()
    }

    pub fn set_rules(&self, r: Rules) {
        let open = r.is_open();
        *self.rules.write() = r;
        self.open.store(open, Relaxed);
    }

    /// `user <name> <rules>`: an ACL LIST entry, an ACL file line, a redis.conf line.
    pub fn line(&self) -> Vec<u8> {
        let mut line = b"user ".to_vec();
        line.extend_from_slice(&self.name);
        line.push(b' ');
        line.extend_from_slice(&self.rules().describe());
        line
    }

    /// The name as text (CLIENT LIST, logs).
    pub fn name_str(&self) -> String {
        String::from_utf8_lossy(&self.name).into_owned()
    }

    /// A new connection with this user is authenticated at once: on and `nopass`.
    pub fn auto_auth(&self) -> bool {
        let r = self.rules();
        r.enabled() && r.nopass()
    }
}

/// Why a command was refused, with the argument that caused it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    Command,
    Key(usize),
    Channel(usize),
}

impl Denied {
    fn rank(self) -> (u8, usize) {
        match self {
            Denied::Command => (1, 0),
            Denied::Key(i) => (2, i),
            Denied::Channel(i) => (4, i),
        }
    }
}

/// `ACL LOG` reasons.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    Command,
    Key,
    Channel,
    Auth,
}

/// `ACL LOG` contexts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    Toplevel,
    Multi,
    /// A command a script ran (`redis.call`).
    Lua,
}

/// One `ACL LOG` entry.
#[derive(Debug, Clone)]
pub struct LogEntry {
    pub count: u64,
    pub reason: Reason,
    pub context: Context,
    pub object: Bytes,
    pub username: Bytes,
    /// Unix ms of the last update.
    pub ctime: u64,
    pub client_info: String,
}

impl LogEntry {
    pub fn reason_str(&self) -> &'static str {
        match self.reason {
            Reason::Command => "command",
            Reason::Key => "key",
            Reason::Channel => "channel",
            Reason::Auth => "auth",
        }
    }

    pub fn context_str(&self) -> &'static str {
        match self.context {
            Context::Toplevel => "toplevel",
            Context::Multi => "multi",
            Context::Lua => "lua",
        }
    }
}

/// Entries this close in time (ms) with the same reason, context, object and user are merged.
const LOG_GROUPING_MS: u64 = 60_000;

/// The user registry and the ACL log.
pub struct Acl {
    users: RwLock<BTreeMap<Bytes, Arc<User>>>,
    default: Arc<User>,
    log: Mutex<VecDeque<LogEntry>>,
    /// `acl-pubsub-default allchannels`.
    pub pubsub_all: AtomicBool,
    /// `acllog-max-len`.
    pub log_max: AtomicU64,
}

impl Acl {
    /// The registry with the default user, its password set from `requirepass`.
    pub fn new(config: &crate::config::Config) -> Acl {
        let pubsub_all = config.acl_pubsub_default_all();
        let default = User::new(
            Bytes::from_static(b"default"),
            Rules::default_user(pubsub_all),
        );
        let acl = Acl {
            users: RwLock::new(BTreeMap::from([(default.name.clone(), default.clone())])),
            default,
            log: Mutex::new(VecDeque::new()),
            pubsub_all: AtomicBool::new(pubsub_all),
            log_max: AtomicU64::new(config.acllog_max_len()),
        };
        acl.set_default_password(config.requirepass().as_deref());
        acl
    }

    pub fn pubsub_all(&self) -> bool {
        self.pubsub_all.load(Relaxed)
    }

    pub fn default_user(&self) -> &Arc<User> {
        &self.default
    }

    pub fn get(&self, name: &[u8]) -> Option<Arc<User>> {
        self.users.read().get(name).cloned()
    }

    /// Every user, by name.
    pub fn users(&self) -> Vec<Arc<User>> {
        self.users.read().values().cloned().collect()
    }

    /// `requirepass`: the default user gets this one password, or `nopass` (`None`).
    pub fn set_default_password(&self, pass: Option<&[u8]>) {
        let pubsub_all = self.pubsub_all();
        let mut r = self.default.rules().clone();
        let _ = r.apply(b"resetpass", pubsub_all);
        match pass {
            Some(p) => {
                let mut op = Vec::with_capacity(p.len() + 1);
                op.push(b'>');
                op.extend_from_slice(p);
                let _ = r.apply(&op, pubsub_all);
            }
            None => {
                let _ = r.apply(b"nopass", pubsub_all);
            }
        }
        self.default.set_rules(r);
    }

    /// The user `name` if it is on and `pass` is one of its passwords.
    pub fn authenticate(&self, name: &[u8], pass: &[u8]) -> Option<Arc<User>> {
        let u = self.get(name)?;
        let ok = {
            let r = u.rules();
            r.enabled() && r.password_ok(pass)
        };
        ok.then_some(u)
    }

    /// Creates or replaces the rules of `name` (ACL SETUSER after validation).
    pub fn set_user(&self, name: &[u8], rules: Rules) -> Arc<User> {
        let mut users = self.users.write();
        match users.get(name) {
            Some(u) => {
                u.set_rules(rules);
                u.clone()
            }
            None => {
                let u = User::new(Bytes::copy_from_slice(name), rules);
                users.insert(u.name.clone(), u.clone());
                u
            }
        }
    }

    /// Removes a user; returns it (its connections must be closed).
    pub fn remove(&self, name: &[u8]) -> Option<Arc<User>> {
        if name == b"default" {
            return None;
        }
        self.users.write().remove(name)
    }

    /// Replaces every user (ACL LOAD, startup): the default user keeps its handle and gets the
    /// new rules (or the built-in ones). Returns the users that were replaced.
    pub fn replace_all(&self, mut users: BTreeMap<Bytes, Rules>) -> Vec<Arc<User>> {
        let default_rules = users
            .remove(&b"default"[..])
            .unwrap_or_else(|| Rules::default_user(self.pubsub_all()));
        self.default.set_rules(default_rules);
        let mut map = BTreeMap::from([(self.default.name.clone(), self.default.clone())]);
        for (name, r) in users {
            map.insert(name.clone(), User::new(name, r));
        }
        let old = std::mem::replace(&mut *self.users.write(), map);
        old.into_values()
            .filter(|u| !Arc::ptr_eq(u, &self.default))
            .collect()
    }

    /// Loads the `user` lines of the configuration, then the ACL file (`ACLLoadUsersAtStartup`).
    /// Err holds the lines to log before exiting.
    pub fn load_at_startup(&self, config: &crate::config::Config) -> Result<(), Vec<String>> {
        let path = config.aclfile();
        if !path.is_empty() && !config.users().is_empty() {
            return Err(vec![crate::error::acl::MIXED_CONFIG.to_string()]);
        }
        if !config.users().is_empty() {
            let default = self.default.rules().clone();
            let users = file::config_users(config.users(), &default, self.pubsub_all())
                .map_err(|e| vec![e, "Critical error while loading ACLs. Exiting.".into()])?;
            let mut all: BTreeMap<Bytes, Rules> = self
                .users()
                .into_iter()
                .map(|u| (u.name.clone(), u.rules().clone()))
                .collect();
            all.extend(users);
            self.replace_all(all);
        }
        if !path.is_empty() {
            let users = file::load(path, self.pubsub_all())
                .map_err(|e| vec![format!("Aborting Redis startup because of ACL errors: {e}")])?;
            self.replace_all(users);
        }
        Ok(())
    }

    /// Records a refusal in the ACL log, merging it with a recent similar entry.
    pub fn log(
        &self,
        reason: Reason,
        context: Context,
        object: Bytes,
        username: Bytes,
        client_info: String,
    ) {
        let now = crate::server::unix_ms();
        let mut log = self.log.lock();
        let found = log.iter().take(10).position(|e| {
            e.reason == reason
                && e.context == context
                && e.ctime.abs_diff(now) <= LOG_GROUPING_MS
                && e.object == object
                && e.username == username
        });
        if let Some(i) = found {
            if let Some(mut e) = log.remove(i) {
                e.count += 1;
                e.ctime = now;
                e.client_info = client_info;
                log.push_front(e);
            }
            return;
        }
        log.push_front(LogEntry {
            count: 1,
            reason,
            context,
            object,
            username,
            ctime: now,
            client_info,
        });
        let max = self.log_max.load(Relaxed) as usize;
        log.truncate(max);
    }

    /// The newest `n` entries.
    pub fn log_entries(&self, n: usize) -> Vec<LogEntry> {
        self.log.lock().iter().take(n).cloned().collect()
    }

    pub fn log_reset(&self) {
        self.log.lock().clear();
    }
}

/// The channel arguments of a command and whether they are patterns matched literally:
/// PUBLISH/SPUBLISH (one channel), (S)SUBSCRIBE (all), PSUBSCRIBE (all, literally).
fn channel_args(cmd: &Command, argc: usize) -> Option<(std::ops::Range<usize>, bool)> {
    if cmd.flags & flags::PUBSUB == 0 {
        return None;
    }
    match cmd.name {
        "publish" | "spublish" => Some((1..2.min(argc), false)),
        "subscribe" | "ssubscribe" => Some((1..argc, false)),
        "psubscribe" => Some((1..argc, true)),
        _ => None,
    }
}

fn key_allowed(s: &rules::Selector, key: &[u8], spec_flags: u16) -> bool {
    if s.all_keys {
        return true;
    }
    let mut need = 0u8;
    if spec_flags & kflags::ACCESS != 0 {
        need |= rules::READ;
    }
    if spec_flags & (kflags::INSERT | kflags::DELETE | kflags::UPDATE) != 0 {
        need |= rules::WRITE;
    }
    s.patterns
        .iter()
        .any(|(f, p)| f & need == need && crate::util::glob::glob_match(p, key, false))
}

fn check_selector(
    s: &rules::Selector,
    cmd: &'static Command,
    is_sub: bool,
    args: &[Bytes],
    keys: &mut Option<Vec<(usize, u16)>>,
) -> Result<(), Denied> {
    if !s.all_commands && cmd.flags & flags::NO_AUTH == 0 {
        let id = rules::command_id(cmd);
        if !s.bit(id) {
            let idx = if is_sub { 2 } else { 1 };
            if args.len() < 2 || !s.has_firstargs(id) {
                return Err(Denied::Command);
            }
            match args.get(idx) {
                Some(a) if s.firstarg_allows(id, a) => {}
                _ => return Err(Denied::Command),
            }
        }
    }
    if !s.all_keys && !cmd.key_specs.is_empty() {
        let keys = keys.get_or_insert_with(|| {
            let mut v = Vec::new();
            // Arguments the key specs do not fit (EVAL's numkeys beyond its arguments) have
            // no keys for ACL, as in Redis: the command then answers its own error.
            if !cmd.keys_with_flags(args, &mut v) {
                v.clear();
            }
            v
        });
        for &(i, f) in keys.iter() {
            if !key_allowed(s, &args[i], f) {
                return Err(Denied::Key(i));
            }
        }
    }
    if !s.all_channels {
        if let Some((range, literal)) = channel_args(cmd, args.len()) {
            for j in range {
                let ch = &args[j];
                let ok = s.channels.iter().any(|p| {
                    if literal {
                        p[..] == ch[..]
                    } else {
                        crate::util::glob::glob_match(p, ch, false)
                    }
                });
                if !ok {
                    return Err(Denied::Channel(j));
                }
            }
        }
    }
    Ok(())
}

/// Whether `rules` allow `cmd` (a subcommand row when `is_sub`) with `args`: any selector
/// allowing it is enough; otherwise the most relevant refusal (`ACLCheckAllUserCommandPerm`).
pub fn check(
    rules: &Rules,
    cmd: &'static Command,
    is_sub: bool,
    args: &[Bytes],
) -> Result<(), Denied> {
    let mut worst = Denied::Command;
    let mut keys = None;
    for s in &rules.selectors {
        match check_selector(s, cmd, is_sub, args, &mut keys) {
            Ok(()) => return Ok(()),
            Err(d) => {
                if d.rank() > worst.rank() {
                    worst = d;
                }
            }
        }
    }
    Err(worst)
}

/// A random hex password of `bits` bits (`ACL GENPASS`).
pub fn genpass(bits: usize) -> String {
    use rand::RngCore;
    let chars = bits.div_ceil(4);
    let mut raw = vec![0u8; chars.div_ceil(2)];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    let mut s = String::with_capacity(chars + 1);
    for b in raw {
        s.push_str(&format!("{b:02x}"));
    }
    s.truncate(chars);
    s
}

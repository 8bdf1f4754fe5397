//! A user's ACL rules as Redis 7.0 keeps them (`src/acl.c`): flags, password hashes and
//! selectors (the root one first), each with a command bitmap, first-args, key and channel
//! patterns. Parsing applies one modifier at a time (`ACLSetUser`/`ACLSetSelector`); describing
//! rebuilds the text `ACL LIST` and `ACL SAVE` print, so `parse(describe(x)) == x`.
//!
//! Command bits are indexed by the position of each row (and subcommand row) in the command
//! table; categories come from the same rows ([`Command::acl_categories`]).

use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;

use bytes::Bytes;
use sha2::{Digest, Sha256};

use crate::cmd::{self, Command};
use crate::error::AclRuleError as E;

/// User flags, in the order Redis prints them.
pub mod uflags {
    pub const ENABLED: u8 = 1 << 0;
    pub const DISABLED: u8 = 1 << 1;
    pub const NOPASS: u8 = 1 << 2;
    pub const SKIP_SANITIZE: u8 = 1 << 3;
    pub const SANITIZE: u8 = 1 << 4;
    pub const NAMES: &[(u8, &str)] = &[
        (ENABLED, "on"),
        (DISABLED, "off"),
        (NOPASS, "nopass"),
        (SKIP_SANITIZE, "skip-sanitize-payload"),
        (SANITIZE, "sanitize-payload"),
    ];
}

/// Key pattern permissions.
pub const READ: u8 = 1;
pub const WRITE: u8 = 2;
pub const ALL: u8 = READ | WRITE;

/// Every command row with an id (its index), its parent and its subcommands.
struct Table {
    rows: Vec<&'static Command>,
    fullnames: Vec<String>,
    parent: Vec<Option<usize>>,
    children: Vec<Vec<usize>>,
    ids: HashMap<usize, usize>,
}

fn table() -> &'static Table {
    static T: OnceLock<Table> = OnceLock::new();
    T.get_or_init(|| {
        let mut t = Table {
            rows: Vec::new(),
            fullnames: Vec::new(),
            parent: Vec::new(),
            children: Vec::new(),
            ids: HashMap::new(),
        };
        for c in cmd::all() {
            let id = t.rows.len();
            t.rows.push(c);
            t.fullnames.push(c.name.to_string());
            t.parent.push(None);
            t.children.push(Vec::new());
            t.ids.insert(c as *const Command as usize, id);
            for s in c.subcommands {
                let sid = t.rows.len();
                t.rows.push(s);
                t.fullnames.push(format!("{}|{}", c.name, s.name));
                t.parent.push(Some(id));
                t.children.push(Vec::new());
                t.children[id].push(sid);
                t.ids.insert(s as *const Command as usize, sid);
            }
        }
        t
    })
}

/// The id of a command row (top-level or subcommand) of the table.
pub fn command_id(c: &'static Command) -> usize {
    table()
        .ids
        .get(&(c as *const Command as usize))
        .copied()
        .unwrap_or(usize::MAX)
}

/// The full name (`config|get`) of a command id.
pub fn fullname(id: usize) -> &'static str {
    table().fullnames.get(id).map_or("", String::as_str)
}

/// The bit set by `+@all` only: "may run commands added later" (Redis's reserved last bit).
fn future_bit() -> usize {
    table().rows.len()
}

fn words() -> usize {
    (future_bit() + 1).div_ceil(64)
}

/// `ACLLookupCommand`: `name` or `name|sub`, case-insensitively.
fn lookup(name: &[u8]) -> Option<usize> {
    let mut parts = name.split(|&b| b == b'|');
    let first = parts.next()?;
    let top = cmd::lookup(first)?;
    match (parts.next(), parts.next()) {
        (None, _) => Some(command_id(top)),
        (Some(sub), None) => {
            if top.subcommands.is_empty() {
                return None;
            }
            top.subcommand(sub).map(command_id)
        }
        _ => None,
    }
}

/// The category flag of `name` (`read`, `string`...), case-insensitively.
pub fn category(name: &[u8]) -> Option<u32> {
    cmd::acl::NAMES
        .iter()
        .find(|(_, n)| n.as_bytes().eq_ignore_ascii_case(name))
        .map(|(f, _)| *f)
}

/// Command ids in a category, in table order (`ACL CAT <category>`).
pub fn commands_in(flag: u32) -> Vec<usize> {
    let t = table();
    (0..t.rows.len())
        .filter(|&i| t.rows[i].acl_categories() & flag != 0)
        .collect()
}

/// SHA-256 of a password, lowercase hex (`ACLHashPassword`).
pub fn hash_password(pass: &[u8]) -> Bytes {
    let digest = Sha256::digest(pass);
    let mut hex = Vec::with_capacity(64);
    for b in digest {
        hex.push(b"0123456789abcdef"[(b >> 4) as usize]);
        hex.push(b"0123456789abcdef"[(b & 15) as usize]);
    }
    Bytes::from(hex)
}

fn valid_hash(h: &[u8]) -> bool {
    h.len() == 64 && h.iter().all(|c| matches!(c, b'a'..=b'f' | b'0'..=b'9'))
}

/// C `isspace` or NUL: not allowed in usernames and patterns.
pub fn has_spaces(s: &[u8]) -> bool {
    s.iter()
        .any(|&c| matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c | 0))
}

/// One selector: the root one (rules outside parentheses) or a `(...)` one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector {
    pub root: bool,
    pub all_keys: bool,
    pub all_channels: bool,
    pub all_commands: bool,
    bits: Vec<u64>,
    /// Command id -> the first arguments allowed for it (`+select|0`).
    firstargs: BTreeMap<usize, Vec<Bytes>>,
    /// Key patterns with their READ/WRITE permissions, in insertion order.
    pub patterns: Vec<(u8, Bytes)>,
    pub channels: Vec<Bytes>,
}

impl Selector {
    /// An empty selector; channels start open when `acl-pubsub-default` is `allchannels`.
    pub fn new(root: bool, pubsub_all: bool) -> Selector {
        Selector {
            root,
            all_keys: false,
            all_channels: pubsub_all,
            all_commands: false,
            bits: vec![0; words()],
            firstargs: BTreeMap::new(),
            patterns: Vec::new(),
            channels: Vec::new(),
        }
    }

    pub fn bit(&self, id: usize) -> bool {
        self.bits
            .get(id / 64)
            .is_some_and(|w| w & (1u64 << (id % 64)) != 0)
    }

    fn set_bit(&mut self, id: usize, on: bool) {
        let Some(w) = self.bits.get_mut(id / 64) else {
            return;
        };
        if on {
            *w |= 1u64 << (id % 64);
        } else {
            *w &= !(1u64 << (id % 64));
            self.all_commands = false;
        }
    }

    /// `ACLChangeSelectorPerm`: a command and all its subcommands.
    fn change_perm(&mut self, id: usize, allow: bool) {
        self.set_bit(id, allow);
        self.firstargs.remove(&id);
        for &sub in &table().children[id] {
            self.set_bit(sub, allow);
        }
    }

    fn set_category(&mut self, flag: u32, allow: bool) {
        let t = table();
        for id in 0..t.rows.len() {
            if t.rows[id].acl_categories() & flag != 0 {
                self.change_perm(id, allow);
            }
        }
    }

    fn count_category(&self, flag: u32) -> (u64, u64) {
        let t = table();
        let (mut on, mut off) = (0, 0);
        for id in 0..t.rows.len() {
            if t.rows[id].acl_categories() & flag != 0 {
                if self.bit(id) {
                    on += 1;
                } else {
                    off += 1;
                }
            }
        }
        (on, off)
    }

    /// Whether the first argument allowed list of `id` holds `arg`.
    pub fn firstarg_allows(&self, id: usize, arg: &[u8]) -> bool {
        self.firstargs
            .get(&id)
            .is_some_and(|v| v.iter().any(|a| a.eq_ignore_ascii_case(arg)))
    }

    pub fn has_firstargs(&self, id: usize) -> bool {
        self.firstargs.contains_key(&id)
    }

    /// Applies one selector modifier (`ACLSetSelector`).
    pub fn apply(&mut self, op: &[u8]) -> Result<(), E> {
        let is = |w: &str| op.eq_ignore_ascii_case(w.as_bytes());
        if is("allkeys") || is("~*") {
            self.all_keys = true;
            self.patterns.clear();
        } else if is("resetkeys") {
            self.all_keys = false;
            self.patterns.clear();
        } else if is("allchannels") || is("&*") {
            self.all_channels = true;
            self.channels.clear();
        } else if is("resetchannels") {
            self.all_channels = false;
            self.channels.clear();
        } else if is("allcommands") || is("+@all") {
            self.bits.iter_mut().for_each(|w| *w = u64::MAX);
            self.all_commands = true;
            self.firstargs.clear();
        } else if is("nocommands") || is("-@all") {
            self.bits.iter_mut().for_each(|w| *w = 0);
            self.all_commands = false;
            self.firstargs.clear();
        } else if op[0] == b'~' || op[0] == b'%' {
            self.add_key_pattern(op)?;
        } else if op[0] == b'&' {
            if self.all_channels {
                return Err(E::ChannelAfterAll);
            }
            let pat = &op[1..];
            if has_spaces(pat) {
                return Err(E::Syntax);
            }
            if !self.channels.iter().any(|c| c[..] == *pat) {
                self.channels.push(Bytes::copy_from_slice(pat));
            }
            self.all_channels = false;
        } else if op[0] == b'+' && op.get(1) != Some(&b'@') {
            self.allow_command(&op[1..])?;
        } else if op[0] == b'-' && op.get(1) != Some(&b'@') {
            let id = lookup(&op[1..]).ok_or(E::UnknownCommand)?;
            self.change_perm(id, false);
        } else if (op[0] == b'+' || op[0] == b'-') && op.get(1) == Some(&b'@') {
            let flag = category(&op[2..]).ok_or(E::UnknownCommand)?;
            self.set_category(flag, op[0] == b'+');
        } else {
            return Err(E::Syntax);
        }
        Ok(())
    }

    fn add_key_pattern(&mut self, op: &[u8]) -> Result<(), E> {
        if self.all_keys {
            return Err(E::KeyAfterAll);
        }
        let mut flags = 0u8;
        let mut offset = 1;
        if op[0] == b'%' {
            while offset < op.len() {
                let c = op[offset];
                if c.eq_ignore_ascii_case(&b'r') && flags & READ == 0 {
                    flags |= READ;
                } else if c.eq_ignore_ascii_case(&b'w') && flags & WRITE == 0 {
                    flags |= WRITE;
                } else if c == b'~' {
                    offset += 1;
                    break;
                } else {
                    return Err(E::Syntax);
                }
                offset += 1;
            }
            if flags == 0 {
                return Err(E::Syntax);
            }
        } else {
            flags = ALL;
        }
        let pat = &op[offset.min(op.len())..];
        if has_spaces(pat) {
            return Err(E::Syntax);
        }
        match self.patterns.iter_mut().find(|(_, p)| p[..] == *pat) {
            Some((f, _)) => *f |= flags,
            None => self.patterns.push((flags, Bytes::copy_from_slice(pat))),
        }
        self.all_keys = false;
        Ok(())
    }

    fn allow_command(&mut self, name: &[u8]) -> Result<(), E> {
        let Some(bar) = name.iter().rposition(|&b| b == b'|') else {
            let id = lookup(name).ok_or(E::UnknownCommand)?;
            self.change_perm(id, true);
            return Ok(());
        };
        let (base, sub) = (&name[..bar], &name[bar + 1..]);
        let id = lookup(base).ok_or(E::UnknownCommand)?;
        if table().parent[id].is_some() {
            return Err(E::FirstArgOfSubcommand);
        }
        if sub.is_empty() {
            return Err(E::Syntax);
        }
        if !table().rows[id].subcommands.is_empty() {
            let sid = lookup(name).ok_or(E::UnknownCommand)?;
            self.change_perm(sid, true);
        } else {
            tracing::warn!(
                "Deprecation warning: Allowing a first arg of an otherwise blocked command is a misuse of ACL and may get disabled in the future (offender: +{})",
                String::from_utf8_lossy(name)
            );
            let list = self.firstargs.entry(id).or_default();
            if !list.iter().any(|a| a.eq_ignore_ascii_case(sub)) {
                list.push(Bytes::copy_from_slice(sub));
            }
        }
        Ok(())
    }

    /// The command rules (`ACLDescribeSelectorCommandRules`): `+@all` or `-@all`, the
    /// categories that best approximate the bitmap, then single commands and first-args.
    pub fn describe_commands(&self) -> Vec<u8> {
        let future = self.bit(future_bit());
        let additive = !future;
        let mut rules: Vec<u8> = Vec::new();
        let mut fake = Selector::new(false, false);
        if future {
            rules.extend_from_slice(b"+@all ");
            let _ = fake.apply(b"+@all");
        } else {
            rules.extend_from_slice(b"-@all ");
        }
        let mut temp = Selector::new(false, false);
        temp.bits = self.bits.clone();
        let cats = cmd::acl::NAMES;
        let mut applied = vec![false; cats.len()];
        loop {
            let mut best = None;
            let (mut mindiff, mut maxsame) = (i32::MAX as u64, 0u64);
            for (j, (flag, _)) in cats.iter().enumerate() {
                if applied[j] {
                    continue;
                }
                let (on, off) = temp.count_category(*flag);
                let (diff, same) = if additive { (off, on) } else { (on, off) };
                if same > diff && (diff < mindiff || (diff == mindiff && same > maxsame)) {
                    best = Some(j);
                    mindiff = diff;
                    maxsame = same;
                }
            }
            let Some(j) = best else { break };
            let (flag, name) = cats[j];
            fake.set_category(flag, additive);
            temp.set_category(flag, !additive);
            rules.push(if additive { b'+' } else { b'-' });
            rules.push(b'@');
            rules.extend_from_slice(name.as_bytes());
            rules.push(b' ');
            applied[j] = true;
        }
        let t = table();
        for id in 0..t.rows.len() {
            let userbit = self.bit(id);
            if userbit != fake.bit(id) {
                rules.push(if userbit { b'+' } else { b'-' });
                rules.extend_from_slice(t.fullnames[id].as_bytes());
                rules.push(b' ');
                fake.change_perm(id, userbit);
            }
            if !userbit {
                if let Some(args) = self.firstargs.get(&id) {
                    for a in args {
                        rules.push(b'+');
                        rules.extend_from_slice(t.fullnames[id].as_bytes());
                        rules.push(b'|');
                        rules.extend_from_slice(a);
                        rules.push(b' ');
                    }
                }
            }
        }
        rules.pop();
        rules
    }

    /// Key patterns as `ACL GETUSER` shows them (space separated).
    pub fn describe_keys(&self) -> Vec<u8> {
        if self.all_keys {
            return b"~*".to_vec();
        }
        let mut out = Vec::new();
        for (i, (f, p)) in self.patterns.iter().enumerate() {
            if i > 0 {
                out.push(b' ');
            }
            pattern_text(&mut out, *f, p);
        }
        out
    }

    /// Channel patterns as `ACL GETUSER` shows them.
    pub fn describe_channels(&self) -> Vec<u8> {
        if self.all_channels {
            return b"&*".to_vec();
        }
        let mut out = Vec::new();
        for (i, c) in self.channels.iter().enumerate() {
            if i > 0 {
                out.push(b' ');
            }
            out.push(b'&');
            out.extend_from_slice(c);
        }
        out
    }

    /// The selector in `ACL LIST` form (`ACLDescribeSelector`).
    pub fn describe(&self) -> Vec<u8> {
        let mut out = Vec::new();
        if self.all_keys {
            out.extend_from_slice(b"~* ");
        } else {
            for (f, p) in &self.patterns {
                pattern_text(&mut out, *f, p);
                out.push(b' ');
            }
        }
        if self.all_channels {
            out.extend_from_slice(b"&* ");
        } else {
            out.extend_from_slice(b"resetchannels ");
            for c in &self.channels {
                out.push(b'&');
                out.extend_from_slice(c);
                out.push(b' ');
            }
        }
        out.extend_from_slice(&self.describe_commands());
        out
    }
}

fn pattern_text(out: &mut Vec<u8>, flags: u8, pat: &[u8]) {
    out.extend_from_slice(match flags {
        READ => b"%R~",
        WRITE => b"%W~",
        _ => b"~",
    });
    out.extend_from_slice(pat);
}

/// A user's rules: flags, password hashes, selectors (root first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules {
    pub flags: u8,
    pub passwords: Vec<Bytes>,
    pub selectors: Vec<Selector>,
}

impl Rules {
    /// A new user: off, no password, no permissions (`ACLCreateUser`).
    pub fn new(pubsub_all: bool) -> Rules {
        Rules {
            flags: uflags::DISABLED,
            passwords: Vec::new(),
            selectors: vec![Selector::new(true, pubsub_all)],
        }
    }

    /// The default user: `on nopass ~* &* +@all`.
    pub fn default_user(pubsub_all: bool) -> Rules {
        let mut r = Rules::new(pubsub_all);
        for op in ["+@all", "~*", "&*", "on", "nopass"] {
            let _ = r.apply(op.as_bytes(), pubsub_all);
        }
        r
    }

    pub fn root(&self) -> &Selector {
        &self.selectors[0]
    }

    /// Everything allowed on any key and channel: the permission check can be skipped.
    pub fn is_open(&self) -> bool {
        let r = self.root();
        r.all_commands && r.all_keys && r.all_channels
    }

    pub fn enabled(&self) -> bool {
        self.flags & uflags::DISABLED == 0
    }

    pub fn nopass(&self) -> bool {
        self.flags & uflags::NOPASS != 0
    }

    /// Whether `pass` is one of the passwords (or the user needs none).
    pub fn password_ok(&self, pass: &[u8]) -> bool {
        if self.nopass() {
            return true;
        }
        let h = hash_password(pass);
        let mut ok = false;
        for p in &self.passwords {
            // Every hash is compared in full, so the time says nothing about the match.
            let diff = p.iter().zip(h.iter()).fold(0u8, |d, (a, b)| d | (a ^ b));
            ok |= diff == 0 && p.len() == h.len();
        }
        ok
    }

    /// Applies one user modifier (`ACLSetUser`).
    pub fn apply(&mut self, op: &[u8], pubsub_all: bool) -> Result<(), E> {
        if op.is_empty() {
            return Ok(());
        }
        let is = |w: &str| op.eq_ignore_ascii_case(w.as_bytes());
        use uflags::*;
        if is("on") {
            self.flags = (self.flags | ENABLED) & !DISABLED;
        } else if is("off") {
            self.flags = (self.flags | DISABLED) & !ENABLED;
        } else if is("skip-sanitize-payload") {
            self.flags = (self.flags | SKIP_SANITIZE) & !SANITIZE;
        } else if is("sanitize-payload") {
            self.flags = (self.flags | SANITIZE) & !SKIP_SANITIZE;
        } else if is("nopass") {
            self.flags |= NOPASS;
            self.passwords.clear();
        } else if is("resetpass") {
            self.flags &= !NOPASS;
            self.passwords.clear();
        } else if op[0] == b'>' || op[0] == b'#' {
            let hash = if op[0] == b'>' {
                hash_password(&op[1..])
            } else if valid_hash(&op[1..]) {
                Bytes::copy_from_slice(&op[1..])
            } else {
                return Err(E::BadHash);
            };
            if !self.passwords.contains(&hash) {
                self.passwords.push(hash);
            }
            self.flags &= !NOPASS;
        } else if op[0] == b'<' || op[0] == b'!' {
            let hash = if op[0] == b'<' {
                hash_password(&op[1..])
            } else if valid_hash(&op[1..]) {
                Bytes::copy_from_slice(&op[1..])
            } else {
                return Err(E::BadHash);
            };
            let pos = self
                .passwords
                .iter()
                .position(|p| *p == hash)
                .ok_or(E::NoSuchPassword)?;
            self.passwords.remove(pos);
        } else if op[0] == b'(' && op[op.len() - 1] == b')' {
            let mut s = Selector::new(false, pubsub_all);
            let inner = &op[1..op.len() - 1];
            for part in inner
                .split(|&c| c.is_ascii_whitespace())
                .filter(|p| !p.is_empty())
            {
                s.apply(part)?;
            }
            self.selectors.push(s);
        } else if is("clearselectors") {
            self.selectors.truncate(1);
        } else if is("reset") {
            for op in ["resetpass", "resetkeys", "resetchannels"] {
                self.apply(op.as_bytes(), pubsub_all)?;
            }
            if pubsub_all {
                self.apply(b"allchannels", pubsub_all)?;
            }
            for op in ["off", "sanitize-payload", "clearselectors", "-@all"] {
                self.apply(op.as_bytes(), pubsub_all)?;
            }
        } else {
            self.selectors[0].apply(op)?;
        }
        Ok(())
    }

    /// The rules in `ACL LIST` / ACL file form, after `user <name> ` (`ACLDescribeUser`).
    pub fn describe(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for (f, name) in uflags::NAMES {
            if self.flags & f != 0 {
                out.extend_from_slice(name.as_bytes());
                out.push(b' ');
            }
        }
        for p in &self.passwords {
            out.push(b'#');
            out.extend_from_slice(p);
            out.push(b' ');
        }
        for s in &self.selectors {
            if s.root {
                out.extend_from_slice(&s.describe());
            } else {
                out.extend_from_slice(b" (");
                out.extend_from_slice(&s.describe());
                out.push(b')');
            }
        }
        out
    }
}

/// Joins selector arguments spread over several arguments (`(+get ~a*)` given as two):
/// Err(index of the opening argument) when a parenthesis is left open
/// (`ACLMergeSelectorArguments`).
pub fn merge_selector_args(args: &[&[u8]]) -> Result<Vec<Vec<u8>>, usize> {
    let mut out = Vec::new();
    let mut open: Option<(usize, Vec<u8>)> = None;
    for (j, op) in args.iter().enumerate() {
        if op.first() == Some(&b'(') && op.last() != Some(&b')') {
            open = Some((j, op.to_vec()));
            continue;
        }
        if let Some((_, sel)) = open.as_mut() {
            sel.push(b' ');
            sel.extend_from_slice(op);
            if op.last() == Some(&b')') {
                if let Some((_, sel)) = open.take() {
                    out.push(sel);
                }
            }
            continue;
        }
        out.push(op.to_vec());
    }
    match open {
        Some((j, _)) => Err(j),
        None => Ok(out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(ops: &[&str]) -> Result<Rules, E> {
        let mut r = Rules::new(false);
        for op in ops {
            r.apply(op.as_bytes(), false)?;
        }
        Ok(r)
    }

    fn text(r: &Rules) -> String {
        String::from_utf8(r.describe()).unwrap()
    }

    #[test]
    fn describes_like_redis() {
        assert_eq!(text(&user(&[]).unwrap()), "off resetchannels -@all");
        assert_eq!(text(&Rules::default_user(false)), "on nopass ~* &* +@all");
        let r = user(&[
            "on",
            "~a*",
            "%R~r*",
            "%W~w*",
            "%RW~x",
            "&ch*",
            "+@hash",
            "-hget",
            "(+set ~s*)",
        ])
        .unwrap();
        assert_eq!(
            text(&r),
            "on ~a* %R~r* %W~w* ~x resetchannels &ch* -@all +@hash -hget (~s* resetchannels -@all +set)"
        );
        let r = user(&["+config|get", "+select|0"]).unwrap();
        assert_eq!(text(&r), "off resetchannels -@all +config|get +select|0");
        let r = user(&["+@all", "-flushall"]).unwrap();
        assert_eq!(text(&r), "off resetchannels +@all -flushall");
        let r = user(&["%R"]).unwrap();
        assert_eq!(text(&r), "off %R~ resetchannels -@all");
        let r = user(&["reset"]).unwrap();
        assert_eq!(text(&r), "off sanitize-payload resetchannels -@all");
    }

    #[test]
    fn rule_errors() {
        assert_eq!(user(&["%X~a"]), Err(E::Syntax));
        assert_eq!(user(&["%~a"]), Err(E::Syntax));
        assert_eq!(user(&["%"]), Err(E::Syntax));
        assert_eq!(user(&["%RR~a"]), Err(E::Syntax));
        assert_eq!(user(&["~*", "~a"]), Err(E::KeyAfterAll));
        assert_eq!(user(&["allchannels", "&a"]), Err(E::ChannelAfterAll));
        assert_eq!(user(&["+nosuch"]), Err(E::UnknownCommand));
        assert_eq!(user(&["+@nosuch"]), Err(E::UnknownCommand));
        assert_eq!(user(&["+config|nosuch"]), Err(E::UnknownCommand));
        assert_eq!(user(&["+config|"]), Err(E::Syntax));
        assert_eq!(user(&["+config|get|x"]), Err(E::FirstArgOfSubcommand));
        assert_eq!(user(&["-select|0"]), Err(E::UnknownCommand));
        assert_eq!(user(&["<nopw"]), Err(E::NoSuchPassword));
        assert_eq!(user(&["#abc"]), Err(E::BadHash));
        assert_eq!(user(&["!abc"]), Err(E::BadHash));
        assert_eq!(user(&["foo"]), Err(E::Syntax));
        assert_eq!(user(&["~a b"]), Err(E::Syntax));
    }

    #[test]
    fn passwords() {
        let r = user(&[">p1", ">p2", ">p1"]).unwrap();
        assert_eq!(r.passwords.len(), 2);
        assert_eq!(
            &r.passwords[0][..],
            b"f64551fcd6f07823cb87971cfb91446425da18286b3ab1ef935e0cbd7a69f68a"
        );
        assert!(r.password_ok(b"p2") && !r.password_ok(b"p3"));
        let r = user(&[">p1", "nopass"]).unwrap();
        assert!(r.passwords.is_empty() && r.password_ok(b"anything"));
        let r = user(&["nopass", ">x", "<x"]).unwrap();
        assert!(!r.nopass() && !r.password_ok(b"x"));
    }

    #[test]
    fn merges_selectors() {
        let args: Vec<&[u8]> = vec![b"on", b"(+get", b"~a)", b"(~b)"];
        assert_eq!(
            merge_selector_args(&args).unwrap(),
            vec![b"on".to_vec(), b"(+get ~a)".to_vec(), b"(~b)".to_vec()]
        );
        let args: Vec<&[u8]> = vec![b"on", b"(+get"];
        assert_eq!(merge_selector_args(&args), Err(1));
    }

    mod roundtrip {
        use super::*;
        use proptest::prelude::*;

        fn op() -> impl Strategy<Value = String> {
            let cmds = prop::sample::select(vec![
                "get",
                "set",
                "hget",
                "config",
                "config|get",
                "client|id",
                "flushall",
                "del",
                "publish",
                "select|0",
                "@read",
                "@write",
                "@hash",
                "@string",
                "@admin",
                "@dangerous",
                "@fast",
                "@slow",
                "@keyspace",
                "@pubsub",
            ]);
            let pat = "[a-z]{0,3}\\*?";
            prop_oneof![
                (any::<bool>(), cmds).prop_map(|(plus, c)| {
                    // First-args can only be added.
                    let plus = plus || c == "select|0";
                    format!("{}{c}", if plus { '+' } else { '-' })
                }),
                Just("+@all".to_string()),
                Just("-@all".to_string()),
                Just("allkeys".to_string()),
                Just("resetkeys".to_string()),
                Just("allchannels".to_string()),
                Just("resetchannels".to_string()),
                pat.prop_map(|p| format!("~{p}x")),
                (prop::sample::select(vec!["R", "W", "RW"]), pat)
                    .prop_map(|(f, p)| format!("%{f}~{p}x")),
                pat.prop_map(|p| format!("&{p}")),
                "[a-z]{1,4}".prop_map(|p| format!(">{p}")),
                Just("on".to_string()),
                Just("off".to_string()),
                Just("nopass".to_string()),
                Just("reset".to_string()),
                Just("sanitize-payload".to_string()),
                Just("skip-sanitize-payload".to_string()),
                Just("(+get ~s*)".to_string()),
                Just("(-@all +@hash &c)".to_string()),
                Just("clearselectors".to_string()),
            ]
        }

        proptest! {
            /// Whatever modifiers built a user, parsing its description gives the same rules.
            #[test]
            fn describe_round_trips(ops in prop::collection::vec(op(), 0..14)) {
                let mut r = Rules::new(false);
                for o in &ops {
                    let _ = r.apply(o.as_bytes(), false);
                }
                let text = r.describe();
                let parts: Vec<&[u8]> = text.split(|&c| c == b' ').collect();
                let merged = merge_selector_args(&parts).unwrap();
                let mut back = Rules::new(false);
                for o in &merged {
                    back.apply(o, false).unwrap();
                }
                // all_commands is a cache of "every bit set by +@all and none cleared since",
                // and first-args of an allowed command do nothing (Redis drops them too).
                let mut r = r.clone();
                for (a, b) in back.selectors.iter_mut().zip(r.selectors.iter_mut()) {
                    a.all_commands = b.all_commands;
                    let bits = b.bits.clone();
                    b.firstargs.retain(|id, _| bits[id / 64] & (1u64 << (id % 64)) == 0);
                }
                prop_assert_eq!(&back, &r, "{}", String::from_utf8_lossy(&text));
            }
        }
    }
}

//! The ACL file (`aclfile`: loaded at start and by ACL LOAD, written by ACL SAVE) and the
//! `user` lines of redis.conf, in Redis 7.0's format and with its error texts.

use std::collections::BTreeMap;

use bytes::Bytes;

use super::rules::{has_spaces, merge_selector_args, Rules};
use crate::error::AclRuleError;

fn strerror(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error ") {
        Some(cut) => text[..cut].to_string(),
        None => text,
    }
}

fn trim(mut s: &[u8], set: &[u8]) -> Vec<u8> {
    while let [first, rest @ ..] = s {
        if !set.contains(first) {
            break;
        }
        s = rest;
    }
    while let [rest @ .., last] = s {
        if !set.contains(last) {
            break;
        }
        s = rest;
    }
    s.to_vec()
}

/// Parses an ACL file. On any error nothing is returned but the text of every error, one
/// after the other, as `ACLLoadFromFile` builds it; `shown` is the path as configured.
pub fn load(path: &str, pubsub_all: bool) -> Result<BTreeMap<Bytes, Rules>, String> {
    let text = std::fs::read(path).map_err(|e| {
        format!(
            "Error loading ACLs, opening file '{path}': {}",
            strerror(&e)
        )
    })?;
    parse(&text, path, pubsub_all)
}

/// [`load`] on the file's bytes.
pub fn parse(text: &[u8], shown: &str, pubsub_all: bool) -> Result<BTreeMap<Bytes, Rules>, String> {
    let mut users: BTreeMap<Bytes, Rules> = BTreeMap::new();
    let mut errors = String::new();
    for (i, raw) in text.split(|&b| b == b'\n').enumerate() {
        let n = i + 1;
        let line = trim(raw, b" \t\r\n");
        if line.is_empty() {
            continue;
        }
        let argv: Vec<&[u8]> = line.split(|&b| b == b' ').collect();
        if argv[0] != b"user" || argv.len() < 2 {
            errors.push_str(&format!(
                "{shown}:{n} should start with user keyword followed by the username. "
            ));
            continue;
        }
        let name = argv[1];
        if has_spaces(name) {
            errors.push_str(&format!(
                "'{shown}:{n}: username '{}' contains invalid characters. ",
                String::from_utf8_lossy(name)
            ));
            continue;
        }
        if users.contains_key(name) {
            errors.push_str(&format!(
                "WARNING: Duplicate user '{}' found on line {n}. ",
                String::from_utf8_lossy(name)
            ));
            continue;
        }
        let mut rules = Rules::new(pubsub_all);
        let ops = match merge_selector_args(&argv[2..]) {
            Ok(ops) => ops,
            Err(_) => {
                errors.push_str(&format!(
                    "{shown}:{n}: Unmatched parenthesis in selector definition."
                ));
                Vec::new()
            }
        };
        for op in ops {
            let op = trim(&op, b"\t\r\n");
            if let Err(e) = rules.apply(&op, pubsub_all) {
                if e == AclRuleError::UnknownCommand {
                    errors.push_str(&format!(
                        "{shown}:{n}: Error in applying operation '{}': {e}. ",
                        String::from_utf8_lossy(&op)
                    ));
                } else {
                    errors.push_str(&format!("{shown}:{n}: {e}. "));
                }
            }
        }
        users.insert(Bytes::copy_from_slice(name), rules);
    }
    if errors.is_empty() {
        Ok(users)
    } else {
        errors.push_str(crate::error::acl::FILE_REFUSED);
        Err(errors)
    }
}

/// The file ACL SAVE writes: one `user <name> <rules>` line per user, by name.
pub fn render(users: &[std::sync::Arc<super::User>]) -> Vec<u8> {
    let mut out = Vec::new();
    for u in users {
        out.extend_from_slice(&u.line());
        out.push(b'\n');
    }
    out
}

/// Writes the ACL file through a temporary file renamed over it.
pub fn save(path: &str, users: &[std::sync::Arc<super::User>]) -> std::io::Result<()> {
    let tmp = format!(
        "{path}.tmp-{}-{}",
        std::process::id(),
        crate::server::unix_ms()
    );
    let res = std::fs::write(&tmp, render(users)).and_then(|_| std::fs::rename(&tmp, path));
    if res.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    res
}

/// Checks a redis.conf `user` line (`args`: name, then rules) as `ACLAppendUserForLoading`
/// does: commands unknown now are accepted (reported when the users are loaded). `seen` holds
/// the names of the earlier lines. The error text is the one redis-server prints.
pub fn check_config_user(
    args: &[&[u8]],
    seen: &[Vec<Vec<u8>>],
    pubsub_all: bool,
) -> Result<(), String> {
    // Redis names the argument at the failing rule's index, counted from the "user" keyword
    // (so usually the user name): kept for identical messages.
    let shown = |j: usize| -> String {
        let all: Vec<&[u8]> = std::iter::once(&b"user"[..])
            .chain(args.iter().copied())
            .collect();
        String::from_utf8_lossy(all.get(j).copied().unwrap_or(b"")).into_owned()
    };
    let fail =
        |j: usize, e: AclRuleError| Err(format!("Error in user declaration '{}': {e}", shown(j)));
    if seen
        .iter()
        .any(|u| u.first().map(Vec::as_slice) == Some(args[0]))
    {
        return fail(1, AclRuleError::Duplicate);
    }
    let ops = match merge_selector_args(&args[1..]) {
        Ok(ops) => ops,
        // Redis reports a stale reason here; the unknown-command text is what 7.0.15 prints.
        Err(j) => return fail(j, AclRuleError::UnknownCommand),
    };
    let mut fake = Rules::new(pubsub_all);
    for (j, op) in ops.iter().enumerate() {
        match fake.apply(op, pubsub_all) {
            Ok(()) | Err(AclRuleError::UnknownCommand) => {}
            Err(e) => return fail(j, e),
        }
    }
    Ok(())
}

/// Builds the users of redis.conf `user` lines (each: name, then rules), after the checks of
/// [`check_config_user`]. Err is the log line Redis prints before exiting.
pub fn config_users(
    lines: &[Vec<Vec<u8>>],
    default: &Rules,
    pubsub_all: bool,
) -> Result<BTreeMap<Bytes, Rules>, String> {
    let mut users = BTreeMap::new();
    for line in lines {
        let Some((name, ops)) = line.split_first() else {
            continue;
        };
        if has_spaces(name) {
            return Err("Spaces not allowed in ACL usernames".into());
        }
        let mut rules = if &name[..] == b"default" {
            let mut d = default.clone();
            let _ = d.apply(b"reset", pubsub_all);
            d
        } else {
            Rules::new(pubsub_all)
        };
        let refs: Vec<&[u8]> = ops.iter().map(Vec::as_slice).collect();
        let merged = merge_selector_args(&refs).unwrap_or_default();
        for op in merged {
            if let Err(e) = rules.apply(&op, pubsub_all) {
                return Err(format!(
                    "Error loading ACL rule '{}' for the user named '{}': {e}",
                    String::from_utf8_lossy(&op),
                    String::from_utf8_lossy(name)
                ));
            }
        }
        users.insert(Bytes::copy_from_slice(name), rules);
    }
    Ok(users)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guide_file_loads() {
        let text = b"user app_user on >AppPassword123! ~session:* ~patient:* +get +set +hget +hset +expire +ttl\nuser dev_user on >DevPassword123! ~* +get +hget +keys +info +cluster\nuser admin_user on >AdminPassword123! ~* +@all\nuser default off\n";
        let users = parse(text, "users.acl", false).unwrap();
        assert_eq!(users.len(), 4);
        let d = &users[&b"default"[..]];
        assert!(!d.enabled());
        assert!(users[&b"app_user"[..]].password_ok(b"AppPassword123!"));
    }

    #[test]
    fn file_errors_like_redis() {
        let text = b"user alice on\nuser bob badop\n# comment\nfoo\nuser alice\nuser c (+get\nuser d +nosuch\n";
        let err = parse(text, "/x/bad.acl", false).unwrap_err();
        assert_eq!(
            err,
            "/x/bad.acl:2: Syntax error. /x/bad.acl:3 should start with user keyword followed by the username. /x/bad.acl:4 should start with user keyword followed by the username. WARNING: Duplicate user 'alice' found on line 5. /x/bad.acl:6: Unmatched parenthesis in selector definition./x/bad.acl:7: Error in applying operation '+nosuch': Unknown command or category name in ACL. WARNING: ACL errors detected, no change to the previously active ACL rules was performed"
        );
    }

    #[test]
    fn config_user_lines() {
        let l = |s: &str| {
            s.split(' ')
                .map(|p| p.as_bytes().to_vec())
                .collect::<Vec<_>>()
        };
        let refs = |v: &Vec<Vec<u8>>| v.iter().map(|x| x.to_vec()).collect::<Vec<_>>();
        let a = l("alice on badop");
        let args: Vec<&[u8]> = a.iter().map(Vec::as_slice).collect();
        assert_eq!(
            check_config_user(&args, &[], false).unwrap_err(),
            "Error in user declaration 'alice': Syntax error"
        );
        let a = l("alice on +nosuch");
        let args: Vec<&[u8]> = a.iter().map(Vec::as_slice).collect();
        assert!(check_config_user(&args, &[], false).is_ok());
        assert_eq!(
            check_config_user(&args, &[refs(&a)], false).unwrap_err(),
            "Error in user declaration 'alice': Duplicate user found. A user can only be defined once in config files"
        );
        let err = config_users(&[a], &Rules::default_user(false), false).unwrap_err();
        assert_eq!(
            err,
            "Error loading ACL rule '+nosuch' for the user named 'alice': Unknown command or category name in ACL"
        );
    }
}

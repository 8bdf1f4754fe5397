//! ACLs for a deployment: three users with generated passwords (64 hex digits, 256 bits
//! from the OS's generator) and the `default` user off. The passwords live in one 0600
//! file in the data directory; the ACL file the nodes load holds only their SHA-256 hashes.
//!
//! - `admin`: everything (the tool itself uses it to create and check the cluster).
//! - `replication`: what a replica needs from its primary (`masteruser`/`masterauth`).
//! - `app`: every key and channel, no admin or dangerous commands.

use std::fs;
use std::path::Path;

use rand::RngCore;
use serde::{Deserialize, Serialize};

use crate::files::write_private;

/// The generated passwords.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Secrets {
    pub admin: String,
    pub replication: String,
    pub app: String,
}

pub const ADMIN_USER: &str = "admin";
pub const REPLICATION_USER: &str = "replication";
pub const APP_USER: &str = "app";

fn password() -> String {
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl Secrets {
    /// The passwords in `path`, generated and saved (0600) on first use.
    pub fn load_or_create(path: &Path) -> Result<Secrets, String> {
        if let Ok(text) = fs::read_to_string(path) {
            return toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()));
        }
        let s = Secrets {
            admin: password(),
            replication: password(),
            app: password(),
        };
        let text = toml::to_string(&s).map_err(|e| e.to_string())?;
        if let Some(parent) = path.parent() {
            crate::files::private_dir(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
        }
        write_private(path, text.as_bytes()).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(s)
    }

    /// The ACL file (no comments: Redis's ACL file format has none).
    pub fn acl_file(&self) -> String {
        format!(
            "user default off nopass resetchannels -@all\n\
             user {ADMIN_USER} on #{} ~* &* +@all\n\
             user {REPLICATION_USER} on #{} resetchannels -@all +psync +replconf +ping\n\
             user {APP_USER} on #{} ~* &* +@all -@admin -@dangerous\n",
            sha256_hex(&self.admin),
            sha256_hex(&self.replication),
            sha256_hex(&self.app)
        )
    }
}

fn sha256_hex(s: &str) -> String {
    ring::digest::digest(&ring::digest::SHA256, s.as_bytes())
        .as_ref()
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::test_dir;

    #[test]
    fn passwords_are_strong_kept_and_hashed() {
        let dir = test_dir("acl");
        let p = dir.join("passwords.toml");
        let s = Secrets::load_or_create(&p).expect("create");
        for pw in [&s.admin, &s.replication, &s.app] {
            assert_eq!(pw.len(), 64);
            assert!(pw.bytes().all(|b| b.is_ascii_hexdigit()));
        }
        assert_ne!(s.admin, s.app);
        assert_eq!(Secrets::load_or_create(&p).expect("load"), s);
        let acl = s.acl_file();
        assert!(!acl.contains(&s.admin), "plain password in the ACL file");
        assert!(acl.contains(&sha256_hex(&s.admin)));
        assert!(acl.lines().all(|l| l.starts_with("user ")));
        assert_eq!(
            sha256_hex("foo"),
            "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"
        );
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(&p).map(|m| m.permissions().mode() & 0o777);
        assert_eq!(mode.ok(), Some(0o600));
        let _ = fs::remove_dir_all(&dir);
    }
}

//! ferrodis-provision: from nothing to a healthy cluster, from one description.
//!
//! # Layout
//!
//! In the order `up` uses them:
//!
//! - [`spec`]: the deployment description (TOML over the `ha` / `secure` presets).
//! - [`placement`]: node roles, zones (replicas away from their primary) and slot ranges.
//! - [`render`]: each node's config file in redis.conf format, one renderer for all targets.
//! - [`pki`]: CA and certificates (rcgen); [`acl`]: generated passwords and the ACL file.
//! - [`deploy`]: state file, node files, `plan`/`up`/`status`/`down` over a [`deploy::Target`].
//! - [`targets`]: `local`, `netns` and, with the `ec2` feature, `ec2` (AWS SDK, ssh);
//!   [`proc`]: processes by pid file.
//! - [`cluster`]: cluster creation and checks over RESP ([`resp`]: the small client).
//! - [`files`]: writing files (0600 secrets, atomic renames).
#![forbid(unsafe_code)]

pub mod acl;
pub mod cluster;
pub mod deploy;
pub mod files;
pub mod pki;
pub mod placement;
pub mod proc;
pub mod render;
pub mod resp;
pub mod spec;
pub mod targets;

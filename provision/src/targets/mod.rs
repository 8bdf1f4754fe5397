//! The places a deployment runs: [`local`] (processes on 127.0.0.1) and [`netns`]
//! (network namespaces on a bridge, bootstrapped like EC2 hosts).

pub mod local;
pub mod netns;

use crate::deploy::{Target, TargetKind};

/// The implementation of a target.
pub fn of(kind: TargetKind) -> Box<dyn Target> {
    match kind {
        TargetKind::Local => Box::new(local::Local),
        TargetKind::Netns => Box::new(netns::Netns),
    }
}

//! The places a deployment runs: [`local`] (processes on 127.0.0.1), [`netns`] (network
//! namespaces on a bridge, bootstrapped like EC2 hosts) and, with the `ec2` feature,
//! `ec2` (instances in a VPC of their own, set up over ssh).

#[cfg(feature = "ec2")]
pub mod ec2;
pub mod local;
pub mod netns;

use crate::deploy::{Target, TargetKind};

/// The implementation of a target.
pub fn of(kind: TargetKind) -> anyhow::Result<Box<dyn Target>> {
    match kind {
        TargetKind::Local => Ok(Box::new(local::Local)),
        TargetKind::Netns => Ok(Box::new(netns::Netns)),
        #[cfg(feature = "ec2")]
        TargetKind::Ec2 => Ok(Box::new(ec2::Ec2::new())),
        #[cfg(not(feature = "ec2"))]
        TargetKind::Ec2 => anyhow::bail!(
            "this ferrodis-provision was built without the ec2 target (it needs the AWS SDK, \
             a build of several minutes): cargo build -p ferrodis-provision --features ec2"
        ),
    }
}

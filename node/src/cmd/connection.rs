//! Commands of this group.

use super::Command;

pub static COMMANDS: &[Command] = &[];

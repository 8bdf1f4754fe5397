//! Commands of this group (being written).

use super::Command;

pub static COMMANDS: &[Command] = &[];

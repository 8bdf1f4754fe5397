//! HyperLogLog commands (Redis `hyperloglog.c`): the rows and their handlers.

use crate::cmd::Command;

pub static COMMANDS: &[Command] = &[];

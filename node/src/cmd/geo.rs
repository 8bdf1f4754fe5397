//! Geo commands on sorted sets (Redis `geo.c`): the rows and their handlers.

use crate::cmd::Command;

pub static COMMANDS: &[Command] = &[];

//! Sorted set commands (Redis `t_zset.c`): the rows and their handlers.

use crate::cmd::Command;

pub static COMMANDS: &[Command] = &[];

//! Set commands (Redis `t_set.c`): the rows and their handlers.

use crate::cmd::Command;

pub static COMMANDS: &[Command] = &[];

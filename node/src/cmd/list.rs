//! List commands, blocking ones included (Redis `t_list.c`): the rows and their handlers.

use crate::cmd::Command;

pub static COMMANDS: &[Command] = &[];

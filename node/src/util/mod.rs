//! Small pure helpers shared by command handlers.

pub mod glob;
pub mod num;

//! Small pure helpers shared by command handlers.

pub mod digest;
pub mod glob;
pub mod num;

//! Data-structure code for each value type, apart from the commands that use it.

pub mod bits;
pub mod lcs;
pub mod strings;

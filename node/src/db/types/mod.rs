//! Data-structure code for each value type, apart from the commands that use it.

pub mod bits;
pub mod dict;
pub mod geo;
pub mod hash;
pub mod hll;
pub mod lcs;
pub mod list;
pub mod set;
pub mod stream;
pub mod strings;
pub mod zset;

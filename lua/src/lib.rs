//! ferrodis-lua: the Lua 5.1 interpreter behind EVAL, EVALSHA and FCALL.
//!
//! Redis embeds the C Lua 5.1; ferrodis has its own, in Rust, with the same language, the same
//! libraries a script can reach in Redis 7.0 and the same error texts. It does no I/O: a
//! script reaches the server only through the [`host::Host`] it runs with.
//!
//! # Layout
//!
//! In the order a script travels:
//!
//! - [`lex`], [`parse`]: source text to the syntax tree of [`ast`], names resolved to local
//!   slots, upvalues or globals; errors as Lua's (`user_script:1: '=' expected near 'x'`).
//! - [`interp`]: runs a tree ([`State`], closures, calls, metatables, `pcall`).
//! - [`value`]: values, tables, functions; [`error`]: errors and argument checks;
//!   [`number`]: numbers to text and back, as Lua's `%.14g` and `lua_str2number`.
//! - The libraries a script sees: [`base`], [`tablelib`], [`stringlib`] (with [`pattern`]),
//!   [`mathlib`], [`bitlib`], [`cjson`], [`cmsgpack`], [`structlib`], and [`redislib`] (the
//!   `redis` table: `redis.call` and friends, replies to Lua values and back), and [`fnlib`]
//!   (what a function library's code sees at FUNCTION LOAD: `redis.register_function`).
//! - [`host`]: what the server provides to a running script ([`host::Host`], [`host::Reply`]).
#![forbid(unsafe_code)]

pub mod ast;
pub mod base;
pub mod bitlib;
pub mod cjson;
pub mod cmsgpack;
pub mod error;
pub mod fnlib;
pub mod host;
pub mod interp;
pub mod lex;
pub mod mathlib;
pub mod number;
pub mod parse;
pub mod pattern;
pub mod redislib;
pub mod stringlib;
pub mod structlib;
pub mod tablelib;
#[cfg(test)]
mod test_util;
pub mod value;

pub use error::LuaError;
pub use interp::{Chunk, Lua, State};
pub use value::{FuncRef, Function, Table, TableRef, Value};

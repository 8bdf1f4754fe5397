//! RESP2/RESP3: the only module that knows about `\r\n`.
//!
//! - [`parse_command`] turns buffered request bytes (multibulk or inline) into arguments.
//! - [`ReplyWriter`] encodes replies straight into a connection's output buffer; every
//!   difference between RESP2 and RESP3 is decided there.
//! - [`read_reply`] reads back a reply the server wrote (for a script's `redis.call`).

mod decode;
mod encode;
mod reply;

pub use decode::{parse_command, split_inline_args, Limits, ProtocolError, INLINE_MAX};
pub use encode::{encode_command, Protocol, ReplyWriter};
pub use reply::read_reply;

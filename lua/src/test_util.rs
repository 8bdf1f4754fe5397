//! Helpers shared by the crate's unit tests: values and tables built in one line.

use crate::host::{Host, Reply};
use crate::value::{Table, TableRef, Value};

pub fn s(x: &str) -> Value {
    Value::str(x.as_bytes())
}

pub fn n(x: f64) -> Value {
    Value::Num(x)
}

/// A table of these pairs.
pub fn table(items: Vec<(Value, Value)>) -> Value {
    let mut t = Table::new();
    for (k, v) in items {
        t.set(k, v).expect("a valid key");
    }
    Value::Table(TableRef::new(t))
}

/// A table of these values at 1..=n.
pub fn arr(items: Vec<Value>) -> Value {
    table(
        items
            .into_iter()
            .enumerate()
            .map(|(i, v)| (n(i as f64 + 1.0), v))
            .collect(),
    )
}

/// A host for scripts that call no Redis command.
pub struct QuietHost;

impl Host for QuietHost {
    fn call(&mut self, _args: Vec<Vec<u8>>, _resp: u8) -> Reply {
        Reply::NilBulk
    }

    fn log(&mut self, _level: i64, _msg: &[u8]) {}
}

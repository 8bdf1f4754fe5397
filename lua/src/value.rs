//! Lua values, tables and functions: the contract every other module of the crate works with.
//!
//! Values live on one thread (`Rc`): a [`crate::Lua`] state is made per thread and never sent.
//! Compiled chunks ([`crate::Chunk`]) are `Send + Sync` and shared between threads.

use std::cell::RefCell;
use std::hash::{Hash, Hasher};
use std::rc::Rc;

use crate::error::LuaError;
use crate::interp::State;

/// A Lua string: bytes, not UTF-8.
pub type LStr = Rc<[u8]>;

/// What a native function returns: its results, or an error raised.
pub type Ret = Result<Vec<Value>, LuaError>;

/// A function written in Rust. Gets the calling state and its arguments.
pub type NativeFn = fn(&mut State<'_>, Vec<Value>) -> Ret;

/// One Lua value.
#[derive(Clone, Default)]
pub enum Value {
    #[default]
    Nil,
    Bool(bool),
    /// Lua 5.1 has one number type: a double.
    Num(f64),
    Str(LStr),
    Table(TableRef),
    Func(FuncRef),
}

impl Value {
    pub fn str(bytes: &[u8]) -> Value {
        Value::Str(Rc::from(bytes))
    }

    /// Lua's truth: everything but nil and false.
    pub fn truthy(&self) -> bool {
        !matches!(self, Value::Nil | Value::Bool(false))
    }

    pub fn is_nil(&self) -> bool {
        matches!(self, Value::Nil)
    }

    /// The name `type()` gives.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Nil => "nil",
            Value::Bool(_) => "boolean",
            Value::Num(_) => "number",
            Value::Str(_) => "string",
            Value::Table(_) => "table",
            Value::Func(_) => "function",
        }
    }

    /// A number, or a string that reads as one (Lua's arithmetic coercion).
    pub fn to_number(&self) -> Option<f64> {
        match self {
            Value::Num(n) => Some(*n),
            Value::Str(s) => crate::number::parse(s),
            _ => None,
        }
    }

    /// A string, or a number written as `tostring` writes it (Lua's concatenation coercion).
    pub fn to_lstr(&self) -> Option<LStr> {
        match self {
            Value::Str(s) => Some(s.clone()),
            Value::Num(n) => Some(Rc::from(crate::number::format(*n).as_slice())),
            _ => None,
        }
    }

    /// Raw equality (`rawequal`, and `==` without metamethods): tables and functions by
    /// identity.
    pub fn raw_eq(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Nil, Value::Nil) => true,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Num(a), Value::Num(b)) => a == b,
            (Value::Str(a), Value::Str(b)) => a == b,
            (Value::Table(a), Value::Table(b)) => Rc::ptr_eq(&a.0, &b.0),
            (Value::Func(a), Value::Func(b)) => Rc::ptr_eq(&a.0, &b.0),
            _ => false,
        }
    }
}

impl std::fmt::Debug for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Nil => write!(f, "nil"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Num(n) => write!(f, "{n}"),
            Value::Str(s) => write!(f, "{:?}", String::from_utf8_lossy(s)),
            Value::Table(t) => write!(f, "table: {:p}", Rc::as_ptr(&t.0)),
            Value::Func(x) => write!(f, "function: {:p}", Rc::as_ptr(&x.0)),
        }
    }
}

/// A shared table, compared and hashed by identity.
#[derive(Clone)]
pub struct TableRef(pub Rc<RefCell<Table>>);

impl TableRef {
    /// A new array table of `items`, as strings.
    pub fn strings<T: AsRef<[u8]>>(items: &[T]) -> TableRef {
        TableRef::new(Table::from_array(
            items.iter().map(|v| Value::str(v.as_ref())).collect(),
        ))
    }

    /// Makes this table the array of `items` (as strings) if no more than `holders`
    /// references hold it and it is still a plain array (see [`Table::is_plain_array`]):
    /// a run reuses the argument tables of the one before instead of making new ones.
    /// False, with nothing changed, otherwise.
    pub fn refill_strings<T: AsRef<[u8]>>(&self, holders: usize, items: &[T]) -> bool {
        if Rc::strong_count(&self.0) > holders {
            return false;
        }
        let Ok(mut t) = self.0.try_borrow_mut() else {
            return false;
        };
        if !t.is_plain_array() {
            return false;
        }
        t.arr.clear();
        t.arr.extend(items.iter().map(|v| Value::str(v.as_ref())));
        true
    }

    /// Records a table made by an earlier run (a refilled one) with the running script's
    /// arena when more than `holders` references hold it once the run is over: something
    /// the run made may hold it, in a cycle the arena must break (`KEYS[1] = KEYS`). The
    /// arena then empties it, unless what it keeps reaches it.
    pub fn track_if_shared(&self, holders: usize) {
        if Rc::strong_count(&self.0) > holders {
            self.track();
        }
    }

    pub fn new(table: Table) -> TableRef {
        let t = TableRef(Rc::new(RefCell::new(table)));
        t.track();
        t
    }

    /// Records this table with the running script's arena, if one is running.
    fn track(&self) {
        ARENA.with(|a| {
            if let Some(a) = a.borrow_mut().as_mut() {
                a.tables.push(Rc::downgrade(&self.0));
                a.compact();
            }
        });
    }
}

/// A captured variable's box, shared by the closures that see it.
pub type Cell = Rc<RefCell<Value>>;

/// A new captured variable's box (registered with the running script's arena).
pub fn new_cell(v: Value) -> Cell {
    let c = Rc::new(RefCell::new(v));
    ARENA.with(|a| {
        if let Some(a) = a.borrow_mut().as_mut() {
            a.cells.push(Rc::downgrade(&c));
            a.compact();
        }
    });
    c
}

/// What a script made: every table and captured variable created while it ran, so what is
/// left of them when it ends (cycles: `t.self = t`, `M.__index = M`, a recursive local
/// function) can be emptied and freed. Lua has a garbage collector for those; this
/// interpreter counts references, and a script cannot keep anything past its run (globals
/// and libraries are read-only), so ending the run is when to break them. A function
/// library can (in its locals): what its callbacks still reach is kept
/// ([`arena_collect_keeping`]).
#[derive(Default)]
struct Arena {
    tables: Vec<std::rc::Weak<RefCell<Table>>>,
    cells: Vec<std::rc::Weak<RefCell<Value>>>,
    /// Length at which to drop the entries of objects already freed.
    next_compact: usize,
}

impl Arena {
    fn compact(&mut self) {
        if self.tables.len() + self.cells.len() < self.next_compact {
            return;
        }
        self.tables.retain(|w| w.strong_count() > 0);
        self.cells.retain(|w| w.strong_count() > 0);
        self.next_compact = ((self.tables.len() + self.cells.len()) * 2).max(1024);
    }
}

thread_local! {
    static ARENA: RefCell<Option<Arena>> = const { RefCell::new(None) };
}

/// Starts recording what is made on this thread (see [`Arena`]), forgetting an earlier
/// recording.
pub fn arena_start() {
    ARENA.with(|a| *a.borrow_mut() = Some(Arena::default()));
}

/// Stops recording and empties everything recorded that is still alive: call it once the
/// script's results have been read.
pub fn arena_collect() {
    arena_collect_keeping(&[]);
}

/// [`arena_collect`], except what is reachable from `roots`: a function library's callbacks,
/// whose captured variables outlive the call (a cache a library keeps in a local).
pub fn arena_collect_keeping(roots: &[Value]) {
    let Some(arena) = ARENA.with(|a| a.borrow_mut().take()) else {
        return;
    };
    let tables: Vec<_> = arena
        .tables
        .iter()
        .filter_map(std::rc::Weak::upgrade)
        .collect();
    let cells: Vec<_> = arena
        .cells
        .iter()
        .filter_map(std::rc::Weak::upgrade)
        .collect();
    if tables.is_empty() && cells.is_empty() {
        return;
    }
    let kept = if roots.is_empty() {
        Reachable::default()
    } else {
        Reachable::from(roots)
    };
    let mut pending = Vec::new();
    for t in tables {
        if kept.tables.contains(&(Rc::as_ptr(&t) as usize)) {
            continue;
        }
        if let Ok(mut t) = t.try_borrow_mut() {
            t.drain_into(&mut pending);
        }
    }
    for c in cells {
        if kept.cells.contains(&(Rc::as_ptr(&c) as usize)) {
            continue;
        }
        if let Ok(mut c) = c.try_borrow_mut() {
            pending.push(std::mem::take(&mut *c));
        }
    }
    release(pending);
}

/// The tables and captured variables reachable from some values (by address), walked
/// without recursion.
#[derive(Default)]
struct Reachable {
    tables: AddrSet,
    cells: AddrSet,
}

/// Addresses of tables, cells or functions.
type AddrSet = std::collections::HashSet<usize, foldhash::fast::FixedState>;

impl Reachable {
    fn from(roots: &[Value]) -> Reachable {
        let mut r = Reachable::default();
        let mut funcs = AddrSet::default();
        let mut stack: Vec<Value> = roots.to_vec();
        while let Some(v) = stack.pop() {
            match v {
                Value::Table(t) => {
                    if !r.tables.insert(Rc::as_ptr(&t.0) as usize) {
                        continue;
                    }
                    if let Ok(tb) = t.0.try_borrow() {
                        for (k, v) in tb.entries() {
                            stack.push(k);
                            stack.push(v);
                        }
                        if let Some(m) = &tb.meta {
                            stack.push(Value::Table(m.clone()));
                        }
                    }
                }
                Value::Func(f) => {
                    if !funcs.insert(Rc::as_ptr(&f.0) as usize) {
                        continue;
                    }
                    match &*f.0 {
                        Function::Lua(cl) => {
                            for c in &cl.upvals {
                                if r.cells.insert(Rc::as_ptr(c) as usize) {
                                    if let Ok(v) = c.try_borrow() {
                                        stack.push(v.clone());
                                    }
                                }
                            }
                        }
                        Function::NativeWith { data, .. } => stack.push(data.clone()),
                        Function::Native { .. } => {}
                    }
                }
                _ => {}
            }
        }
        r
    }
}

impl Default for TableRef {
    fn default() -> TableRef {
        TableRef::new(Table::default())
    }
}

/// A shared function, compared and hashed by identity.
#[derive(Clone)]
pub struct FuncRef(pub Rc<Function>);

/// A native function with a value of its own (what a C closure keeps in upvalues, e.g. the
/// iterator `string.gmatch` returns): gets that value as its second argument.
pub type NativeWithFn = fn(&mut State<'_>, &Value, Vec<Value>) -> Ret;

/// A function: a Lua closure or a native one.
pub enum Function {
    Lua(crate::interp::Closure),
    Native {
        /// The name error messages use (`bad argument #1 to 'insert'`).
        name: &'static str,
        f: NativeFn,
    },
    /// A native function with data (a native closure).
    NativeWith {
        name: &'static str,
        f: NativeWithFn,
        data: Value,
    },
}

impl FuncRef {
    pub fn native(name: &'static str, f: NativeFn) -> FuncRef {
        FuncRef(Rc::new(Function::Native { name, f }))
    }

    /// A native closure: `f` gets `data` on every call.
    pub fn native_with(name: &'static str, f: NativeWithFn, data: Value) -> FuncRef {
        FuncRef(Rc::new(Function::NativeWith { name, f, data }))
    }
}

/// A table key: any value but nil and NaN. Numbers with an integer value are one key whatever
/// their sign of zero.
#[derive(Clone)]
pub enum Key {
    Bool(bool),
    Num(f64),
    Str(LStr),
    Table(TableRef),
    Func(FuncRef),
}

impl Key {
    /// The key for `v`, or None for nil and NaN (which cannot index a table).
    pub fn from_value(v: &Value) -> Option<Key> {
        Some(match v {
            Value::Nil => return None,
            Value::Num(n) if n.is_nan() => return None,
            Value::Bool(b) => Key::Bool(*b),
            Value::Num(n) => Key::Num(if *n == 0.0 { 0.0 } else { *n }),
            Value::Str(s) => Key::Str(s.clone()),
            Value::Table(t) => Key::Table(t.clone()),
            Value::Func(f) => Key::Func(f.clone()),
        })
    }

    pub fn to_value(&self) -> Value {
        match self {
            Key::Bool(b) => Value::Bool(*b),
            Key::Num(n) => Value::Num(*n),
            Key::Str(s) => Value::Str(s.clone()),
            Key::Table(t) => Value::Table(t.clone()),
            Key::Func(f) => Value::Func(f.clone()),
        }
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Key) -> bool {
        match (self, other) {
            (Key::Bool(a), Key::Bool(b)) => a == b,
            (Key::Num(a), Key::Num(b)) => a.to_bits() == b.to_bits(),
            (Key::Str(a), Key::Str(b)) => a == b,
            (Key::Table(a), Key::Table(b)) => Rc::ptr_eq(&a.0, &b.0),
            (Key::Func(a), Key::Func(b)) => Rc::ptr_eq(&a.0, &b.0),
            _ => false,
        }
    }
}

impl Eq for Key {}

impl Hash for Key {
    fn hash<H: Hasher>(&self, h: &mut H) {
        match self {
            Key::Bool(b) => b.hash(h),
            Key::Num(n) => n.to_bits().hash(h),
            Key::Str(s) => s.hash(h),
            Key::Table(t) => (Rc::as_ptr(&t.0) as *const u8 as usize).hash(h),
            Key::Func(f) => (Rc::as_ptr(&f.0) as *const u8 as usize).hash(h),
        }
    }
}

type Hashed = indexmap::IndexMap<Key, Value, foldhash::fast::FixedState>;

/// A Lua table: an array part for keys 1..=n and a hash part for the rest, kept in insertion
/// order so `next` walks it in a stable order.
///
/// A key set to nil in the hash part keeps its slot (holding nil) so that a traversal that
/// clears fields as it goes, which Lua allows, keeps its place; the slots are dropped when
/// they outnumber the live ones and a new key is added.
#[derive(Default)]
pub struct Table {
    /// Values of keys 1..=arr.len(); never ends with nil.
    pub arr: Vec<Value>,
    hash: Hashed,
    /// Hash slots holding nil.
    dead: usize,
    pub meta: Option<TableRef>,
    /// Writes refused with "Attempt to modify a readonly table" (Redis's protected globals
    /// and libraries).
    pub readonly: bool,
}

/// Dropping a table drops what only it holds without recursing: a script can nest tables or
/// closures a million deep (`t = {t}`, `f = function() return g end` in a loop), which a
/// recursive drop would pay for in Rust stack.
impl Drop for Table {
    fn drop(&mut self) {
        // Only numbers, strings and booleans (a function's keys and arguments, most
        // replies): they drop as they are, nothing to defer.
        let leaf = |v: &Value| !matches!(v, Value::Table(_) | Value::Func(_));
        if self.meta.is_none()
            && self.arr.iter().all(leaf)
            && self
                .hash
                .iter()
                .all(|(k, v)| !matches!(k, Key::Table(_) | Key::Func(_)) && leaf(v))
        {
            return;
        }
        let mut pending = Vec::new();
        self.drain_into(&mut pending);
        release(pending);
    }
}

impl Table {
    /// Moves every value this table holds (keys and metatable included) into `out`.
    fn drain_into(&mut self, out: &mut Vec<Value>) {
        out.append(&mut self.arr);
        for (k, v) in std::mem::take(&mut self.hash) {
            out.push(k.to_value());
            out.push(v);
        }
        self.dead = 0;
        if let Some(m) = self.meta.take() {
            out.push(Value::Table(m));
        }
    }
}

/// Drops `pending` and everything only they hold, breadth first, on the heap: a table or a
/// function is opened only when this is its last reference, and what it holds joins the
/// list, so no drop recurses more than one level.
pub fn release(mut pending: Vec<Value>) {
    while let Some(v) = pending.pop() {
        match v {
            Value::Table(t) => {
                if let Ok(cell) = Rc::try_unwrap(t.0) {
                    cell.into_inner().drain_into(&mut pending);
                }
            }
            Value::Func(f) => {
                if let Ok(func) = Rc::try_unwrap(f.0) {
                    match func {
                        Function::Lua(mut cl) => cl.drain_into(&mut pending),
                        Function::NativeWith { data, .. } => pending.push(data),
                        Function::Native { .. } => {}
                    }
                }
            }
            _ => {}
        }
    }
}

/// The array index a key stands for, if it is an integer >= 1.
fn array_index(k: &Value) -> Option<usize> {
    match k {
        Value::Num(n) if *n >= 1.0 && n.fract() == 0.0 && *n < (1u64 << 53) as f64 => {
            Some(*n as usize)
        }
        _ => None,
    }
}

impl Table {
    pub fn new() -> Table {
        Table::default()
    }

    /// A table with `items` at 1..=n (up to the first nil), holding `items`'s buffer.
    pub fn from_array(mut items: Vec<Value>) -> Table {
        if let Some(nil) = items.iter().position(Value::is_nil) {
            items.truncate(nil);
        }
        let mut t = Table::new();
        t.arr = items;
        t
    }

    /// Whether this table has nothing but its array part: no hash part, metatable or
    /// readonly flag (what reusing it as a fresh array would have to undo).
    pub fn is_plain_array(&self) -> bool {
        self.hash.is_empty() && self.meta.is_none() && !self.readonly
    }

    /// Raw read (`rawget`): nil for absent keys.
    pub fn get(&self, k: &Value) -> Value {
        if let Some(i) = array_index(k) {
            if i <= self.arr.len() {
                return self.arr[i - 1].clone();
            }
        }
        match Key::from_value(k) {
            Some(key) => self.hash.get(&key).cloned().unwrap_or_default(),
            None => Value::Nil,
        }
    }

    pub fn get_str(&self, k: &str) -> Value {
        self.get(&Value::str(k.as_bytes()))
    }

    pub fn get_int(&self, i: i64) -> Value {
        self.get(&Value::Num(i as f64))
    }

    /// Raw write (`rawset`). Err when the key is nil or NaN (Lua's "table index is nil" /
    /// "table index is NaN"); the readonly flag is the caller's to check.
    pub fn set(&mut self, k: Value, v: Value) -> Result<(), &'static str> {
        if let Some(i) = array_index(&k) {
            let n = self.arr.len();
            if i <= n {
                if v.is_nil() && i == n {
                    self.arr.pop();
                    // Keep the array part without trailing nils.
                    while self.arr.last().is_some_and(Value::is_nil) {
                        self.arr.pop();
                    }
                } else {
                    self.arr[i - 1] = v;
                }
                return Ok(());
            }
            if i == n + 1 && !v.is_nil() {
                self.arr.push(v);
                self.migrate_from_hash();
                return Ok(());
            }
        }
        let key = match &k {
            Value::Nil => return Err("table index is nil"),
            Value::Num(n) if n.is_nan() => return Err("table index is NaN"),
            _ => Key::from_value(&k).ok_or("table index is nil")?,
        };
        if v.is_nil() {
            if let Some(slot) = self.hash.get_mut(&key) {
                if !slot.is_nil() {
                    *slot = Value::Nil;
                    self.dead += 1;
                }
            }
            return Ok(());
        }
        match self.hash.get_mut(&key) {
            Some(slot) => {
                if slot.is_nil() {
                    self.dead -= 1;
                }
                *slot = v;
            }
            None => {
                if self.dead > 0 && self.dead * 2 >= self.hash.len() {
                    self.hash.retain(|_, v| !v.is_nil());
                    self.dead = 0;
                }
                self.hash.insert(key, v);
            }
        }
        Ok(())
    }

    pub fn set_str(&mut self, k: &str, v: Value) {
        let _ = self.set(Value::str(k.as_bytes()), v);
    }

    /// Moves keys n+1, n+2... from the hash part to the array part after a push at n.
    fn migrate_from_hash(&mut self) {
        if self.hash.len() == self.dead {
            return;
        }
        loop {
            let next = Key::Num((self.arr.len() + 1) as f64);
            match self.hash.get_mut(&next) {
                Some(v) if !v.is_nil() => {
                    let v = std::mem::take(v);
                    self.dead += 1;
                    self.arr.push(v);
                }
                _ => break,
            }
        }
    }

    /// The length operator `#` (a border: here the array part's length, or, when that is 0,
    /// the first border found in the hash part from 1).
    pub fn len(&self) -> usize {
        if !self.arr.is_empty() {
            return self.arr.len();
        }
        let mut n = 0;
        while self
            .hash
            .get(&Key::Num((n + 1) as f64))
            .is_some_and(|v| !v.is_nil())
        {
            n += 1;
        }
        n
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `next`: the entry after `k` (nil: the first), or None at the end. Err when `k` is not
    /// in the table ("invalid key to 'next'", which the caller words).
    #[allow(clippy::result_unit_err)] // one cause only; the caller has the message
    pub fn next(&self, k: &Value) -> Result<Option<(Value, Value)>, ()> {
        let mut start_hash = 0;
        // The array part may hold nils (a middle element cleared): they are skipped.
        let from_arr = |start: usize| {
            (start..self.arr.len())
                .find(|&j| !self.arr[j].is_nil())
                .map(|j| (Value::Num((j + 1) as f64), self.arr[j].clone()))
        };
        if k.is_nil() {
            if let Some(kv) = from_arr(0) {
                return Ok(Some(kv));
            }
        } else if let Some(i) = array_index(k).filter(|&i| i <= self.arr.len()) {
            if let Some(kv) = from_arr(i) {
                return Ok(Some(kv));
            }
        } else {
            let key = Key::from_value(k).ok_or(())?;
            start_hash = self.hash.get_index_of(&key).ok_or(())? + 1;
        }
        for i in start_hash..self.hash.len() {
            let (key, v) = self.hash.get_index(i).expect("index below len");
            if !v.is_nil() {
                return Ok(Some((key.to_value(), v.clone())));
            }
        }
        Ok(None)
    }

    /// Every live entry, array part first (for conversions that read a whole table).
    pub fn entries(&self) -> impl Iterator<Item = (Value, Value)> + '_ {
        let arr = self
            .arr
            .iter()
            .enumerate()
            .filter(|(_, v)| !v.is_nil())
            .map(|(i, v)| (Value::Num((i + 1) as f64), v.clone()));
        let hash = self
            .hash
            .iter()
            .filter(|(_, v)| !v.is_nil())
            .map(|(k, v)| (k.to_value(), v.clone()));
        arr.chain(hash)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::n;

    #[test]
    fn array_part_grows_and_takes_keys_from_the_hash() {
        let mut t = Table::new();
        t.set(n(2.0), Value::str(b"b")).unwrap();
        assert_eq!(t.arr.len(), 0);
        t.set(n(1.0), Value::str(b"a")).unwrap();
        assert_eq!(t.arr.len(), 2);
        assert_eq!(t.len(), 2);
        t.set(n(2.0), Value::Nil).unwrap();
        assert_eq!(t.len(), 1);
        assert!(t.get(&n(2.0)).is_nil());
    }

    #[test]
    fn next_walks_everything_even_while_clearing() {
        let mut t = Table::new();
        for i in 1..=3 {
            t.set(n(i as f64), n(i as f64)).unwrap();
        }
        for k in ["x", "y", "z"] {
            t.set_str(k, Value::Bool(true));
        }
        let mut seen = 0;
        let mut k = Value::Nil;
        while let Some((key, _)) = t.next(&k).unwrap() {
            seen += 1;
            if matches!(key, Value::Str(_)) {
                t.set(key.clone(), Value::Nil).unwrap();
            }
            k = key;
        }
        assert_eq!(seen, 6);
        assert!(t.next(&Value::str(b"nope")).is_err());
        assert_eq!(t.entries().count(), 3);
    }

    #[test]
    fn deeply_nested_tables_drop_without_recursing() {
        let mut t = TableRef::default();
        for _ in 0..1_000_000 {
            let mut outer = Table::new();
            outer.arr.push(Value::Table(t));
            t = TableRef::new(outer);
        }
        drop(t);
    }

    /// A table of plain values drops them at once; one holding a table still frees it.
    #[test]
    fn tables_drop_what_they_hold() {
        let s = Value::str(b"shared");
        let Value::Str(text) = &s else { unreachable!() };
        let mut leaves = Table::new();
        leaves.arr.push(s.clone());
        leaves.set(Value::str(b"k"), s.clone()).unwrap();
        assert_eq!(Rc::strong_count(text), 3);
        drop(leaves);
        assert_eq!(Rc::strong_count(text), 1);
        let inner = TableRef::new(Table::new());
        let weak = Rc::downgrade(&inner.0);
        let mut outer = Table::new();
        outer.set(Value::str(b"t"), Value::Table(inner)).unwrap();
        outer.arr.push(s.clone());
        drop(outer);
        assert!(weak.upgrade().is_none());
        assert_eq!(Rc::strong_count(text), 1);
    }

    #[test]
    fn long_chains_of_closures_drop_without_recursing() {
        let mut lua = crate::Lua::new();
        let chunk = crate::Lua::compile(
            b"local f = function() return 1 end \
              for i = 1, 1000000 do local g = f f = function() return g end end \
              local t = {} for i = 1, 300000 do local p = t t = {function() return p end} end \
              return 1",
            "user_script",
        )
        .unwrap();
        // On a test thread's 2 MiB stack: a recursive drop of either chain overflows it.
        assert!(lua.run(&chunk, &mut crate::test_util::QuietHost).is_ok());
    }

    #[test]
    fn cycles_made_by_a_run_are_freed_when_it_is_collected() {
        let mut lua = crate::Lua::new();
        let chunk = crate::Lua::compile(
            b"local t = {} t.self = t \
              local M = {} M.__index = M local o = setmetatable({}, M) \
              local function f(n) if n > 0 then return f(n - 1) end return 0 end f(3) \
              return t",
            "user_script",
        )
        .unwrap();
        arena_start();
        let out = lua.run(&chunk, &mut crate::test_util::QuietHost).unwrap();
        let Value::Table(t) = &out[0] else {
            panic!("a table")
        };
        let weak = Rc::downgrade(&t.0);
        // The result is whole until collected.
        assert!(t.0.borrow().get_str("self").truthy());
        drop(out);
        assert!(weak.upgrade().is_some(), "the cycle keeps it");
        arena_collect();
        assert!(weak.upgrade().is_none(), "freed once collected");
    }

    #[test]
    fn zero_and_negative_zero_are_one_key() {
        let mut t = Table::new();
        t.set(n(0.0), Value::Bool(true)).unwrap();
        assert!(t.get(&n(-0.0)).truthy());
        assert!(t.set(Value::Nil, n(1.0)).is_err());
        assert!(t.set(n(f64::NAN), n(1.0)).is_err());
    }
}

//! Lua values, tables and functions: the contract every other module of the crate works with.
//!
//! Values live on one thread (`Rc`): a [`crate::Lua`] state is made per thread and never sent.
//! Compiled chunks ([`crate::Chunk`]) are `Send + Sync` and shared between threads.

use std::cell::RefCell;
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
        t.refill_array(items.iter().map(|v| Value::str(v.as_ref())));
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

/// An estimate of the memory the running script's objects take, in bytes: what
/// `collectgarbage('count')` adds to the state's own (tables and captured variables made
/// by the run and still alive, at a typical size each).
pub fn arena_bytes() -> usize {
    ARENA.with(|a| match a.borrow().as_ref() {
        Some(a) => {
            let tables = a.tables.iter().filter(|w| w.strong_count() > 0).count();
            let cells = a.cells.iter().filter(|w| w.strong_count() > 0).count();
            tables * 96 + cells * 48
        }
        None => 0,
    })
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

/// A Lua table laid out as Lua 5.1 lays it out (its `ltable.c`): an array part for keys
/// 1..=n and a hash part of 2^k nodes, each key at its main position (Lua 5.1's hash of the
/// key) or chained from it, collisions placed from the free end, both parts resized only
/// when a new key finds no free node. Scripts see the result: `next` (so `pairs`,
/// `cjson.encode`, `cmsgpack.pack` and the maps and sets a script returns) walks the keys in
/// the order Redis's Lua 5.1 does, and `#` finds the same border of a table with holes.
///
/// A key set to nil keeps its node (holding nil), as in Lua until its collector runs, so a
/// traversal that clears fields as it goes keeps its place; rehashing drops such keys.
#[derive(Default)]
pub struct Table {
    /// The array part: keys 1..=arr.len() (Lua's `sizearray`); may hold nils.
    arr: Vec<Value>,
    /// The hash part: a power of two of nodes, or none (Lua's shared empty node).
    nodes: Vec<Node>,
    /// Nodes at or above this index are in use (Lua's `lastfree`): free ones are looked for
    /// below it, going down.
    last_free: usize,
    pub meta: Option<TableRef>,
    /// Writes refused with "Attempt to modify a readonly table" (Redis's protected globals
    /// and libraries).
    pub readonly: bool,
}

/// A node of the hash part.
struct Node {
    /// None: never given a key (a free node).
    key: Option<Key>,
    val: Value,
    /// The next node of the chain, or [`NO_NEXT`].
    next: u32,
}

const NO_NEXT: u32 = u32::MAX;

impl Node {
    fn free() -> Node {
        Node {
            key: None,
            val: Value::Nil,
            next: NO_NEXT,
        }
    }
}

/// Lua 5.1's `MAXBITS`: array parts hold keys up to 2^MAXBITS.
const MAXBITS: usize = 30;

/// ceil(log2(x)) for x >= 1 (Lua's `ceillog2`).
fn ceil_log2(x: usize) -> usize {
    (usize::BITS - (x - 1).leading_zeros()) as usize
}

/// Lua 5.1's string hash (`luaS_newlstr`): the length as the seed, then at most 32 of the
/// bytes, from the end.
fn str_hash(s: &[u8]) -> u32 {
    let mut h = s.len() as u32;
    let step = (s.len() >> 5) + 1;
    let mut l1 = s.len();
    while l1 >= step {
        h ^= (h << 5).wrapping_add(h >> 2).wrapping_add(s[l1 - 1] as u32);
        l1 -= step;
    }
    h
}

/// Lua 5.1's `lua_number2int` followed by its check: the integer a number is, if any.
fn as_int(n: f64) -> Option<i32> {
    let k = n as i32;
    (k as f64 == n).then_some(k)
}

/// The array index a key stands for, if it is an integer >= 1 (Lua's `arrayindex`).
fn array_index(k: &Value) -> Option<usize> {
    match k {
        Value::Num(n) => as_int(*n).filter(|&k| k >= 1).map(|k| k as usize),
        _ => None,
    }
}

/// Lua's `luaO_int2fb` then `luaO_fb2int`: the size a table constructor asks for, which Lua's
/// bytecode stores as a float byte (exact below 16, rounded up beyond).
fn float_byte_size(x: usize) -> usize {
    let (mut x, mut e) = (x, 0u32);
    while x >= 16 {
        x = (x + 1) >> 1;
        e += 1;
    }
    x << e
}

impl Key {
    /// Lua 5.1's `mainposition` in a hash part of `size` (a power of two) nodes.
    fn main_position(&self, size: usize) -> usize {
        let mask = size - 1;
        // `hashmod`: a remainder by an odd number, for keys whose low bits are poor.
        let modulo = |h: u32| (h % ((mask as u32) | 1)) as usize;
        match self {
            Key::Num(n) => {
                if *n == 0.0 {
                    return 0;
                }
                let bits = n.to_bits();
                modulo((bits as u32).wrapping_add((bits >> 32) as u32))
            }
            Key::Str(s) => str_hash(s) as usize & mask,
            Key::Bool(b) => *b as usize & mask,
            Key::Table(t) => modulo(Rc::as_ptr(&t.0) as *const u8 as usize as u32),
            Key::Func(f) => modulo(Rc::as_ptr(&f.0) as *const u8 as usize as u32),
        }
    }
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
                .nodes
                .iter()
                .all(|n| !matches!(n.key, Some(Key::Table(_)) | Some(Key::Func(_))) && leaf(&n.val))
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
        for n in std::mem::take(&mut self.nodes) {
            if let Some(k) = n.key {
                out.push(k.to_value());
            }
            out.push(n.val);
        }
        self.last_free = 0;
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

impl Table {
    pub fn new() -> Table {
        Table::default()
    }

    /// A table with room for `narray` array items and `nhash` other keys (Lua's
    /// `lua_createtable`, and what a table constructor asks for).
    pub fn with_sizes(narray: usize, nhash: usize) -> Table {
        let mut t = Table::new();
        t.arr.resize(narray, Value::Nil);
        t.set_node_vector(nhash);
        t
    }

    /// The table a constructor with `positional` items (not counting a last call or
    /// `...`) and `named` fields starts as: the sizes Lua's bytecode can store for them.
    pub(crate) fn with_constructor_sizes(positional: usize, named: usize) -> Table {
        Table::with_sizes(float_byte_size(positional), float_byte_size(named))
    }

    /// A table with `items` at 1..=n, up to the first nil, laid out as a table Lua's C side
    /// fills key by key from 1 (`lua_newtable` then `lua_rawseti`): an array part of the
    /// next power of two. Holds `items`'s buffer.
    pub fn from_array(mut items: Vec<Value>) -> Table {
        if let Some(nil) = items.iter().position(Value::is_nil) {
            items.truncate(nil);
        }
        let size = if items.is_empty() {
            0
        } else {
            items.len().next_power_of_two()
        };
        items.resize(size, Value::Nil);
        let mut t = Table::new();
        t.arr = items;
        t
    }

    /// Whether this table has nothing but its array part: no hash part, metatable or
    /// readonly flag (what reusing it as a fresh array would have to undo).
    pub fn is_plain_array(&self) -> bool {
        self.nodes.is_empty() && self.meta.is_none() && !self.readonly
    }

    /// Makes this table the array `items` as [`Table::from_array`] lays it out, keeping its
    /// buffer (for [`Table::is_plain_array`] tables).
    pub(crate) fn refill_array(&mut self, items: impl Iterator<Item = Value>) {
        self.arr.clear();
        self.arr.extend(items);
        let size = match self.arr.len() {
            0 => 0,
            n => n.next_power_of_two(),
        };
        self.arr.resize(size, Value::Nil);
    }

    /// The node holding `key`, if any (whatever its value).
    fn find_node(&self, key: &Key) -> Option<usize> {
        if self.nodes.is_empty() {
            return None;
        }
        let mut n = key.main_position(self.nodes.len());
        loop {
            let node = &self.nodes[n];
            if node.key.as_ref() == Some(key) {
                return Some(n);
            }
            if node.next == NO_NEXT {
                return None;
            }
            n = node.next as usize;
        }
    }

    /// Raw read (`rawget`): nil for absent keys.
    pub fn get(&self, k: &Value) -> Value {
        if let Some(i) = array_index(k) {
            if i <= self.arr.len() {
                return self.arr[i - 1].clone();
            }
        }
        match Key::from_value(k).and_then(|key| self.find_node(&key)) {
            Some(n) => self.nodes[n].val.clone(),
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
    /// "table index is NaN"); the readonly flag is the caller's to check. As in Lua, a key
    /// that is not there gets a node even when the value is nil.
    pub fn set(&mut self, k: Value, v: Value) -> Result<(), &'static str> {
        let key = match &k {
            Value::Nil => return Err("table index is nil"),
            Value::Num(n) if n.is_nan() => return Err("table index is NaN"),
            _ => Key::from_value(&k).ok_or("table index is nil")?,
        };
        *self.slot(key) = v;
        Ok(())
    }

    pub fn set_str(&mut self, k: &str, v: Value) {
        let _ = self.set(Value::str(k.as_bytes()), v);
    }

    /// Where `key`'s value is, made if it is not there (Lua's `luaH_set`).
    fn slot(&mut self, key: Key) -> &mut Value {
        if let Key::Num(n) = key {
            if let Some(i) = as_int(n).filter(|&i| i >= 1) {
                if i as usize <= self.arr.len() {
                    return &mut self.arr[i as usize - 1];
                }
            }
        }
        let n = match self.find_node(&key) {
            Some(n) => n,
            None => match self.new_key(key) {
                Ok(n) => n,
                // Resized: the key may now belong to the array part.
                Err(key) => return self.slot(key),
            },
        };
        &mut self.nodes[n].val
    }

    /// Gives `key` (not in the table) a node holding nil (Lua's `newkey`); Err(key) when the
    /// table had to be resized for it, to be placed again.
    fn new_key(&mut self, key: Key) -> Result<usize, Key> {
        if self.nodes.is_empty() {
            self.rehash(&key);
            return Err(key);
        }
        let size = self.nodes.len();
        let mut mp = key.main_position(size);
        if !self.nodes[mp].val.is_nil() {
            let Some(free) = self.free_position() else {
                self.rehash(&key);
                return Err(key);
            };
            let colliding = self.nodes[mp]
                .key
                .as_ref()
                .expect("a node with a value has a key");
            let mut other = colliding.main_position(size);
            if other != mp {
                // The colliding node is not in its own main position: it moves to the free
                // node, and the new key takes its place.
                while self.nodes[other].next as usize != mp {
                    other = self.nodes[other].next as usize;
                }
                self.nodes[other].next = free as u32;
                self.nodes.swap(free, mp);
                self.nodes[mp].next = NO_NEXT;
                self.nodes[mp].val = Value::Nil;
            } else {
                // It is: the new key goes to the free node, chained after it.
                self.nodes[free].next = self.nodes[mp].next;
                self.nodes[mp].next = free as u32;
                mp = free;
            }
        }
        self.nodes[mp].key = Some(key);
        Ok(mp)
    }

    /// A node never given a key, looking down from `last_free` (Lua's `getfreepos`).
    fn free_position(&mut self) -> Option<usize> {
        while self.last_free > 0 {
            self.last_free -= 1;
            if self.nodes[self.last_free].key.is_none() {
                return Some(self.last_free);
            }
        }
        None
    }

    /// A fresh hash part for `size` keys: the next power of two of nodes (Lua's
    /// `setnodevector`).
    fn set_node_vector(&mut self, size: usize) {
        self.nodes = if size == 0 {
            Vec::new()
        } else {
            let n = 1usize << ceil_log2(size);
            (0..n).map(|_| Node::free()).collect()
        };
        self.last_free = self.nodes.len();
    }

    /// Sizes both parts for the keys there plus `extra` (Lua's `rehash`): the array part the
    /// largest power of two n with more than n/2 of keys 1..=n present.
    fn rehash(&mut self, extra: &Key) {
        let mut nums = [0usize; MAXBITS + 1];
        let count_int = |k: &Key, nums: &mut [usize; MAXBITS + 1]| match k {
            Key::Num(n) => match as_int(*n) {
                Some(i) if i >= 1 && (i as usize) <= 1 << MAXBITS => {
                    nums[ceil_log2(i as usize)] += 1;
                    1
                }
                _ => 0,
            },
            _ => 0,
        };
        // The array part, by slices (2^(lg-1), 2^lg].
        let mut nasize = 0;
        let mut i = 1;
        for (lg, slot) in nums.iter_mut().enumerate() {
            let lim = (1usize << lg).min(self.arr.len());
            if i > lim {
                break;
            }
            while i <= lim {
                if !self.arr[i - 1].is_nil() {
                    *slot += 1;
                    nasize += 1;
                }
                i += 1;
            }
        }
        let mut total = nasize;
        for n in self.nodes.iter().rev() {
            if !n.val.is_nil() {
                if let Some(k) = &n.key {
                    nasize += count_int(k, &mut nums);
                }
                total += 1;
            }
        }
        nasize += count_int(extra, &mut nums);
        total += 1;
        // Lua's `computesizes`.
        let (mut a, mut na, mut n) = (0, 0, 0);
        let mut two_to_i = 1usize;
        for &count in nums.iter() {
            if two_to_i / 2 >= nasize {
                break;
            }
            if count > 0 {
                a += count;
                if a > two_to_i / 2 {
                    n = two_to_i;
                    na = a;
                }
            }
            if a == nasize {
                break;
            }
            two_to_i *= 2;
        }
        self.resize(n, total - na);
    }

    /// Lua's `resize`: the array part to `nasize`, a fresh hash part for `nhsize` keys, and
    /// every key that no longer fits where it was placed again (the array part's vanishing
    /// end in order, then the old nodes from the last).
    fn resize(&mut self, nasize: usize, nhsize: usize) {
        if nasize > self.arr.len() {
            self.arr.resize(nasize, Value::Nil);
        }
        let old = std::mem::take(&mut self.nodes);
        self.set_node_vector(nhsize);
        if nasize < self.arr.len() {
            let vanishing = self.arr.split_off(nasize);
            for (i, v) in vanishing.into_iter().enumerate() {
                if !v.is_nil() {
                    *self.slot(Key::Num((nasize + i + 1) as f64)) = v;
                }
            }
        }
        for n in old.into_iter().rev() {
            if let (Some(k), false) = (n.key, n.val.is_nil()) {
                *self.slot(k) = n.val;
            }
        }
    }

    /// Grows (or shrinks) the array part to `n` keys, the hash part kept at its size but
    /// rebuilt (Lua's `luaH_resizearray`, what a constructor ending in `f()` or `...` does).
    fn resize_array(&mut self, n: usize) {
        let nh = self.nodes.len();
        self.resize(n, nh);
    }

    /// Stores a constructor's positional items `first..` (Lua's `OP_SETLIST`), growing the
    /// array part to hold them all when it is short.
    pub(crate) fn set_list(&mut self, first: usize, items: Vec<Value>) {
        let last = first - 1 + items.len();
        if last > self.arr.len() {
            self.resize_array(last);
        }
        for (i, v) in items.into_iter().enumerate().rev() {
            *self.slot(Key::Num((first + i) as f64)) = v;
        }
    }

    /// The length operator `#`: a border as Lua 5.1's `luaH_getn` finds it (a binary search
    /// in the array part when it ends with nil, else a search beyond it in the hash part).
    pub fn len(&self) -> usize {
        let j = self.arr.len();
        if j > 0 && self.arr[j - 1].is_nil() {
            let (mut i, mut j) = (0, j);
            while j - i > 1 {
                let m = (i + j) / 2;
                if self.arr[m - 1].is_nil() {
                    j = m;
                } else {
                    i = m;
                }
            }
            return i;
        }
        if self.nodes.is_empty() {
            return j;
        }
        // Lua's `unbound_search`.
        let present = |k: usize| !self.get(&Value::Num(k as f64)).is_nil();
        let (mut i, mut j) = (j, j + 1);
        while present(j) {
            i = j;
            match j.checked_mul(2).filter(|&d| d <= i32::MAX as usize) {
                Some(d) => j = d,
                None => {
                    let mut i = 1;
                    while present(i) {
                        i += 1;
                    }
                    return i - 1;
                }
            }
        }
        while j - i > 1 {
            let m = (i + j) / 2;
            if present(m) {
                i = m;
            } else {
                j = m;
            }
        }
        i
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `next`: the entry after `k` (nil: the first), or None at the end: the array part in
    /// order, then the hash part's nodes in order. Err when `k` is not in the table
    /// ("invalid key to 'next'", which the caller words).
    #[allow(clippy::result_unit_err)] // one cause only; the caller has the message
    pub fn next(&self, k: &Value) -> Result<Option<(Value, Value)>, ()> {
        let start = if k.is_nil() {
            0
        } else {
            match array_index(k).filter(|&i| i <= self.arr.len()) {
                Some(i) => i,
                None => {
                    let key = Key::from_value(k).ok_or(())?;
                    self.arr.len() + self.find_node(&key).ok_or(())? + 1
                }
            }
        };
        for i in start..self.arr.len() {
            if !self.arr[i].is_nil() {
                return Ok(Some((Value::Num((i + 1) as f64), self.arr[i].clone())));
            }
        }
        for i in start.saturating_sub(self.arr.len())..self.nodes.len() {
            let n = &self.nodes[i];
            if let (Some(key), false) = (&n.key, n.val.is_nil()) {
                return Ok(Some((key.to_value(), n.val.clone())));
            }
        }
        Ok(None)
    }

    /// Every live entry, in `next`'s order (for conversions that read a whole table).
    pub fn entries(&self) -> impl Iterator<Item = (Value, Value)> + '_ {
        let arr = self
            .arr
            .iter()
            .enumerate()
            .filter(|(_, v)| !v.is_nil())
            .map(|(i, v)| (Value::Num((i + 1) as f64), v.clone()));
        let hash = self.nodes.iter().filter_map(|n| match (&n.key, &n.val) {
            (Some(k), v) if !v.is_nil() => Some((k.to_value(), v.clone())),
            _ => None,
        });
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

    /// A key of the model: small integers (array part or hash part), a few floats and
    /// strings, so that sequences collide, grow and shrink both parts.
    fn model_key(i: u8) -> Value {
        match i % 4 {
            0 | 1 => n((i / 2 % 24) as f64),
            2 => n((i as f64) / 4.0 - 3.0),
            _ => Value::str(format!("k{}", i % 19).as_bytes()),
        }
    }

    proptest::proptest! {
        /// Random writes (nil included) against a plain map: every read agrees, `next`
        /// visits each live key once, and `#` is a border.
        #[test]
        fn tables_agree_with_a_map(ops in proptest::collection::vec((0u8..=255, 0u8..4), 0..300)) {
            let mut t = Table::new();
            let mut model: Vec<(Value, Value)> = Vec::new();
            for (k, v) in ops {
                let key = model_key(k);
                let val = if v == 0 { Value::Nil } else { n(v as f64) };
                t.set(key.clone(), val.clone()).unwrap();
                model.retain(|(mk, _)| !mk.raw_eq(&key));
                if !val.is_nil() {
                    model.push((key, val));
                }
                for (mk, mv) in &model {
                    proptest::prop_assert!(t.get(mk).raw_eq(mv));
                }
            }
            let mut seen = 0;
            let mut k = Value::Nil;
            while let Some((key, v)) = t.next(&k).unwrap() {
                let m = model.iter().find(|(mk, _)| mk.raw_eq(&key));
                proptest::prop_assert!(m.is_some_and(|(_, mv)| mv.raw_eq(&v)));
                seen += 1;
                k = key;
            }
            proptest::prop_assert_eq!(seen, model.len());
            let len = t.len();
            proptest::prop_assert!(len == 0 || !t.get_int(len as i64).is_nil());
            proptest::prop_assert!(t.get_int(len as i64 + 1).is_nil());
        }
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

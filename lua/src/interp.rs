//! The interpreter: walks the resolved tree of [`crate::ast`].
//!
//! Each running Lua function has a frame of slots (one per local declaration; a local some
//! inner function captures lives in a shared cell, a fresh one each time its declaration
//! runs), its varargs, and its closure (upvalue cells, string constants as values). Errors
//! travel as `Err(LuaError)`; calls nest on the Rust stack, bounded by [`Lua::max_depth`].

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

use crate::ast::{BinOp, CallExpr, Expr, Proto, Stat, StatKind, UnOp};
use crate::error::LuaError;
use crate::host::Host;
use crate::value::{FuncRef, Function, LStr, Ret, Table, TableRef, Value};

/// How many statements, loop iterations and calls run between two polls of
/// [`Host::interrupted`].
const POLL_EVERY: u32 = 10_000;
/// Lua 5.1's bound on `__index`/`__newindex` chains.
const MAX_TAG_LOOP: usize = 100;

/// A compiled script: `Send + Sync`, cached by the server and run on any thread.
#[derive(Clone)]
pub struct Chunk {
    proto: Arc<Proto>,
}

/// A Lua function value: a compiled function body and its captured upvalues.
pub struct Closure {
    pub proto: Arc<Proto>,
    pub upvals: Vec<Rc<RefCell<Value>>>,
    /// `proto.consts` as values.
    consts: Rc<[Value]>,
}

/// The metamethod events, indices into [`Lua`]'s table of their names.
#[derive(Clone, Copy)]
pub enum Mm {
    Index,
    NewIndex,
    Call,
    Eq,
    Lt,
    Le,
    Concat,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    Unm,
    ToString,
    Metatable,
}

const MM_NAMES: [&str; 16] = [
    "__index",
    "__newindex",
    "__call",
    "__eq",
    "__lt",
    "__le",
    "__concat",
    "__add",
    "__sub",
    "__mul",
    "__div",
    "__mod",
    "__pow",
    "__unm",
    "__tostring",
    "__metatable",
];

/// One interpreter: globals and libraries. Not `Send`: one per thread.
pub struct Lua {
    /// The global table (`_G`).
    pub globals: TableRef,
    /// The metatable of strings (`__index` = the string library), for `s:upper()`.
    pub string_meta: Option<TableRef>,
    /// The deepest nesting of calls allowed before "stack overflow" (Lua and native calls
    /// both count). Default 200.
    ///
    /// Stack use: one Lua-to-Lua call level (`return 0 + f(n - 1)` in a function body) takes
    /// about 2.1 KB of Rust stack in a release build and about 13.5 KB in a debug build
    /// (measured by the `stack_per_level` test). Calls through natives (`pcall`,
    /// metamethods) add their own frames; expressions nest at most 200 deep (the parser's
    /// limit). A thread running scripts with `max_depth` = N wants about N * 4 KB + 256 KB
    /// of stack in release (N * 20 KB in debug builds).
    pub max_depth: usize,
    /// The state of `math.random`'s generator (48 bits, the drand48 one).
    pub rand_state: u64,
    /// The line of the innermost Lua function running when the error now unwinding was
    /// raised (what Redis's error handler reports as `on @user_script:N`). Set by the first
    /// call that returns the error, cleared when `pcall` catches it and at each run.
    pub error_line: Option<u32>,
    /// The protocol `redis.call` replies are read in (`redis.setresp`): 2 or 3.
    pub resp: u8,
    /// While a function library loads: the functions it registered so far (see
    /// [`crate::fnlib`]).
    pub registering: Option<Vec<crate::fnlib::Registered>>,
    /// Metamethod names as values.
    mm_names: Vec<Value>,
    /// `KEYS` and `ARGV` as values, and the tables `_G` holds there (see
    /// [`Lua::set_script_args`]).
    arg_names: [Value; 2],
    arg_tables: [Option<TableRef>; 2],
    /// `collectgarbage('setpause')` and `('setstepmul')`: kept and answered, as nothing
    /// collects here.
    pub gc_pause: i64,
    pub gc_stepmul: i64,
    /// The call stack's buffer between runs (see [`State`]'s `calls`), kept so a run does
    /// not allocate one.
    spare_calls: Vec<CallInfo>,
    /// String constants of the functions made, by prototype: kept from run to run (a cached
    /// script's constants are made once per thread), and emptied past [`CONST_CACHE_MAX`]
    /// prototypes so scripts no longer run do not stay forever.
    const_cache: ConstCache,
}

/// Prototypes whose constants a state keeps (see `Lua::const_cache`).
const CONST_CACHE_MAX: usize = 256;

/// A prototype's string constants as values, by the prototype's address (the prototype is
/// held too, so the address is not reused while the entry lives).
type ConstCache = HashMap<usize, (Arc<Proto>, Rc<[Value]>), foldhash::fast::RandomState>;

impl Default for Lua {
    fn default() -> Lua {
        Lua::new()
    }
}

impl Lua {
    /// A bare state: no libraries, no protection.
    pub fn bare() -> Lua {
        Lua {
            globals: TableRef::default(),
            string_meta: None,
            max_depth: 200,
            rand_state: crate::mathlib::INITIAL_STATE,
            error_line: None,
            resp: 2,
            registering: None,
            mm_names: MM_NAMES.iter().map(|n| Value::str(n.as_bytes())).collect(),
            arg_names: [Value::str(b"KEYS"), Value::str(b"ARGV")],
            arg_tables: [None, None],
            spare_calls: Vec::new(),
            gc_pause: 200,
            gc_stepmul: 200,
            const_cache: HashMap::default(),
        }
    }

    /// A state with every library a Redis 7.0 script sees, globals protected.
    pub fn new() -> Lua {
        let mut lua = Lua::bare();
        crate::base::open(&mut lua);
        crate::tablelib::open(&mut lua);
        crate::stringlib::open(&mut lua);
        crate::mathlib::open(&mut lua);
        crate::bitlib::open(&mut lua);
        crate::cjson::open(&mut lua);
        crate::cmsgpack::open(&mut lua);
        crate::structlib::open(&mut lua);
        crate::redislib::open(&mut lua);
        lua.protect_globals();
        lua
    }

    /// Redis's protection: `_G`, the libraries and the string metatable are read-only, and
    /// reading a global that does not exist is an error.
    fn protect_globals(&mut self) {
        let libs: Vec<TableRef> = self
            .globals
            .0
            .borrow()
            .entries()
            .filter_map(|(_, v)| match v {
                Value::Table(t) => Some(t),
                _ => None,
            })
            .collect();
        for t in libs {
            t.0.borrow_mut().readonly = true;
        }
        if let Some(m) = &self.string_meta {
            m.0.borrow_mut().readonly = true;
        }
        let mut mt = Table::new();
        mt.set_str(
            "__index",
            Value::Func(FuncRef::native("__index", global_missing)),
        );
        mt.readonly = true;
        let mut g = self.globals.0.borrow_mut();
        g.meta = Some(TableRef::new(mt));
        g.readonly = true;
    }

    /// Compiles `src`; `chunkname` is the name errors use (`user_script`).
    pub fn compile(src: &[u8], chunkname: &str) -> Result<Chunk, String> {
        crate::parse::parse_chunk(src, chunkname).map(|proto| Chunk { proto })
    }

    /// Sets a global bypassing the protection (KEYS, ARGV).
    pub fn set_global_raw(&mut self, name: &str, v: Value) {
        self.globals.0.borrow_mut().set_str(name, v);
    }

    /// Sets the globals `KEYS` and `ARGV` (bypassing the protection) to arrays of these
    /// strings. The tables an earlier run left there are refilled when nothing else holds
    /// them (see [`TableRef::refill_strings`]), so a run does not make two tables and drop two.
    pub fn set_script_args<T: AsRef<[u8]>>(&mut self, keys: &[T], argv: &[T]) {
        for (i, items) in [keys, argv].into_iter().enumerate() {
            // Held by `arg_tables` and by `_G`.
            if let Some(t) = &self.arg_tables[i] {
                if t.refill_strings(2, items) {
                    if Rc::strong_count(&t.0) == 1 {
                        // `_G` holds another table (set_global_raw).
                        let t = Value::Table(t.clone());
                        let _ = self
                            .globals
                            .0
                            .borrow_mut()
                            .set(self.arg_names[i].clone(), t);
                    }
                    continue;
                }
            }
            let t = TableRef::strings(items);
            let _ = (self.globals.0.borrow_mut())
                .set(self.arg_names[i].clone(), Value::Table(t.clone()));
            self.arg_tables[i] = Some(t);
        }
    }

    /// Once a run is over: lets its arena break a cycle through `KEYS` or `ARGV` (see
    /// [`TableRef::track_if_shared`]).
    pub fn script_args_done(&mut self) {
        for t in self.arg_tables.iter().flatten() {
            // Held by `arg_tables` and by `_G`.
            t.track_if_shared(2);
        }
    }

    /// A global, read raw.
    pub fn get_global(&self, name: &str) -> Value {
        self.globals.0.borrow().get_str(name)
    }

    /// Runs a chunk's main function with `host` serving `redis.*`.
    pub fn run(&mut self, chunk: &Chunk, host: &mut dyn Host) -> Result<Vec<Value>, LuaError> {
        self.trim_const_cache();
        self.error_line = None;
        let mut st = State::new(self, host);
        let f = st.closure(&chunk.proto, &[]);
        st.call_func(&f, Vec::new())
    }

    fn trim_const_cache(&mut self) {
        if self.const_cache.len() > CONST_CACHE_MAX {
            self.const_cache.clear();
        }
    }

    /// Calls a function value made by an earlier run (a function library's callback).
    pub fn call_function(
        &mut self,
        f: &Value,
        args: Vec<Value>,
        host: &mut dyn Host,
    ) -> Result<Vec<Value>, LuaError> {
        self.trim_const_cache();
        self.error_line = None;
        let mut st = State::new(self, host);
        st.call(f, args)
    }

    /// The name of a metamethod event, as a value.
    pub fn mm_name(&self, mm: Mm) -> &Value {
        &self.mm_names[mm as usize]
    }
}

/// `_G`'s `__index`: Redis's error for a global that does not exist.
pub(crate) fn global_missing(st: &mut State<'_>, args: Vec<Value>) -> Ret {
    let name = match args.get(1) {
        Some(Value::Str(s)) => String::from_utf8_lossy(s).into_owned(),
        Some(v) => String::from_utf8_lossy(&st.tostring(v)?).into_owned(),
        None => "nil".into(),
    };
    Err(st.error(format!(
        "Script attempted to access nonexistent global variable '{name}'"
    )))
}

/// A frame's slot: a plain local, or a cell shared with closures.
enum Slot {
    V(Value),
    B(Rc<RefCell<Value>>),
}

struct Frame<'c> {
    slots: Vec<Slot>,
    varargs: Vec<Value>,
    cl: &'c Closure,
}

/// What a statement ends with.
enum Flow {
    Normal,
    Break,
    Return(Vec<Value>),
    /// `return f(args)`: the caller's loop runs it in place of this frame.
    Tail(FuncRef, Vec<Value>),
}

struct CallInfo {
    /// The Lua function running, None for a native one.
    func: Option<FuncRef>,
    line: u32,
}

/// A running interpreter: what native functions get.
pub struct State<'a> {
    pub lua: &'a mut Lua,
    pub host: &'a mut dyn Host,
    calls: Vec<CallInfo>,
    steps: u32,
}

impl Drop for State<'_> {
    fn drop(&mut self) {
        // Empty when a run ends normally; what an error left is dropped here.
        self.calls.clear();
        self.lua.spare_calls = std::mem::take(&mut self.calls);
    }
}

/// Lua's name for the object an error is about (`local 't'`, `global 'x'`, `field 'y'`).
fn describe(e: &Expr, cl: &Closure) -> Option<String> {
    let p = &cl.proto;
    let s = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    match e {
        Expr::Local(i) => Some(format!("local '{}'", p.slot_names[*i])),
        Expr::Upval(i) => Some(format!("upvalue '{}'", p.upvals[*i].name)),
        Expr::Global(c) => Some(format!("global '{}'", s(&p.consts[*c]))),
        Expr::Index(b, _) => match &b.1 {
            Expr::Str(c) => Some(format!("field '{}'", s(&p.consts[*c]))),
            _ => Some("field '?'".into()),
        },
        Expr::Paren(inner) if !inner.is_multi() => describe(inner, cl),
        _ => None,
    }
}

fn typed(desc: Option<String>, v: &Value) -> String {
    match desc {
        Some(d) => format!("{d} (a {} value)", v.type_name()),
        None => format!("a {} value", v.type_name()),
    }
}

fn arith_num(op: BinOp, a: f64, b: f64) -> f64 {
    match op {
        BinOp::Add => a + b,
        BinOp::Sub => a - b,
        BinOp::Mul => a * b,
        BinOp::Div => a / b,
        BinOp::Mod => a - (a / b).floor() * b,
        BinOp::Pow => a.powf(b),
        _ => unreachable!("not arithmetic"),
    }
}

fn arith_event(op: BinOp) -> Mm {
    match op {
        BinOp::Add => Mm::Add,
        BinOp::Sub => Mm::Sub,
        BinOp::Mul => Mm::Mul,
        BinOp::Div => Mm::Div,
        BinOp::Mod => Mm::Mod,
        _ => Mm::Pow,
    }
}

fn first(v: Vec<Value>) -> Value {
    v.into_iter().next().unwrap_or_default()
}

/// A closure's captured variables are freed without recursing (see [`crate::value::release`]).
impl Drop for Closure {
    fn drop(&mut self) {
        if self.upvals.is_empty() {
            return;
        }
        let mut pending = Vec::new();
        self.drain_into(&mut pending);
        crate::value::release(pending);
    }
}

impl Closure {
    /// Moves the values of the variables only this closure holds into `out`.
    pub(crate) fn drain_into(&mut self, out: &mut Vec<Value>) {
        for cell in std::mem::take(&mut self.upvals) {
            if let Ok(cell) = Rc::try_unwrap(cell) {
                out.push(cell.into_inner());
            }
        }
    }
}

use crate::value::new_cell;

impl<'a> State<'a> {
    pub fn new(lua: &'a mut Lua, host: &'a mut dyn Host) -> State<'a> {
        let calls = std::mem::take(&mut lua.spare_calls);
        State {
            lua,
            host,
            calls,
            steps: 0,
        }
    }

    // ---- the public interface of native functions ----

    /// Calls any callable value (`__call` included).
    pub fn call(&mut self, f: &Value, args: Vec<Value>) -> Ret {
        let (f, args) = self.callable(f.clone(), args, || None)?;
        self.call_func(&f, args)
    }

    /// A runtime error `msg` positioned (`chunk:line: msg`) at the innermost running Lua
    /// function's current line, as luaL_error does from a native function (no position when
    /// the native function was called by another native one, as `pcall(f)`).
    pub fn error(&self, msg: impl AsRef<[u8]>) -> LuaError {
        let n = self.calls.len();
        let at = match self.calls.last() {
            Some(CallInfo { func: None, .. }) if n >= 2 => self.position(n - 2),
            Some(_) => self.position(n - 1),
            None => None,
        };
        Self::positioned(at, msg.as_ref())
    }

    /// The chunk name and current line of the Lua function `level` frames up (1: the innermost
    /// Lua function running), as `luaL_where`.
    pub fn where_(&self, level: usize) -> Option<(String, u32)> {
        let i = (0..self.calls.len())
            .rev()
            .filter(|&i| self.calls[i].func.is_some())
            .nth(level.checked_sub(1)?)?;
        self.position(i)
    }

    /// The position of the function `level` calls below the running native one (1: its
    /// caller), None when that is a native function or there is none: what `error(msg,
    /// level)` prefixes.
    pub fn caller_where(&self, level: usize) -> Option<(String, u32)> {
        let i = self.calls.len().checked_sub(1 + level)?;
        self.position(i)
    }

    /// `tostring(v)`, honouring `__tostring`.
    pub fn tostring(&mut self, v: &Value) -> Result<LStr, LuaError> {
        let h = self.metamethod(v, Mm::ToString);
        if !h.is_nil() {
            let r = first(self.call(&h, vec![v.clone()])?);
            return Ok(match r.to_lstr() {
                Some(s) => s,
                None => Self::plain_tostring(&r),
            });
        }
        Ok(Self::plain_tostring(v))
    }

    /// `tostring(v)` without metamethods.
    pub fn plain_tostring(v: &Value) -> LStr {
        let s = match v {
            Value::Nil => "nil".to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Num(_) | Value::Str(_) => return v.to_lstr().expect("string or number"),
            Value::Table(t) => format!("table: {:p}", Rc::as_ptr(&t.0)),
            Value::Func(f) => match &*f.0 {
                Function::Native { .. } | Function::NativeWith { .. } => {
                    format!("function: builtin: {:p}", Rc::as_ptr(&f.0))
                }
                Function::Lua(_) => format!("function: {:p}", Rc::as_ptr(&f.0)),
            },
        };
        Rc::from(s.as_bytes())
    }

    /// The metatable of a value (tables and strings have one).
    pub fn metatable(&self, v: &Value) -> Option<TableRef> {
        match v {
            Value::Table(t) => t.0.borrow().meta.clone(),
            Value::Str(_) => self.lua.string_meta.clone(),
            _ => None,
        }
    }

    /// A value's metamethod for `mm`, nil when none.
    pub fn metamethod(&self, v: &Value, mm: Mm) -> Value {
        match self.metatable(v) {
            Some(m) => m.0.borrow().get(self.lua.mm_name(mm)),
            None => Value::Nil,
        }
    }

    /// `obj[key]` with `__index`.
    pub fn index(&mut self, obj: &Value, key: &Value) -> Result<Value, LuaError> {
        self.gettable(obj, key, None)
    }

    /// `obj[key] = v` with `__newindex` and the read-only check.
    pub fn set_index(&mut self, obj: &Value, key: Value, v: Value) -> Result<(), LuaError> {
        self.settable(obj, key, v, None)
    }

    /// `a < b` as Lua compares (numbers, strings, `__lt`), with Lua's errors.
    pub fn less_than(&mut self, a: &Value, b: &Value) -> Result<bool, LuaError> {
        self.lt(a, b)
    }

    /// `a == b` with `__eq`.
    pub fn equals(&mut self, a: &Value, b: &Value) -> Result<bool, LuaError> {
        self.eq(a, b)
    }

    /// Compiles `src` into a function value (what `loadstring` does).
    pub fn load(&mut self, src: &[u8], chunkname: &str) -> Result<Value, String> {
        let proto = crate::parse::parse_chunk(src, chunkname)?;
        Ok(Value::Func(self.closure(&proto, &[])))
    }

    /// A runtime error as the interpreter raises it: positioned at the running Lua function,
    /// none when a native function is running (luaG_runerror).
    pub fn runtime_error(&self, msg: impl AsRef<[u8]>) -> LuaError {
        let at = match self.calls.last() {
            Some(CallInfo { func: Some(_), .. }) => self.position(self.calls.len() - 1),
            _ => None,
        };
        Self::positioned(at, msg.as_ref())
    }

    // ---- internals ----

    fn positioned(at: Option<(String, u32)>, msg: &[u8]) -> LuaError {
        match at {
            Some((chunk, line)) => {
                let mut s = format!("{chunk}:{line}: ").into_bytes();
                s.extend_from_slice(msg);
                LuaError::Raise(Value::str(&s))
            }
            None => LuaError::msg(msg),
        }
    }

    /// `attempt to index <what>`: the object is named (`local 't'`) only when it is the
    /// expression indexed itself (`n == 0`), not a value reached through `__index`.
    fn index_error(&self, n: usize, desc: Option<(&Expr, &Closure)>, v: &Value) -> LuaError {
        let d = if n == 0 {
            desc.and_then(|(e, cl)| describe(e, cl))
        } else {
            None
        };
        self.runtime_error(format!("attempt to index {}", typed(d, v)))
    }

    /// Records where the error being returned was raised, if no call has yet.
    fn note_error_line(&mut self) {
        if self.lua.error_line.is_none() {
            self.lua.error_line = self.where_(1).map(|(_, line)| line);
        }
    }

    /// An error was caught (`pcall`): the next one records its own line.
    pub fn clear_error_line(&mut self) {
        self.lua.error_line = None;
    }

    fn position(&self, i: usize) -> Option<(String, u32)> {
        let ci = self.calls.get(i)?;
        match ci.func.as_ref().map(|f| &*f.0) {
            Some(Function::Lua(cl)) => Some((cl.proto.chunkname.to_string(), ci.line)),
            _ => None,
        }
    }

    #[inline]
    fn set_line(&mut self, line: u32) {
        if let Some(ci) = self.calls.last_mut() {
            ci.line = line;
        }
    }

    /// An error at `line` of the running Lua function.
    fn err_at(&mut self, line: u32, msg: String) -> LuaError {
        self.set_line(line);
        self.runtime_error(msg)
    }

    #[inline]
    fn tick(&mut self) -> Result<(), LuaError> {
        self.steps += 1;
        if self.steps >= POLL_EVERY {
            self.steps = 0;
            if let Some(reason) = self.host.interrupted() {
                return Err(LuaError::Kill(reason));
            }
        }
        Ok(())
    }

    fn consts_for(&mut self, p: &Arc<Proto>) -> Rc<[Value]> {
        let key = Arc::as_ptr(p) as usize;
        if let Some((_, c)) = self.lua.const_cache.get(&key) {
            return c.clone();
        }
        let c: Rc<[Value]> = p.consts.iter().map(|s| Value::str(s)).collect();
        self.lua.const_cache.insert(key, (p.clone(), c.clone()));
        c
    }

    fn closure(&mut self, p: &Arc<Proto>, upvals: &[Rc<RefCell<Value>>]) -> FuncRef {
        let consts = self.consts_for(p);
        FuncRef(Rc::new(Function::Lua(Closure {
            proto: p.clone(),
            upvals: upvals.to_vec(),
            consts,
        })))
    }

    fn make_closure(&mut self, p: &Arc<Proto>, fr: &mut Frame<'_>) -> Value {
        let mut ups = Vec::with_capacity(p.upvals.len());
        for u in &p.upvals {
            if u.from_local {
                let slot = &mut fr.slots[u.index];
                let cell = match slot {
                    Slot::B(b) => b.clone(),
                    Slot::V(v) => {
                        let b = new_cell(std::mem::take(v));
                        *slot = Slot::B(b.clone());
                        b
                    }
                };
                ups.push(cell);
            } else {
                ups.push(fr.cl.upvals[u.index].clone());
            }
        }
        let consts = self.consts_for(p);
        Value::Func(FuncRef(Rc::new(Function::Lua(Closure {
            proto: p.clone(),
            upvals: ups,
            consts,
        }))))
    }

    /// Resolves `__call`: the function to call and its arguments.
    fn callable(
        &mut self,
        f: Value,
        mut args: Vec<Value>,
        desc: impl FnOnce() -> Option<String>,
    ) -> Result<(FuncRef, Vec<Value>), LuaError> {
        match f {
            Value::Func(f) => Ok((f, args)),
            other => match self.metamethod(&other, Mm::Call) {
                Value::Func(h) => {
                    args.insert(0, other);
                    Ok((h, args))
                }
                _ => Err(self.runtime_error(format!("attempt to call {}", typed(desc(), &other)))),
            },
        }
    }

    /// Calls a function, with the depth limit and tail calls.
    fn call_func(&mut self, f: &FuncRef, args: Vec<Value>) -> Ret {
        if self.calls.len() >= self.lua.max_depth {
            return Err(self.runtime_error("stack overflow"));
        }
        self.tick()?;
        let mut f = f.clone();
        let mut args = args;
        loop {
            match &*f.0 {
                Function::Native { f: nf, .. } => {
                    self.calls.push(CallInfo {
                        func: None,
                        line: 0,
                    });
                    let r = nf(self, args);
                    self.calls.pop();
                    if r.is_err() {
                        self.note_error_line();
                    }
                    return r;
                }
                Function::NativeWith { f: nf, data, .. } => {
                    self.calls.push(CallInfo {
                        func: None,
                        line: 0,
                    });
                    let r = nf(self, data, args);
                    self.calls.pop();
                    if r.is_err() {
                        self.note_error_line();
                    }
                    return r;
                }
                Function::Lua(cl) => {
                    self.calls.push(CallInfo {
                        func: Some(f.clone()),
                        line: cl.proto.line,
                    });
                    let r = self.run_closure(cl, args);
                    if r.is_err() {
                        self.note_error_line();
                    }
                    self.calls.pop();
                    match r? {
                        Flow::Tail(nf, nargs) => {
                            self.tick()?;
                            f = nf;
                            args = nargs;
                        }
                        Flow::Return(v) => return Ok(v),
                        _ => return Ok(Vec::new()),
                    }
                }
            }
        }
    }

    fn run_closure(&mut self, cl: &Closure, mut args: Vec<Value>) -> Result<Flow, LuaError> {
        let p = &*cl.proto;
        let mut slots = Vec::with_capacity(p.nslots);
        let varargs = if p.is_vararg && args.len() > p.nparams {
            args.split_off(p.nparams)
        } else {
            Vec::new()
        };
        let mut it = args.into_iter();
        for i in 0..p.nparams {
            let v = it.next().unwrap_or_default();
            slots.push(if p.captured[i] {
                Slot::B(new_cell(v))
            } else {
                Slot::V(v)
            });
        }
        let mut varargs = varargs;
        if p.needs_arg {
            let n = varargs.len();
            let mut t = Table::new();
            for (i, v) in std::mem::take(&mut varargs).into_iter().enumerate() {
                let _ = t.set(Value::Num((i + 1) as f64), v);
            }
            t.set_str("n", Value::Num(n as f64));
            let v = Value::Table(TableRef::new(t));
            slots.push(if p.captured[p.nparams] {
                Slot::B(new_cell(v))
            } else {
                Slot::V(v)
            });
        }
        while slots.len() < p.nslots {
            slots.push(Slot::V(Value::Nil));
        }
        let mut fr = Frame { slots, varargs, cl };
        self.exec_block(&p.body, &mut fr)
    }

    // ---- statements ----

    fn exec_block(&mut self, b: &[Stat], fr: &mut Frame<'_>) -> Result<Flow, LuaError> {
        for s in b {
            match self.exec(s, fr)? {
                Flow::Normal => {}
                other => return Ok(other),
            }
        }
        Ok(Flow::Normal)
    }

    /// Runs a loop body: Some(flow) when the loop must end with it.
    #[inline]
    fn loop_body(&mut self, b: &[Stat], fr: &mut Frame<'_>) -> Result<Option<Flow>, LuaError> {
        self.tick()?;
        match self.exec_block(b, fr)? {
            Flow::Normal => Ok(None),
            Flow::Break => Ok(Some(Flow::Normal)),
            other => Ok(Some(other)),
        }
    }

    fn set_local(fr: &mut Frame<'_>, slot: usize, v: Value) {
        match &mut fr.slots[slot] {
            Slot::V(x) => *x = v,
            Slot::B(b) => *b.borrow_mut() = v,
        }
    }

    /// A local's declaration runs: a fresh cell when it is captured.
    fn init_local(fr: &mut Frame<'_>, slot: usize, v: Value) {
        fr.slots[slot] = if fr.cl.proto.captured[slot] {
            Slot::B(new_cell(v))
        } else {
            Slot::V(v)
        };
    }

    fn exec(&mut self, s: &Stat, fr: &mut Frame<'_>) -> Result<Flow, LuaError> {
        self.set_line(s.line);
        self.tick()?;
        match &s.kind {
            StatKind::Call(Expr::Call(c)) => {
                self.eval_call(c, fr)?;
            }
            StatKind::Call(_) => {}
            StatKind::Local(slots, exprs) => self.exec_local(slots, exprs, fr)?,
            StatKind::Assign(targets, exprs) => self.exec_assign(targets, exprs, fr)?,
            StatKind::Do(b) => return self.exec_block(b, fr),
            StatKind::While(cond, body) => loop {
                if !self.eval(cond, fr)?.truthy() {
                    break;
                }
                if let Some(f) = self.loop_body(body, fr)? {
                    return Ok(f);
                }
            },
            StatKind::Repeat(body, cond) => loop {
                if let Some(f) = self.loop_body(body, fr)? {
                    return Ok(f);
                }
                if self.eval(cond, fr)?.truthy() {
                    break;
                }
            },
            StatKind::If(conds, els) => {
                for (c, b) in conds {
                    if self.eval(c, fr)?.truthy() {
                        return self.exec_block(b, fr);
                    }
                }
                if let Some(b) = els {
                    return self.exec_block(b, fr);
                }
            }
            StatKind::NumFor(nf) => return self.exec_numfor(nf, s.line, fr),
            StatKind::GenFor(gf) => return self.exec_genfor(gf, s.line, fr),
            StatKind::LocalFunction(slot, p) => {
                Self::init_local(fr, *slot, Value::Nil);
                let f = self.make_closure(p, fr);
                Self::set_local(fr, *slot, f);
            }
            StatKind::Return(exprs) => return self.exec_return(exprs, fr),
            StatKind::Break => return Ok(Flow::Break),
        }
        Ok(Flow::Normal)
    }

    #[inline(never)]
    fn exec_local(
        &mut self,
        slots: &[usize],
        exprs: &[Expr],
        fr: &mut Frame<'_>,
    ) -> Result<(), LuaError> {
        if slots.len() == 1 && exprs.len() == 1 {
            let v = self.eval(&exprs[0], fr)?;
            Self::init_local(fr, slots[0], v);
        } else {
            let vals = self.eval_list(exprs, fr, slots.len())?;
            for (&s, v) in slots.iter().zip(vals) {
                Self::init_local(fr, s, v);
            }
        }
        Ok(())
    }

    #[inline(never)]
    fn exec_assign(
        &mut self,
        targets: &[Expr],
        exprs: &[Expr],
        fr: &mut Frame<'_>,
    ) -> Result<(), LuaError> {
        if targets.len() == 1 && exprs.len() == 1 {
            let t = &targets[0];
            if let Expr::Index(b, line) = t {
                let obj = self.eval(&b.0, fr)?;
                let key = self.eval(&b.1, fr)?;
                let v = self.eval(&exprs[0], fr)?;
                self.set_line(*line);
                self.settable(&obj, key, v, Some((&b.0, fr.cl)))?;
            } else {
                let v = self.eval(&exprs[0], fr)?;
                self.assign(t, None, v, fr)?;
            }
            return Ok(());
        }
        let mut places = Vec::with_capacity(targets.len());
        for t in targets {
            places.push(match t {
                Expr::Index(b, _) => {
                    let obj = self.eval(&b.0, fr)?;
                    let key = self.eval(&b.1, fr)?;
                    Some((obj, key))
                }
                _ => None,
            });
        }
        let vals = self.eval_list(exprs, fr, targets.len())?;
        for ((t, place), v) in targets.iter().zip(places).zip(vals).rev() {
            self.assign(t, place, v, fr)?;
        }
        Ok(())
    }

    #[inline(never)]
    fn exec_numfor(
        &mut self,
        nf: &crate::ast::NumFor,
        line: u32,
        fr: &mut Frame<'_>,
    ) -> Result<Flow, LuaError> {
        let num = |st: &mut Self, v: Value, what: &str| match v.to_number() {
            Some(n) => Ok(n),
            None => Err(st.err_at(line, format!("'for' {what} must be a number"))),
        };
        let v = self.eval(&nf.start, fr)?;
        let start = num(self, v, "initial value")?;
        let v = self.eval(&nf.limit, fr)?;
        let limit = num(self, v, "limit")?;
        let step = match &nf.step {
            Some(e) => {
                let v = self.eval(e, fr)?;
                num(self, v, "step")?
            }
            None => 1.0,
        };
        let mut i = start - step;
        loop {
            i += step;
            let go = if step > 0.0 { i <= limit } else { limit <= i };
            if !go {
                return Ok(Flow::Normal);
            }
            Self::init_local(fr, nf.var, Value::Num(i));
            if let Some(f) = self.loop_body(&nf.body, fr)? {
                return Ok(f);
            }
        }
    }

    #[inline(never)]
    fn exec_genfor(
        &mut self,
        gf: &crate::ast::GenFor,
        line: u32,
        fr: &mut Frame<'_>,
    ) -> Result<Flow, LuaError> {
        let mut init = self.eval_list(&gf.exprs, fr, 3)?.into_iter();
        let f = init.next().unwrap_or_default();
        let state = init.next().unwrap_or_default();
        let mut ctl = init.next().unwrap_or_default();
        loop {
            self.set_line(line);
            let (func, args) = self.callable(f.clone(), vec![state.clone(), ctl], || None)?;
            let r = self.call_func(&func, args)?;
            let mut r = r.into_iter();
            let v0 = r.next().unwrap_or_default();
            if v0.is_nil() {
                return Ok(Flow::Normal);
            }
            ctl = v0.clone();
            Self::init_local(fr, gf.vars[0], v0);
            for &slot in &gf.vars[1..] {
                Self::init_local(fr, slot, r.next().unwrap_or_default());
            }
            if let Some(f) = self.loop_body(&gf.body, fr)? {
                return Ok(f);
            }
        }
    }

    #[inline(never)]
    fn exec_return(&mut self, exprs: &[Expr], fr: &mut Frame<'_>) -> Result<Flow, LuaError> {
        if let [Expr::Call(c)] = exprs {
            let (f, args) = self.prepare_call(c, fr)?;
            // Only Lua functions replace the caller's frame: a native one runs on top of it
            // (its errors are positioned at this line).
            if !matches!(&*f.0, Function::Lua(_)) {
                return Ok(Flow::Return(self.call_func(&f, args)?));
            }
            return Ok(Flow::Tail(f, args));
        }
        let mut out = Vec::with_capacity(exprs.len());
        self.eval_multi(exprs, fr, &mut out)?;
        Ok(Flow::Return(out))
    }

    fn assign(
        &mut self,
        t: &Expr,
        place: Option<(Value, Value)>,
        v: Value,
        fr: &mut Frame<'_>,
    ) -> Result<(), LuaError> {
        match t {
            Expr::Local(s) => Self::set_local(fr, *s, v),
            Expr::Upval(u) => *fr.cl.upvals[*u].borrow_mut() = v,
            Expr::Global(c) => {
                let g = Value::Table(self.lua.globals.clone());
                let k = fr.cl.consts[*c].clone();
                self.settable(&g, k, v, None)?;
            }
            Expr::Index(b, line) => {
                let (obj, key) = match place {
                    Some(p) => p,
                    None => (self.eval(&b.0, fr)?, self.eval(&b.1, fr)?),
                };
                self.set_line(*line);
                self.settable(&obj, key, v, Some((&b.0, fr.cl)))?;
            }
            _ => unreachable!("the parser checks assignment targets"),
        }
        Ok(())
    }

    // ---- expressions ----

    /// Evaluates a list to exactly `want` values (the last expression expands).
    fn eval_list(
        &mut self,
        exprs: &[Expr],
        fr: &mut Frame<'_>,
        want: usize,
    ) -> Result<Vec<Value>, LuaError> {
        let mut out = Vec::with_capacity(want.max(exprs.len()));
        self.eval_multi(exprs, fr, &mut out)?;
        out.resize(want, Value::Nil);
        Ok(out)
    }

    /// Evaluates a list, the last expression giving all its values.
    fn eval_multi(
        &mut self,
        exprs: &[Expr],
        fr: &mut Frame<'_>,
        out: &mut Vec<Value>,
    ) -> Result<(), LuaError> {
        let Some((last, init)) = exprs.split_last() else {
            return Ok(());
        };
        for e in init {
            let v = self.eval(e, fr)?;
            out.push(v);
        }
        match last {
            Expr::Call(c) => out.extend(self.eval_call(c, fr)?),
            Expr::Vararg => out.extend(fr.varargs.iter().cloned()),
            e => {
                let v = self.eval(e, fr)?;
                out.push(v);
            }
        }
        Ok(())
    }

    /// The function and arguments of a call expression, `__call` resolved.
    fn prepare_call(
        &mut self,
        c: &CallExpr,
        fr: &mut Frame<'_>,
    ) -> Result<(FuncRef, Vec<Value>), LuaError> {
        let cl = fr.cl;
        if let Some(m) = c.method {
            let obj = self.eval(&c.func, fr)?;
            let key = cl.consts[m].clone();
            self.set_line(c.line);
            let f = self.gettable(&obj, &key, Some((&c.func, cl)))?;
            let mut args = Vec::with_capacity(c.args.len() + 1);
            args.push(obj);
            self.eval_multi(&c.args, fr, &mut args)?;
            self.set_line(c.line);
            let name = &cl.proto.consts[m];
            self.callable(f, args, || {
                Some(format!("method '{}'", String::from_utf8_lossy(name)))
            })
        } else {
            let f = self.eval(&c.func, fr)?;
            let mut args = Vec::with_capacity(c.args.len());
            self.eval_multi(&c.args, fr, &mut args)?;
            self.set_line(c.line);
            self.callable(f, args, || describe(&c.func, cl))
        }
    }

    fn eval_call(&mut self, c: &CallExpr, fr: &mut Frame<'_>) -> Ret {
        let (f, args) = self.prepare_call(c, fr)?;
        self.call_func(&f, args)
    }

    fn eval(&mut self, e: &Expr, fr: &mut Frame<'_>) -> Result<Value, LuaError> {
        Ok(match e {
            Expr::Nil => Value::Nil,
            Expr::True => Value::Bool(true),
            Expr::False => Value::Bool(false),
            Expr::Num(n) => Value::Num(*n),
            Expr::Str(i) => fr.cl.consts[*i].clone(),
            Expr::Vararg => fr.varargs.first().cloned().unwrap_or_default(),
            Expr::Local(s) => match &fr.slots[*s] {
                Slot::V(v) => v.clone(),
                Slot::B(b) => b.borrow().clone(),
            },
            Expr::Upval(u) => fr.cl.upvals[*u].borrow().clone(),
            Expr::Global(c) => self.eval_global(*c, fr)?,
            Expr::Index(b, line) => self.eval_index(b, *line, fr)?,
            Expr::Call(c) => first(self.eval_call(c, fr)?),
            Expr::Function(p) => self.make_closure(p, fr),
            Expr::Bin(op, b, line) => self.eval_bin(*op, b, *line, fr)?,
            Expr::Concat(parts, line) => self.eval_concat(parts, *line, fr)?,
            Expr::And(b) => {
                let x = self.eval(&b.0, fr)?;
                if !x.truthy() {
                    x
                } else {
                    self.eval(&b.1, fr)?
                }
            }
            Expr::Or(b) => {
                let x = self.eval(&b.0, fr)?;
                if x.truthy() {
                    x
                } else {
                    self.eval(&b.1, fr)?
                }
            }
            Expr::Un(op, inner, line) => self.eval_un(*op, inner, *line, fr)?,
            Expr::Paren(inner) => self.eval(inner, fr)?,
            Expr::Table(tc) => self.eval_table(tc, fr)?,
        })
    }

    #[inline(never)]
    fn eval_global(&mut self, c: usize, fr: &mut Frame<'_>) -> Result<Value, LuaError> {
        let k = &fr.cl.consts[c];
        let v = self.lua.globals.0.borrow().get(k);
        if !v.is_nil() {
            return Ok(v);
        }
        let g = Value::Table(self.lua.globals.clone());
        self.gettable(&g, k, None)
    }

    #[inline(never)]
    fn eval_index(
        &mut self,
        b: &(Expr, Expr),
        line: u32,
        fr: &mut Frame<'_>,
    ) -> Result<Value, LuaError> {
        let obj = self.eval(&b.0, fr)?;
        let key = self.eval(&b.1, fr)?;
        if let Value::Table(t) = &obj {
            let t = t.0.borrow();
            let v = t.get(&key);
            if !v.is_nil() || t.meta.is_none() {
                return Ok(v);
            }
        }
        self.set_line(line);
        self.gettable(&obj, &key, Some((&b.0, fr.cl)))
    }

    #[inline(never)]
    fn eval_bin(
        &mut self,
        op: BinOp,
        b: &(Expr, Expr),
        line: u32,
        fr: &mut Frame<'_>,
    ) -> Result<Value, LuaError> {
        let x = self.eval(&b.0, fr)?;
        let y = self.eval(&b.1, fr)?;
        if let (Value::Num(p), Value::Num(q)) = (&x, &y) {
            let (p, q) = (*p, *q);
            return Ok(match op {
                BinOp::Eq => Value::Bool(p == q),
                BinOp::Ne => Value::Bool(p != q),
                BinOp::Lt => Value::Bool(p < q),
                BinOp::Le => Value::Bool(p <= q),
                BinOp::Gt => Value::Bool(p > q),
                BinOp::Ge => Value::Bool(p >= q),
                op => Value::Num(arith_num(op, p, q)),
            });
        }
        self.set_line(line);
        Ok(match op {
            BinOp::Eq => Value::Bool(self.eq(&x, &y)?),
            BinOp::Ne => Value::Bool(!self.eq(&x, &y)?),
            BinOp::Lt => Value::Bool(self.lt(&x, &y)?),
            BinOp::Le => Value::Bool(self.le(&x, &y)?),
            BinOp::Gt => Value::Bool(self.lt(&y, &x)?),
            BinOp::Ge => Value::Bool(self.le(&y, &x)?),
            op => self.arith(op, &x, &y, Some((&b.0, &b.1, fr.cl)))?,
        })
    }

    #[inline(never)]
    fn eval_concat(
        &mut self,
        parts: &[Expr],
        line: u32,
        fr: &mut Frame<'_>,
    ) -> Result<Value, LuaError> {
        let mut vals = Vec::with_capacity(parts.len());
        for p in parts {
            vals.push(self.eval(p, fr)?);
        }
        self.set_line(line);
        self.concat(vals, Some((parts, fr.cl)))
    }

    #[inline(never)]
    fn eval_un(
        &mut self,
        op: UnOp,
        inner: &Expr,
        line: u32,
        fr: &mut Frame<'_>,
    ) -> Result<Value, LuaError> {
        let x = self.eval(inner, fr)?;
        Ok(match op {
            UnOp::Not => Value::Bool(!x.truthy()),
            UnOp::Neg => {
                if let Value::Num(n) = x {
                    return Ok(Value::Num(-n));
                }
                self.set_line(line);
                self.unm(&x, Some((inner, fr.cl)))?
            }
            UnOp::Len => match &x {
                Value::Str(s) => Value::Num(s.len() as f64),
                Value::Table(t) => Value::Num(t.0.borrow().len() as f64),
                _ => {
                    let msg = format!(
                        "attempt to get length of {}",
                        typed(describe(inner, fr.cl), &x)
                    );
                    return Err(self.err_at(line, msg));
                }
            },
        })
    }

    /// A table constructor as Lua 5.1 runs one: the table made with the sizes the
    /// constructor asks for, fields evaluated in order, named ones stored at once and
    /// positional ones in batches of 50 (Lua's `OP_SETLIST`), a last call or `...` giving
    /// all its values.
    #[inline(never)]
    fn eval_table(
        &mut self,
        tc: &crate::ast::TableCons,
        fr: &mut Frame<'_>,
    ) -> Result<Value, LuaError> {
        use crate::ast::Field;
        /// Lua's `LFIELDS_PER_FLUSH`.
        const BATCH: usize = 50;
        let multi_last = matches!(tc.fields.last(), Some(Field::Pos(e)) if e.is_multi());
        let named = tc
            .fields
            .iter()
            .filter(|f| matches!(f, Field::Named(..)))
            .count();
        let positional = tc.fields.len() - named - multi_last as usize;
        let mut t = Table::with_constructor_sizes(positional, named);
        let mut pending = Vec::new();
        let mut stored = 0;
        for (i, f) in tc.fields.iter().enumerate() {
            if pending.len() == BATCH {
                t.set_list(stored + 1, std::mem::take(&mut pending));
                stored += BATCH;
            }
            match f {
                Field::Pos(e) if multi_last && i + 1 == tc.fields.len() => {
                    self.eval_multi(std::slice::from_ref(e), fr, &mut pending)?;
                }
                Field::Pos(e) => {
                    let v = self.eval(e, fr)?;
                    pending.push(v);
                }
                Field::Named(k, v) => {
                    let k = self.eval(k, fr)?;
                    let v = self.eval(v, fr)?;
                    if let Err(m) = t.set(k, v) {
                        return Err(self.err_at(tc.line, m.to_string()));
                    }
                }
            }
        }
        if !pending.is_empty() || multi_last {
            t.set_list(stored + 1, pending);
        }
        Ok(Value::Table(TableRef::new(t)))
    }

    // ---- operations with metamethods ----

    fn gettable(
        &mut self,
        obj: &Value,
        key: &Value,
        desc: Option<(&Expr, &Closure)>,
    ) -> Result<Value, LuaError> {
        let mut cur = obj.clone();
        for n in 0..MAX_TAG_LOOP {
            let h = match &cur {
                Value::Table(t) => {
                    let t = t.0.borrow();
                    let v = t.get(key);
                    if !v.is_nil() {
                        return Ok(v);
                    }
                    match &t.meta {
                        None => return Ok(Value::Nil),
                        Some(m) => {
                            let h = m.0.borrow().get(self.lua.mm_name(Mm::Index));
                            if h.is_nil() {
                                return Ok(Value::Nil);
                            }
                            h
                        }
                    }
                }
                other => {
                    let h = self.metamethod(other, Mm::Index);
                    if h.is_nil() {
                        return Err(self.index_error(n, desc, other));
                    }
                    h
                }
            };
            if let Value::Func(_) = h {
                return Ok(first(self.call(&h, vec![cur, key.clone()])?));
            }
            cur = h;
        }
        Err(self.runtime_error("loop in gettable"))
    }

    fn settable(
        &mut self,
        obj: &Value,
        key: Value,
        v: Value,
        desc: Option<(&Expr, &Closure)>,
    ) -> Result<(), LuaError> {
        let mut cur = obj.clone();
        for n in 0..MAX_TAG_LOOP {
            let h = match &cur {
                Value::Table(t) => {
                    let mut tb = t.0.borrow_mut();
                    if tb.readonly {
                        drop(tb);
                        return Err(self.runtime_error("Attempt to modify a readonly table"));
                    }
                    let h = match &tb.meta {
                        None => Value::Nil,
                        Some(m) => {
                            if tb.get(&key).is_nil() {
                                m.0.borrow().get(self.lua.mm_name(Mm::NewIndex))
                            } else {
                                Value::Nil
                            }
                        }
                    };
                    if h.is_nil() {
                        let r = tb.set(key, v);
                        drop(tb);
                        return r.map_err(|m| self.runtime_error(m));
                    }
                    h
                }
                other => {
                    let h = self.metamethod(other, Mm::NewIndex);
                    if h.is_nil() {
                        return Err(self.index_error(n, desc, other));
                    }
                    h
                }
            };
            if let Value::Func(_) = h {
                self.call(&h, vec![cur, key, v])?;
                return Ok(());
            }
            cur = h;
        }
        Err(self.runtime_error("loop in settable"))
    }

    fn arith(
        &mut self,
        op: BinOp,
        a: &Value,
        b: &Value,
        desc: Option<(&Expr, &Expr, &Closure)>,
    ) -> Result<Value, LuaError> {
        if let (Some(x), Some(y)) = (a.to_number(), b.to_number()) {
            return Ok(Value::Num(arith_num(op, x, y)));
        }
        let ev = arith_event(op);
        let mut h = self.metamethod(a, ev);
        if h.is_nil() {
            h = self.metamethod(b, ev);
        }
        if h.is_nil() {
            let (bad, d) = if a.to_number().is_some() {
                (b, desc.and_then(|(_, e, cl)| describe(e, cl)))
            } else {
                (a, desc.and_then(|(e, _, cl)| describe(e, cl)))
            };
            return Err(self.runtime_error(format!(
                "attempt to perform arithmetic on {}",
                typed(d, bad)
            )));
        }
        Ok(first(self.call(&h, vec![a.clone(), b.clone()])?))
    }

    fn unm(&mut self, a: &Value, desc: Option<(&Expr, &Closure)>) -> Result<Value, LuaError> {
        if let Some(x) = a.to_number() {
            return Ok(Value::Num(-x));
        }
        let h = self.metamethod(a, Mm::Unm);
        if h.is_nil() {
            let d = desc.and_then(|(e, cl)| describe(e, cl));
            return Err(
                self.runtime_error(format!("attempt to perform arithmetic on {}", typed(d, a)))
            );
        }
        Ok(first(self.call(&h, vec![a.clone(), a.clone()])?))
    }

    fn concat(
        &mut self,
        mut vals: Vec<Value>,
        desc: Option<(&[Expr], &Closure)>,
    ) -> Result<Value, LuaError> {
        let is_sn = |v: &Value| matches!(v, Value::Str(_) | Value::Num(_));
        if vals.iter().all(is_sn) {
            let mut out = Vec::new();
            for v in &vals {
                match v {
                    Value::Str(s) => out.extend_from_slice(s),
                    Value::Num(n) => out.extend_from_slice(&crate::number::format(*n)),
                    _ => {}
                }
                if out.len() > crate::stringlib::MAX_STRING {
                    return Err(crate::stringlib::no_memory());
                }
            }
            return Ok(Value::str(&out));
        }
        let n = vals.len();
        let mut acc = vals.pop().unwrap_or_default();
        let mut acc_orig = true;
        for i in (0..n - 1).rev() {
            let a = std::mem::take(&mut vals[i]);
            if is_sn(&a) && is_sn(&acc) {
                let mut s = a.to_lstr().expect("string or number").to_vec();
                s.extend_from_slice(&acc.to_lstr().expect("string or number"));
                if s.len() > crate::stringlib::MAX_STRING {
                    return Err(crate::stringlib::no_memory());
                }
                acc = Value::str(&s);
            } else {
                let mut h = self.metamethod(&a, Mm::Concat);
                if h.is_nil() {
                    h = self.metamethod(&acc, Mm::Concat);
                }
                if h.is_nil() {
                    let (bad, idx) = if is_sn(&a) { (&acc, i + 1) } else { (&a, i) };
                    let d = match desc {
                        Some((parts, cl)) if idx == i || acc_orig => describe(&parts[idx], cl),
                        _ => None,
                    };
                    return Err(
                        self.runtime_error(format!("attempt to concatenate {}", typed(d, bad)))
                    );
                }
                acc = first(self.call(&h, vec![a, acc])?);
            }
            acc_orig = false;
        }
        Ok(acc)
    }

    fn eq(&mut self, a: &Value, b: &Value) -> Result<bool, LuaError> {
        if a.raw_eq(b) {
            return Ok(true);
        }
        if let (Value::Table(_), Value::Table(_)) = (a, b) {
            let h1 = self.metamethod(a, Mm::Eq);
            if h1.is_nil() {
                return Ok(false);
            }
            let h2 = self.metamethod(b, Mm::Eq);
            if !h1.raw_eq(&h2) {
                return Ok(false);
            }
            return Ok(first(self.call(&h1, vec![a.clone(), b.clone()])?).truthy());
        }
        Ok(false)
    }

    fn order_error(&self, a: &Value, b: &Value) -> LuaError {
        let (t1, t2) = (a.type_name(), b.type_name());
        if t1 == t2 {
            self.runtime_error(format!("attempt to compare two {t1} values"))
        } else {
            self.runtime_error(format!("attempt to compare {t1} with {t2}"))
        }
    }

    /// Calls the order metamethod `mm` when both operands share it.
    fn order_mm(&mut self, a: &Value, b: &Value, mm: Mm) -> Result<Option<bool>, LuaError> {
        if a.type_name() != b.type_name() {
            return Ok(None);
        }
        let h1 = self.metamethod(a, mm);
        if h1.is_nil() {
            return Ok(None);
        }
        let h2 = self.metamethod(b, mm);
        if !h1.raw_eq(&h2) {
            return Ok(None);
        }
        Ok(Some(
            first(self.call(&h1, vec![a.clone(), b.clone()])?).truthy(),
        ))
    }

    fn lt(&mut self, a: &Value, b: &Value) -> Result<bool, LuaError> {
        match (a, b) {
            (Value::Num(x), Value::Num(y)) => Ok(x < y),
            (Value::Str(x), Value::Str(y)) => Ok(x < y),
            _ => match self.order_mm(a, b, Mm::Lt)? {
                Some(r) => Ok(r),
                None => Err(self.order_error(a, b)),
            },
        }
    }

    fn le(&mut self, a: &Value, b: &Value) -> Result<bool, LuaError> {
        match (a, b) {
            (Value::Num(x), Value::Num(y)) => Ok(x <= y),
            (Value::Str(x), Value::Str(y)) => Ok(x <= y),
            _ => {
                if let Some(r) = self.order_mm(a, b, Mm::Le)? {
                    return Ok(r);
                }
                match self.order_mm(b, a, Mm::Lt)? {
                    Some(r) => Ok(!r),
                    None => Err(self.order_error(a, b)),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::Reply;

    pub(crate) struct TestHost {
        pub polls: usize,
        pub kill_after: Option<usize>,
    }

    impl Host for TestHost {
        fn call(&mut self, _args: Vec<Vec<u8>>, _resp: u8) -> Reply {
            Reply::Status(b"OK".to_vec())
        }
        fn log(&mut self, _level: i64, _msg: &[u8]) {}
        fn interrupted(&mut self) -> Option<String> {
            self.polls += 1;
            match self.kill_after {
                Some(n) if self.polls >= n => Some("killed".into()),
                _ => None,
            }
        }
    }

    fn show(v: &Value) -> String {
        match v {
            Value::Nil => "nil".into(),
            Value::Bool(b) => b.to_string(),
            Value::Num(n) if n.fract() == 0.0 && n.abs() < 1e15 => format!("{}", *n as i64),
            Value::Num(n) => format!("{n}"),
            Value::Str(s) => String::from_utf8_lossy(s).into_owned(),
            Value::Table(_) => "table".into(),
            Value::Func(_) => "function".into(),
        }
    }

    fn run_with(lua: &mut Lua, src: &str, host: &mut TestHost) -> String {
        let chunk = match Lua::compile(src.as_bytes(), "user_script") {
            Ok(c) => c,
            Err(e) => return format!("COMPILE:{e}"),
        };
        match lua.run(&chunk, host) {
            Ok(v) => v.iter().map(show).collect::<Vec<_>>().join(","),
            Err(LuaError::Raise(v)) => format!("ERR:{}", show(&v)),
            Err(LuaError::Kill(r)) => format!("KILL:{r}"),
        }
    }

    fn run(src: &str) -> String {
        let mut lua = Lua::new();
        run_with(
            &mut lua,
            src,
            &mut TestHost {
                polls: 0,
                kill_after: None,
            },
        )
    }

    /// A chunk's string constants are made once per state and shared by its runs (and the
    /// functions it makes); past CONST_CACHE_MAX prototypes the cache starts over.
    #[test]
    fn constants_are_kept_from_run_to_run_within_a_bound() {
        let mut lua = Lua::new();
        let mut host = TestHost {
            polls: 0,
            kill_after: None,
        };
        let chunk = Lua::compile(
            b"local f = function() return 'b' end return 'a' .. f()",
            "t",
        )
        .expect("compiles");
        for _ in 0..3 {
            let r = lua.run(&chunk, &mut host).expect("runs");
            assert_eq!(show(&r[0]), "ab");
        }
        assert_eq!(lua.const_cache.len(), 2, "the chunk and its inner function");
        let first = lua.const_cache.values().next().map(|(_, c)| c.clone());
        lua.run(&chunk, &mut host).expect("runs");
        let again = lua.const_cache.values().next().map(|(_, c)| c.clone());
        assert!(Rc::ptr_eq(&first.unwrap(), &again.unwrap()), "made again");
        for i in 0..CONST_CACHE_MAX * 2 {
            let src = format!("return '{i}'");
            assert_eq!(run_with(&mut lua, &src, &mut host), i.to_string());
            assert!(lua.const_cache.len() <= CONST_CACHE_MAX + 1);
        }
    }

    /// Runs `f` on a thread with room for 200 levels of debug-build recursion.
    fn big_stack(f: fn()) {
        std::thread::Builder::new()
            .stack_size(32 << 20)
            .spawn(f)
            .expect("spawn")
            .join()
            .expect("no panic");
    }

    #[test]
    fn scripts() {
        big_stack(scripts_table);
    }

    fn scripts_table() {
        let cases: &[(&str, &str)] = &[
            ("return 1, 'a', nil, true", "1,a,nil,true"),
            ("local a, b, c = 1, 2 return a, b, c", "1,2,nil"),
            ("local function f() return 1, 2, 3 end return f()", "1,2,3"),
            ("local function f() return 1, 2, 3 end return (f())", "1"),
            ("local function f() return 1, 2, 3 end return f(), 10", "1,10"),
            ("local function f() return 1, 2, 3 end local t = {f(), f()} return #t", "4"),
            ("local function f(...) return select('#', ...) end return f(nil, nil)", "2"),
            ("local function f(...) return select(2, ...) end return f(1, 2, 3)", "2,3"),
            ("local function f(...) return select(-1, ...) end return f(1, 2, 3)", "3"),
            ("local function f(...) local a, b = ... return b end return f(1, 2)", "2"),
            ("local function f(...) return arg.n, arg[2] end return f(5, 6)", "2,6"),
            // closures in loops capture distinct variables
            (
                "local fs = {} for i = 1, 3 do fs[i] = function() return i end end \
                 return fs[1](), fs[2](), fs[3]()",
                "1,2,3",
            ),
            (
                "local fs = {} local j = 0 while j < 3 do j = j + 1 local k = j \
                 fs[j] = function() k = k + 10 return k end end \
                 return fs[1](), fs[1](), fs[2]()",
                "11,21,12",
            ),
            (
                "local function counter() local n = 0 return function() n = n + 1 return n end end \
                 local c1, c2 = counter(), counter() c1() c1() return c1(), c2()",
                "3,1",
            ),
            (
                "local x = 1 local function f() return function() x = x + 1 return x end end \
                 local g = f() g() return g(), x",
                "3,3",
            ),
            // multiple assignment: evaluate everything, then assign
            ("local a, b = 1, 2 a, b = b, a return a, b", "2,1"),
            ("local t = {} local i = 1 i, t[i] = i + 1, 20 return i, t[1], t[2]", "2,20,nil"),
            ("local t = {} t[1], t[1] = 1, 2 return t[1]", "1"),
            // repeat sees the body's locals
            ("local n = 0 repeat local done = n >= 3 n = n + 1 until done return n", "4"),
            // numeric for
            ("local s = 0 for i = 10, 1, -3 do s = s + i end return s", "22"),
            ("local n = 0 for i = 1, 0 do n = n + 1 end return n", "0"),
            ("local n = 0 for i = 1, 2, 0.5 do n = n + 1 end return n", "3"),
            ("local n = 0 for i = 0.1, 1, 0.1 do n = n + 1 end return n", "10"),
            ("for i = 1, 3 do local x = i end return i", "ERR:user_script:1: Script attempted to access nonexistent global variable 'i'"),
            ("for i = 'a', 2 do end", "ERR:user_script:1: 'for' initial value must be a number"),
            ("for i = 1, {} do end", "ERR:user_script:1: 'for' limit must be a number"),
            ("local n = 0 for i = 1, 3, 0 do n = n + 1 end return n", "0"),
            ("local n = 0 for i = 3, 1, 0 do n = n + 1 if n == 5 then break end end return n", "5"),
            // generic for
            ("local s = 0 for i, v in ipairs({5, 6, 7}) do s = s + i * v end return s", "38"),
            ("local n = 0 for k, v in pairs({a = 1, b = 2, 3}) do n = n + 1 end return n", "3"),
            ("local t = {} for k in pairs({x = 1}) do t[#t + 1] = k end return t[1]", "x"),
            ("for k in nil do end", "ERR:user_script:1: attempt to call a nil value"),
            // while / break / nested functions
            ("local i = 0 while true do i = i + 1 if i > 5 then break end end return i", "6"),
            ("local function fib(n) if n < 2 then return n end return fib(n-1) + fib(n-2) end return fib(15)", "610"),
            // and/or/not
            ("return nil or 'x', false and 1, 1 and 2, not nil, not 0", "x,false,2,true,false"),
            // comparisons
            ("return 1 < 2, 'a' < 'b', 'b' <= 'a', 2 >= 2, 1 == 1, 'a' ~= 'a'", "true,true,false,true,true,false"),
            ("return {} < {}", "ERR:user_script:1: attempt to compare two table values"),
            ("return 1 < '2'", "ERR:user_script:1: attempt to compare number with string"),
            ("return 1 > nil", "ERR:user_script:1: attempt to compare nil with number"),
            ("return 1 == '1', {} == {}", "false,false"),
            // arithmetic
            ("return 7 % 3, -7 % 3, 7 % -3, 2 ^ 10, 7 / 2", "1,2,-2,1024,3.5"),
            ("return 1 + {}", "ERR:user_script:1: attempt to perform arithmetic on a table value"),
            ("local x = 'abc' return x + 1", "ERR:user_script:1: attempt to perform arithmetic on local 'x' (a string value)"),
            ("local t = {} return t.x * 2", "ERR:user_script:1: attempt to perform arithmetic on field 'x' (a nil value)"),
            ("return -{}", "ERR:user_script:1: attempt to perform arithmetic on a table value"),
            ("return #nil", "ERR:user_script:1: attempt to get length of a nil value"),
            ("return #'abc', #{1, 2, nil, 4}", "3,4"),
            // indexing errors
            ("local t = nil; return t.x", "ERR:user_script:1: attempt to index local 't' (a nil value)"),
            ("local t = {} t.x.y = 1", "ERR:user_script:1: attempt to index field 'x' (a nil value)"),
            ("local t = {} return t[1].x", "ERR:user_script:1: attempt to index field '?' (a nil value)"),
            ("local up; local function g() return up.x end return g()", "ERR:user_script:1: attempt to index upvalue 'up' (a nil value)"),
            ("local t = setmetatable({}, {__index = 5}) return t.x", "ERR:user_script:1: attempt to index a number value"),
            ("local t = {} t[nil] = 1", "ERR:user_script:1: table index is nil"),
            ("local t = {} t[0/0] = 1", "ERR:user_script:1: table index is NaN"),
            // calls
            ("return ('x')()", "ERR:user_script:1: attempt to call a string value"),
            ("local t = {} t.f()", "ERR:user_script:1: attempt to call field 'f' (a nil value)"),
            ("local t = {} t:m()", "ERR:user_script:1: attempt to call method 'm' (a nil value)"),
            ("local f f()", "ERR:user_script:1: attempt to call local 'f' (a nil value)"),
            ("local o = {n = 5} function o:get(k) return self.n + k end return o:get(1)", "6"),
            ("local a = {b = {}} function a.b.c(x) return x * 2 end return a.b.c(4)", "8"),
            // globals protection
            ("return y", "ERR:user_script:1: Script attempted to access nonexistent global variable 'y'"),
            ("x = 1", "ERR:user_script:1: Attempt to modify a readonly table"),
            ("print(1)", "ERR:user_script:1: Script attempted to access nonexistent global variable 'print'"),
            ("table.x = 1", "ERR:user_script:1: Attempt to modify a readonly table"),
            ("rawset(_G, 'x', 1)", "ERR:Attempt to modify a readonly table"),
            ("setmetatable(_G, {})", "ERR:Attempt to modify a readonly table"),
            ("return rawget(_G, 'nope') == nil, type(getmetatable(_G))", "true,table"),
            ("return _VERSION, _G == _G._G", "Lua 5.1,true"),
            // metatables
            (
                "local t = setmetatable({}, {__index = function(t, k) return k .. '!' end}) return t.x",
                "x!",
            ),
            (
                "local log = {} local t = setmetatable({}, {__newindex = function(t, k, v) rawset(t, k, v * 2) end}) \
                 t.a = 2 t.a = 5 return t.a",
                "5",
            ),
            (
                "local store = {} local t = setmetatable({}, {__newindex = store}) t.a = 1 return rawget(t, 'a'), store.a",
                "nil,1",
            ),
            (
                "local mt = {__add = function(a, b) return 'add' end, __eq = function() return true end, \
                 __lt = function() return true end, __le = function() return false end, \
                 __concat = function(a, b) return 'cat' end, __unm = function() return 'neg' end, \
                 __call = function(self, x) return x end} \
                 local a, b = setmetatable({}, mt), setmetatable({}, mt) \
                 return a + 1, a == b, a < b, a <= b, 'x' .. a, -a, a(9)",
                "add,true,true,false,cat,neg,9",
            ),
            (
                "local t = setmetatable({}, {__tostring = function() return 'T!' end}) return tostring(t)",
                "T!",
            ),
            (
                "local t = setmetatable({}, {__metatable = 'locked'}) return getmetatable(t), pcall(setmetatable, t, {})",
                "locked,false,cannot change a protected metatable",
            ),
            ("local s; return 'a' .. s", "ERR:user_script:1: attempt to concatenate local 's' (a nil value)"),
            ("local t = {} return 'a' .. t.x .. 'b'", "ERR:user_script:1: attempt to concatenate field 'x' (a nil value)"),
            ("return 'a' .. {}", "ERR:user_script:1: attempt to concatenate a table value"),
            // pcall / error
            ("return pcall(function() local t = nil; return t.x end)", "false,user_script:1: attempt to index local 't' (a nil value)"),
            ("return pcall(error, 'x')", "false,x"),
            ("return pcall(error)", "false,nil"),
            ("return pcall(function() error('x') end)", "false,user_script:1: x"),
            ("return pcall(function() error('x', 0) end)", "false,x"),
            ("local function f() error('x', 2) end return pcall(function()\n f() end)", "false,user_script:2: x"),
            ("return pcall(function() error({code = 1}) end)", "false,table"),
            ("error('x', 2)", "ERR:x"),
            ("assert(false, 'boom')", "ERR:user_script:1: boom"),
            ("assert(false)", "ERR:user_script:1: assertion failed!"),
            ("return assert(1, 2)", "1,2"),
            ("return pcall(assert, false)", "false,assertion failed!"),
            ("return xpcall(function() error('e', 0) end, function(m) return 'h:' .. m end)", "false,h:e"),
            ("return select('#', pcall(function() return 1, 2 end))", "3"),
            // base library
            ("return type(nil), type(1), type('s'), type({}), type(print == nil)", "ERR:user_script:1: Script attempted to access nonexistent global variable 'print'"),
            ("return type(nil), type(1), type('s'), type({}), type(type)", "nil,number,string,table,function"),
            ("return tonumber('z', 36), tonumber('ff', 16), tonumber('8', 8), tonumber('x'), tonumber({})", "35,255,nil,nil,nil"),
            ("return unpack({1, 2, 3})", "1,2,3"),
            ("return unpack({1, 2, 3}, 2)", "2,3"),
            ("return pcall(unpack, {}, 1, 10000)", "false,too many results to unpack"),
            ("return rawequal('a', 'a'), rawequal({}, {})", "true,false"),
            ("return next({})", "nil"),
            ("return pcall(next, {}, 'x')", "false,invalid key to 'next'"),
            ("return pcall(select, 0, 1)", "false,bad argument #1 to 'select' (index out of range)"),
            ("return gcinfo(), collectgarbage('count'), collectgarbage()", "24,24,0"),
            ("local f = loadstring('return 1 + 1') return f()", "2"),
            ("return loadstring('x x')", "nil,[string \"x x\"]:1: '=' expected near 'x'"),
            ("local f = loadstring('return zz') return pcall(f)", "false,[string \"return zz\"]:1: Script attempted to access nonexistent global variable 'zz'"),
            // table library
            ("local t = {1, 2} table.insert(t, 3) table.insert(t, 1, 0) return table.concat(t, ',')", "0,1,2,3"),
            ("local t = {1, 2, 3} return table.remove(t), table.remove(t, 1), t[1], #t", "3,1,2,1"),
            ("return table.remove({})", ""),
            ("table.insert({}, 1, 2, 3)", "ERR:user_script:1: wrong number of arguments to 'insert'"),
            ("return table.concat({1, {}, 3})", "ERR:user_script:1: invalid value (table) at index 2 in table for 'concat'"),
            ("return table.concat({'a', 'b', 'c'}, '-', 2, 3)", "b-c"),
            ("local t = {5, 2, 8, 1, 9, 3, 7, 4, 6, 0, 11, 10} table.sort(t) return table.concat(t, ' ')", "0 1 2 3 4 5 6 7 8 9 10 11"),
            ("local t = {'b', 'c', 'a'} table.sort(t, function(a, b) return a > b end) return table.concat(t)", "cba"),
            ("table.sort({1, 'x'})", "ERR:attempt to compare string with number"),
            ("return table.getn({1, 2}), table.maxn({[10] = 1, 2})", "2,10"),
            ("table.setn({}, 1)", "ERR:user_script:1: 'setn' is obsolete"),
            ("table.insert(nil, 1)", "ERR:user_script:1: bad argument #1 to 'insert' (table expected, got nil)"),
            // math
            ("return math.floor(3.7), math.ceil(3.2), math.abs(-2), math.max(1, 5, 3), math.min(4, 2)", "3,4,2,5,2"),
            ("return math.max()", "ERR:user_script:1: bad argument #1 to 'max' (number expected, got no value)"),
            ("return math.fmod(7, 3), math.modf(3.5)", "1,3,0.5"),
            ("return math.ldexp(0.5, 4), math.frexp(8)", "8,0.5,4"),
            ("return math.random(0)", "ERR:user_script:1: bad argument #1 to 'random' (interval is empty)"),
            ("math.randomseed(0) return math.random(100), math.random(5, 10)", "18,9"),
            ("return math.huge > 0, math.pi > 3", "true,true"),
            // tail calls do not grow the stack
            ("local function f(n) if n == 0 then return 'done' end return f(n - 1) end return f(100000)", "done"),
            // recursion limit
            ("local function f() return 1 + f() end return f()", "ERR:user_script:1: stack overflow"),
            ("local function f() return 1 + f() end return pcall(f)", "false,user_script:1: stack overflow"),
        ];
        for (src, want) in cases {
            assert_eq!(&run(src), want, "script: {src}");
        }
    }

    #[test]
    fn kill_is_not_caught_and_stops_loops() {
        let mut lua = Lua::new();
        let mut host = TestHost {
            polls: 0,
            kill_after: Some(3),
        };
        assert_eq!(
            run_with(&mut lua, "while true do end", &mut host),
            "KILL:killed"
        );
        let mut host = TestHost {
            polls: 0,
            kill_after: Some(3),
        };
        assert_eq!(
            run_with(
                &mut lua,
                "local ok = pcall(function() while true do end end) return 'caught'",
                &mut host
            ),
            "KILL:killed"
        );
        let mut host = TestHost {
            polls: 0,
            kill_after: Some(3),
        };
        assert_eq!(
            run_with(
                &mut lua,
                "local function f() return f() end return f()",
                &mut host
            ),
            "KILL:killed"
        );
        // The state is usable afterwards.
        assert_eq!(run_with(&mut lua, "return 1", &mut host), "1");
    }

    #[test]
    fn set_global_raw_bypasses_protection() {
        let mut lua = Lua::new();
        lua.set_global_raw(
            "KEYS",
            Value::Table(TableRef::new(Table::from_array(vec![Value::str(b"k")]))),
        );
        let mut host = TestHost {
            polls: 0,
            kill_after: None,
        };
        assert_eq!(
            run_with(&mut lua, "KEYS[2] = 'x' return KEYS[1], #KEYS", &mut host),
            "k,2"
        );
    }

    #[test]
    fn deep_recursion_does_not_crash() {
        big_stack(deep_recursion);
    }

    fn deep_recursion() {
        // Deeper than the default through pcall chains, nested natives and metamethods.
        for src in [
            "local function f(n) return pcall(f, n + 1) end return f(1)",
            "local t = setmetatable({}, {}) getmetatable(t).__index = function(t, k) return t[k] end return t.x",
            "local function f() return tostring(setmetatable({}, {__tostring = f})) end return f()",
            "local function f(...) return select(2, f(1, ...)) end return f()",
        ] {
            let r = run(src);
            assert!(r.contains("stack overflow") || r.starts_with("false"), "{src}: {r}");
        }
    }

    fn stack_addr(_st: &mut State<'_>, _args: Vec<Value>) -> Ret {
        let marker = 0u8;
        Ok(vec![Value::Num(
            std::hint::black_box(&marker) as *const u8 as usize as f64,
        )])
    }

    /// Measures the Rust stack one Lua call level takes (run with `--nocapture`; build with
    /// `--release` for the figure of [`Lua::max_depth`]'s doc).
    #[test]
    fn stack_per_level() {
        let handle = std::thread::Builder::new()
            .stack_size(64 << 20)
            .spawn(|| {
                let mut lua = Lua::new();
                lua.max_depth = 100_000;
                lua.set_global_raw("sp", Value::Func(FuncRef::native("sp", stack_addr)));
                let mut host = TestHost {
                    polls: 0,
                    kill_after: None,
                };
                let src =
                    "local function f(n) if n == 0 then return sp() end return 0 + f(n - 1) end \
                           return (f(0) - f(1000)) / 1000";
                run_with(&mut lua, src, &mut host)
            })
            .expect("spawn");
        let per_level = handle.join().expect("no overflow");
        println!("stack per Lua call level: {per_level} bytes");
    }
}

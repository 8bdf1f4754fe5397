//! The syntax tree [`crate::parse`] builds and [`crate::interp`] runs, names already resolved:
//! locals are slots of their function's frame, upvalues indices into its closure's captured
//! cells, globals constant names. Shared between threads (`Arc`, no `Rc`).

use std::sync::Arc;

pub type Line = u32;

/// A compiled function body.
#[derive(Debug)]
pub struct Proto {
    /// The name errors use (`user_script`).
    pub chunkname: Arc<str>,
    /// Where the function starts (0 for a main chunk).
    pub line: Line,
    /// Fixed parameters: slots `0..nparams`.
    pub nparams: usize,
    pub is_vararg: bool,
    /// Lua 5.1's compatibility `arg` table: a vararg function that never uses `...` gets its
    /// extra arguments in a local `arg` (slot `nparams`).
    pub needs_arg: bool,
    /// Every local declaration of the body has its own slot.
    pub nslots: usize,
    /// Per slot: is the local captured by an inner function (then it lives in a shared cell,
    /// a fresh one each time its declaration runs).
    pub captured: Vec<bool>,
    /// Per slot: the local's name (error messages).
    pub slot_names: Vec<Box<str>>,
    pub upvals: Vec<UpvalDesc>,
    /// String constants: literals, global names, field names.
    pub consts: Vec<Arc<[u8]>>,
    pub body: Block,
}

/// Where a closure's upvalue comes from when the closure is made.
#[derive(Debug, Clone)]
pub struct UpvalDesc {
    pub name: Box<str>,
    /// true: the enclosing function's local slot `index`; false: its upvalue `index`.
    pub from_local: bool,
    pub index: usize,
}

pub type Block = Vec<Stat>;

#[derive(Debug)]
pub struct Stat {
    pub line: Line,
    pub kind: StatKind,
}

#[derive(Debug)]
pub enum StatKind {
    /// A function call as a statement.
    Call(Expr),
    /// `local a, b = ...` (slots).
    Local(Vec<usize>, Vec<Expr>),
    /// `a, b.c, d[e] = ...`: targets are Local, Upval, Global or Index expressions.
    Assign(Vec<Expr>, Vec<Expr>),
    Do(Block),
    While(Expr, Block),
    Repeat(Block, Expr),
    If(Vec<(Expr, Block)>, Option<Block>),
    NumFor(Box<NumFor>),
    GenFor(Box<GenFor>),
    LocalFunction(usize, Arc<Proto>),
    Return(Vec<Expr>),
    Break,
}

#[derive(Debug)]
pub struct NumFor {
    pub var: usize,
    pub start: Expr,
    pub limit: Expr,
    pub step: Option<Expr>,
    pub body: Block,
}

#[derive(Debug)]
pub struct GenFor {
    pub vars: Vec<usize>,
    pub exprs: Vec<Expr>,
    pub body: Block,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnOp {
    Neg,
    Not,
    Len,
}

#[derive(Debug)]
pub enum Expr {
    Nil,
    True,
    False,
    Num(f64),
    /// A string constant (index into `Proto::consts`).
    Str(usize),
    Vararg,
    Local(usize),
    Upval(usize),
    /// A global, by constant name.
    Global(usize),
    /// `obj[key]`.
    Index(Box<(Expr, Expr)>, Line),
    Call(Box<CallExpr>),
    Function(Arc<Proto>),
    Bin(BinOp, Box<(Expr, Expr)>, Line),
    /// `a .. b .. c`, flattened (right associative).
    Concat(Vec<Expr>, Line),
    And(Box<(Expr, Expr)>),
    Or(Box<(Expr, Expr)>),
    Un(UnOp, Box<Expr>, Line),
    /// `(e)`: one value.
    Paren(Box<Expr>),
    Table(Box<TableCons>),
}

#[derive(Debug)]
pub struct CallExpr {
    pub func: Expr,
    /// `obj:name(...)`: the constant method name; `func` is then `obj`.
    pub method: Option<usize>,
    pub args: Vec<Expr>,
    pub line: Line,
}

#[derive(Debug)]
pub struct TableCons {
    /// The fields in source order (a last positional one expands when it is a call or
    /// `...`).
    pub fields: Vec<Field>,
    pub line: Line,
}

/// A field of a table constructor.
#[derive(Debug)]
pub enum Field {
    /// A positional item: the next of keys 1, 2, ...
    Pos(Expr),
    /// `[k] = v` or `name = v`.
    Named(Expr, Expr),
}

impl Expr {
    /// Calls and `...` give several values at the end of a list.
    pub fn is_multi(&self) -> bool {
        matches!(self, Expr::Call(_) | Expr::Vararg)
    }
}

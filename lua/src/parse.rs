//! The parser: recursive descent over [`crate::lex`]'s tokens to [`crate::ast`], resolving
//! every name to a local slot, an upvalue or a global, with Lua 5.1's syntax error texts.

use std::collections::HashMap;
use std::sync::Arc;

use crate::ast::*;
use crate::lex::{Lexer, Tok, Token};

/// Nesting allowed (blocks, parentheses, operator chains) before "chunk has too many syntax
/// levels": keeps hostile input from exhausting the Rust stack, here and when the tree runs.
const MAX_LEVELS: u32 = 200;
const MAX_LOCALS: usize = 200;
const MAX_UPVALS: usize = 60;

type PResult<T> = Result<T, String>;

struct FuncState {
    line: Line,
    is_vararg: bool,
    uses_vararg: bool,
    has_arg: bool,
    nparams: usize,
    /// Locals in scope: name and slot.
    actives: Vec<(Box<str>, usize)>,
    /// Open blocks: how many actives when opened, and whether it is a loop.
    blocks: Vec<(usize, bool)>,
    captured: Vec<bool>,
    slot_names: Vec<Box<str>>,
    upvals: Vec<UpvalDesc>,
    consts: Vec<Arc<[u8]>>,
    const_map: HashMap<Vec<u8>, usize>,
}

impl FuncState {
    fn new(line: Line) -> FuncState {
        FuncState {
            line,
            is_vararg: false,
            uses_vararg: false,
            has_arg: false,
            nparams: 0,
            actives: Vec::new(),
            blocks: Vec::new(),
            captured: Vec::new(),
            slot_names: Vec::new(),
            upvals: Vec::new(),
            consts: Vec::new(),
            const_map: HashMap::new(),
        }
    }

    fn find_local(&self, name: &str) -> Option<usize> {
        self.actives
            .iter()
            .rev()
            .find(|(n, _)| &**n == name)
            .map(|&(_, s)| s)
    }
}

struct Parser<'s> {
    lx: Lexer<'s>,
    t: Token,
    ahead: Option<Token>,
    /// Line of the last token consumed.
    lastline: Line,
    fs: Vec<FuncState>,
    level: u32,
    chunkname: Arc<str>,
}

/// Parses a whole chunk into its main function.
pub fn parse_chunk(src: &[u8], chunkname: &str) -> PResult<Arc<Proto>> {
    let mut lx = Lexer::new(src, chunkname);
    let t = lx.next_token()?;
    let mut p = Parser {
        lx,
        t,
        ahead: None,
        lastline: 1,
        fs: vec![FuncState::new(0)],
        level: 0,
        chunkname: Arc::from(chunkname),
    };
    p.fs[0].is_vararg = true;
    p.fs[0].blocks.push((0, false));
    let body = p.block_body()?;
    if p.t.tok != Tok::Eof {
        return Err(p.expected(&Tok::Eof));
    }
    Ok(p.close_func(body))
}

fn block_follow(t: &Tok) -> bool {
    matches!(
        t,
        Tok::Else | Tok::Elseif | Tok::End | Tok::Until | Tok::Eof
    )
}

enum BOp {
    Arith(BinOp),
    Concat,
    And,
    Or,
}

fn binop(t: &Tok) -> Option<(BOp, u8, u8)> {
    Some(match t {
        Tok::Or => (BOp::Or, 1, 1),
        Tok::And => (BOp::And, 2, 2),
        Tok::Char(b'<') => (BOp::Arith(BinOp::Lt), 3, 3),
        Tok::Char(b'>') => (BOp::Arith(BinOp::Gt), 3, 3),
        Tok::Le => (BOp::Arith(BinOp::Le), 3, 3),
        Tok::Ge => (BOp::Arith(BinOp::Ge), 3, 3),
        Tok::Ne => (BOp::Arith(BinOp::Ne), 3, 3),
        Tok::Eq => (BOp::Arith(BinOp::Eq), 3, 3),
        Tok::Concat => (BOp::Concat, 5, 4),
        Tok::Char(b'+') => (BOp::Arith(BinOp::Add), 6, 6),
        Tok::Char(b'-') => (BOp::Arith(BinOp::Sub), 6, 6),
        Tok::Char(b'*') => (BOp::Arith(BinOp::Mul), 7, 7),
        Tok::Char(b'/') => (BOp::Arith(BinOp::Div), 7, 7),
        Tok::Char(b'%') => (BOp::Arith(BinOp::Mod), 7, 7),
        Tok::Char(b'^') => (BOp::Arith(BinOp::Pow), 10, 9),
        _ => return None,
    })
}

const UNARY_PRIORITY: u8 = 8;

impl Parser<'_> {
    // ---- tokens and errors ----

    fn next(&mut self) -> PResult<()> {
        self.lastline = self.t.line;
        self.t = match self.ahead.take() {
            Some(t) => t,
            None => self.lx.next_token()?,
        };
        Ok(())
    }

    fn peek(&mut self) -> PResult<&Tok> {
        if self.ahead.is_none() {
            self.ahead = Some(self.lx.next_token()?);
        }
        Ok(&self.ahead.as_ref().expect("just set").tok)
    }

    fn error(&self, msg: &str) -> String {
        format!(
            "{}:{}: {} near '{}'",
            self.chunkname,
            self.t.line,
            msg,
            self.t.near()
        )
    }

    fn expected(&self, t: &Tok) -> String {
        self.error(&format!("'{}' expected", t.describe()))
    }

    fn check(&self, t: &Tok) -> PResult<()> {
        if &self.t.tok == t {
            Ok(())
        } else {
            Err(self.expected(t))
        }
    }

    fn check_next(&mut self, t: &Tok) -> PResult<()> {
        self.check(t)?;
        self.next()
    }

    fn test_next(&mut self, t: &Tok) -> PResult<bool> {
        if &self.t.tok == t {
            self.next()?;
            Ok(true)
        } else {
            Ok(false)
        }
    }

    fn check_match(&mut self, what: &Tok, who: &Tok, line: Line) -> PResult<()> {
        if &self.t.tok == what {
            return self.next();
        }
        if line == self.t.line {
            Err(self.expected(what))
        } else {
            Err(self.error(&format!(
                "'{}' expected (to close '{}' at line {})",
                what.describe(),
                who.describe(),
                line
            )))
        }
    }

    fn name(&mut self) -> PResult<Box<str>> {
        match &self.t.tok {
            Tok::Name(n) => {
                let n = n.clone();
                self.next()?;
                Ok(n)
            }
            _ => Err(self.expected(&Tok::Name("".into()))),
        }
    }

    fn enter(&mut self) -> PResult<()> {
        self.level += 1;
        if self.level > MAX_LEVELS {
            return Err(format!(
                "{}:{}: chunk has too many syntax levels",
                self.chunkname, self.t.line
            ));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.level -= 1;
    }

    // ---- scopes ----

    fn fs(&mut self) -> &mut FuncState {
        self.fs.last_mut().expect("a function is open")
    }

    fn constant(&mut self, s: &[u8]) -> usize {
        let fs = self.fs();
        if let Some(&i) = fs.const_map.get(s) {
            return i;
        }
        let i = fs.consts.len();
        fs.consts.push(Arc::from(s));
        fs.const_map.insert(s.to_vec(), i);
        i
    }

    /// A new slot for a local named `name` (not yet in scope).
    fn new_slot(&mut self, name: &str) -> PResult<usize> {
        let main = self.fs.len() == 1;
        let fs = self.fs();
        if fs.actives.len() >= MAX_LOCALS {
            let what = if main {
                "main function".to_string()
            } else {
                format!("function at line {}", fs.line)
            };
            return Err(format!(
                "{}:{}: {what} has more than {MAX_LOCALS} local variables",
                self.chunkname, self.t.line
            ));
        }
        let fs = self.fs();
        fs.captured.push(false);
        fs.slot_names.push(name.into());
        Ok(fs.slot_names.len() - 1)
    }

    fn activate(&mut self, name: Box<str>, slot: usize) {
        self.fs().actives.push((name, slot));
    }

    fn open_block(&mut self, is_loop: bool) {
        let fs = self.fs();
        let n = fs.actives.len();
        fs.blocks.push((n, is_loop));
    }

    fn close_block(&mut self) {
        let fs = self.fs();
        let (n, _) = fs.blocks.pop().expect("a block is open");
        fs.actives.truncate(n);
    }

    fn find_upval(&mut self, level: usize, name: &str) -> PResult<Option<usize>> {
        if level == 0 {
            return Ok(None);
        }
        if let Some(i) = self.fs[level].upvals.iter().position(|u| &*u.name == name) {
            return Ok(Some(i));
        }
        let desc = if let Some(slot) = self.fs[level - 1].find_local(name) {
            self.fs[level - 1].captured[slot] = true;
            UpvalDesc {
                name: name.into(),
                from_local: true,
                index: slot,
            }
        } else {
            match self.find_upval(level - 1, name)? {
                Some(u) => UpvalDesc {
                    name: name.into(),
                    from_local: false,
                    index: u,
                },
                None => return Ok(None),
            }
        };
        let fs = &mut self.fs[level];
        if fs.upvals.len() >= MAX_UPVALS {
            let line = fs.line;
            return Err(format!(
                "{}:{}: function at line {line} has more than {MAX_UPVALS} upvalues",
                self.chunkname, self.t.line
            ));
        }
        fs.upvals.push(desc);
        Ok(Some(fs.upvals.len() - 1))
    }

    fn single_var(&mut self, name: &str) -> PResult<Expr> {
        let top = self.fs.len() - 1;
        if let Some(slot) = self.fs[top].find_local(name) {
            return Ok(Expr::Local(slot));
        }
        if let Some(u) = self.find_upval(top, name)? {
            return Ok(Expr::Upval(u));
        }
        Ok(Expr::Global(self.constant(name.as_bytes())))
    }

    fn close_func(&mut self, body: Block) -> Arc<Proto> {
        let fs = self.fs.pop().expect("a function is open");
        Arc::new(Proto {
            chunkname: self.chunkname.clone(),
            line: fs.line,
            nparams: fs.nparams,
            is_vararg: fs.is_vararg,
            needs_arg: fs.has_arg && !fs.uses_vararg,
            nslots: fs.slot_names.len(),
            captured: fs.captured,
            slot_names: fs.slot_names,
            upvals: fs.upvals,
            consts: fs.consts,
            body,
        })
    }

    // ---- statements ----

    /// Statements up to the end of a block (the caller opened the scope).
    fn block_body(&mut self) -> PResult<Block> {
        let mut stats = Vec::new();
        while !block_follow(&self.t.tok) {
            let last = matches!(self.t.tok, Tok::Return | Tok::Break);
            let s = self.statement()?;
            stats.push(s);
            self.test_next(&Tok::Char(b';'))?;
            if last {
                break;
            }
        }
        Ok(stats)
    }

    /// A block in its own scope.
    fn block(&mut self, is_loop: bool) -> PResult<Block> {
        self.enter()?;
        self.open_block(is_loop);
        let b = self.block_body()?;
        self.close_block();
        self.leave();
        Ok(b)
    }

    fn statement(&mut self) -> PResult<Stat> {
        let line = self.t.line;
        let kind = match self.t.tok {
            Tok::If => self.if_stat(line)?,
            Tok::While => {
                self.next()?;
                let cond = self.expr()?;
                self.check_next(&Tok::Do)?;
                let body = self.block(true)?;
                self.check_match(&Tok::End, &Tok::While, line)?;
                StatKind::While(cond, body)
            }
            Tok::Do => {
                self.next()?;
                let body = self.block(false)?;
                self.check_match(&Tok::End, &Tok::Do, line)?;
                StatKind::Do(body)
            }
            Tok::For => self.for_stat(line)?,
            Tok::Repeat => {
                self.next()?;
                self.enter()?;
                self.open_block(true);
                let body = self.block_body()?;
                self.check_match(&Tok::Until, &Tok::Repeat, line)?;
                let cond = self.expr()?;
                self.close_block();
                self.leave();
                StatKind::Repeat(body, cond)
            }
            Tok::Function => {
                self.next()?;
                let n = self.name()?;
                let mut target = self.single_var(&n)?;
                let mut method = false;
                loop {
                    let l = self.t.line;
                    let dot = match self.t.tok {
                        Tok::Char(b'.') => true,
                        Tok::Char(b':') => false,
                        _ => break,
                    };
                    self.next()?;
                    let k = self.name()?;
                    let c = self.constant(k.as_bytes());
                    target = Expr::Index(Box::new((target, Expr::Str(c))), l);
                    if !dot {
                        method = true;
                        break;
                    }
                }
                let f = self.body(method, line)?;
                StatKind::Assign(vec![target], vec![Expr::Function(f)])
            }
            Tok::Local => {
                self.next()?;
                if self.test_next(&Tok::Function)? {
                    let n = self.name()?;
                    let slot = self.new_slot(&n)?;
                    self.activate(n, slot);
                    let f = self.body(false, line)?;
                    StatKind::LocalFunction(slot, f)
                } else {
                    let mut names = vec![self.name()?];
                    while self.test_next(&Tok::Char(b','))? {
                        names.push(self.name()?);
                    }
                    let exprs = if self.test_next(&Tok::Char(b'='))? {
                        self.expr_list()?
                    } else {
                        Vec::new()
                    };
                    let mut slots = Vec::with_capacity(names.len());
                    for n in &names {
                        slots.push(self.new_slot(n)?);
                    }
                    for (n, &s) in names.into_iter().zip(&slots) {
                        self.activate(n, s);
                    }
                    StatKind::Local(slots, exprs)
                }
            }
            Tok::Return => {
                self.next()?;
                let exprs = if block_follow(&self.t.tok) || self.t.tok == Tok::Char(b';') {
                    Vec::new()
                } else {
                    self.expr_list()?
                };
                StatKind::Return(exprs)
            }
            Tok::Break => {
                self.next()?;
                if !self.fs.last().expect("open").blocks.iter().any(|b| b.1) {
                    return Err(self.error("no loop to break"));
                }
                StatKind::Break
            }
            _ => self.expr_stat()?,
        };
        Ok(Stat { line, kind })
    }

    fn if_stat(&mut self, line: Line) -> PResult<StatKind> {
        let mut conds = Vec::new();
        let mut els = None;
        // At 'if' or 'elseif'.
        loop {
            self.next()?;
            let c = self.expr()?;
            self.check_next(&Tok::Then)?;
            let b = self.block(false)?;
            conds.push((c, b));
            if self.t.tok != Tok::Elseif {
                break;
            }
        }
        if self.test_next(&Tok::Else)? {
            els = Some(self.block(false)?);
        }
        self.check_match(&Tok::End, &Tok::If, line)?;
        Ok(StatKind::If(conds, els))
    }

    fn for_stat(&mut self, line: Line) -> PResult<StatKind> {
        self.next()?;
        let n1 = self.name()?;
        let kind = match self.t.tok {
            Tok::Char(b'=') => {
                self.next()?;
                let start = self.expr()?;
                self.check_next(&Tok::Char(b','))?;
                let limit = self.expr()?;
                let step = if self.test_next(&Tok::Char(b','))? {
                    Some(self.expr()?)
                } else {
                    None
                };
                self.check_next(&Tok::Do)?;
                self.open_block(true);
                let var = self.new_slot(&n1)?;
                self.activate(n1, var);
                let body = self.block(false)?;
                self.close_block();
                StatKind::NumFor(Box::new(NumFor {
                    var,
                    start,
                    limit,
                    step,
                    body,
                }))
            }
            Tok::Char(b',') | Tok::In => {
                let mut names = vec![n1];
                while self.test_next(&Tok::Char(b','))? {
                    names.push(self.name()?);
                }
                self.check_next(&Tok::In)?;
                let exprs = self.expr_list()?;
                self.check_next(&Tok::Do)?;
                self.open_block(true);
                let mut vars = Vec::new();
                for n in names {
                    let s = self.new_slot(&n)?;
                    self.activate(n, s);
                    vars.push(s);
                }
                let body = self.block(false)?;
                self.close_block();
                StatKind::GenFor(Box::new(GenFor { vars, exprs, body }))
            }
            _ => return Err(self.error("'=' or 'in' expected")),
        };
        self.check_match(&Tok::End, &Tok::For, line)?;
        Ok(kind)
    }

    fn expr_stat(&mut self) -> PResult<StatKind> {
        let e = self.suffixed_exp()?;
        if matches!(e, Expr::Call(_)) {
            return Ok(StatKind::Call(e));
        }
        let mut targets = vec![e];
        loop {
            let last = targets.last().expect("one target");
            if !matches!(
                last,
                Expr::Local(_) | Expr::Upval(_) | Expr::Global(_) | Expr::Index(..)
            ) {
                return Err(self.error("syntax error"));
            }
            if self.test_next(&Tok::Char(b','))? {
                self.enter()?;
                targets.push(self.suffixed_exp()?);
            } else {
                break;
            }
        }
        let n = targets.len() - 1;
        self.check_next(&Tok::Char(b'='))?;
        let exprs = self.expr_list()?;
        self.level -= n as u32;
        Ok(StatKind::Assign(targets, exprs))
    }

    /// A function body after `function [name]`: parameters, block, `end`.
    fn body(&mut self, method: bool, line: Line) -> PResult<Arc<Proto>> {
        self.enter()?;
        self.fs.push(FuncState::new(line));
        self.open_block(false);
        if method {
            let s = self.new_slot("self")?;
            self.activate("self".into(), s);
        }
        self.check_next(&Tok::Char(b'('))?;
        if self.t.tok != Tok::Char(b')') {
            loop {
                match &self.t.tok {
                    Tok::Name(n) => {
                        let n = n.clone();
                        self.next()?;
                        let s = self.new_slot(&n)?;
                        self.activate(n, s);
                    }
                    Tok::Dots => {
                        self.next()?;
                        self.fs().is_vararg = true;
                    }
                    _ => return Err(self.error("<name> or '...' expected")),
                }
                if self.fs().is_vararg || !self.test_next(&Tok::Char(b','))? {
                    break;
                }
            }
        }
        let fs = self.fs();
        fs.nparams = fs.actives.len();
        if fs.is_vararg {
            fs.has_arg = true;
            let s = self.new_slot("arg")?;
            self.activate("arg".into(), s);
        }
        self.check_next(&Tok::Char(b')'))?;
        let body = self.block_body()?;
        self.check_match(&Tok::End, &Tok::Function, line)?;
        self.leave();
        Ok(self.close_func(body))
    }

    // ---- expressions ----

    fn expr_list(&mut self) -> PResult<Vec<Expr>> {
        let mut v = vec![self.expr()?];
        while self.test_next(&Tok::Char(b','))? {
            v.push(self.expr()?);
        }
        Ok(v)
    }

    fn expr(&mut self) -> PResult<Expr> {
        self.subexpr(0)
    }

    fn subexpr(&mut self, limit: u8) -> PResult<Expr> {
        self.enter()?;
        let unop = match self.t.tok {
            Tok::Not => Some(UnOp::Not),
            Tok::Char(b'-') => Some(UnOp::Neg),
            Tok::Char(b'#') => Some(UnOp::Len),
            _ => None,
        };
        let mut e = if let Some(op) = unop {
            let line = self.t.line;
            self.next()?;
            let operand = self.subexpr(UNARY_PRIORITY)?;
            match (op, operand) {
                (UnOp::Neg, Expr::Num(n)) => Expr::Num(-n),
                (op, operand) => Expr::Un(op, Box::new(operand), line),
            }
        } else {
            self.simple_exp()?
        };
        let mut chain = 0;
        while let Some((op, left, right)) = binop(&self.t.tok) {
            if left <= limit {
                break;
            }
            let line = self.t.line;
            self.next()?;
            let rhs = self.subexpr(right)?;
            e = match op {
                BOp::Arith(op) => Expr::Bin(op, Box::new((e, rhs)), line),
                BOp::And => Expr::And(Box::new((e, rhs))),
                BOp::Or => Expr::Or(Box::new((e, rhs))),
                BOp::Concat => match rhs {
                    Expr::Concat(mut v, _) => {
                        v.insert(0, e);
                        Expr::Concat(v, line)
                    }
                    rhs => Expr::Concat(vec![e, rhs], line),
                },
            };
            chain += 1;
            self.enter()?;
        }
        self.level -= chain;
        self.leave();
        Ok(e)
    }

    fn simple_exp(&mut self) -> PResult<Expr> {
        let e = match &self.t.tok {
            Tok::Num(n) => Expr::Num(*n),
            Tok::Str(s) => {
                let s = s.clone();
                Expr::Str(self.constant(&s))
            }
            Tok::Nil => Expr::Nil,
            Tok::True => Expr::True,
            Tok::False => Expr::False,
            Tok::Dots => {
                let fs = self.fs.last_mut().expect("open");
                if !fs.is_vararg {
                    return Err(self.error("cannot use '...' outside a vararg function"));
                }
                fs.uses_vararg = true;
                Expr::Vararg
            }
            Tok::Char(b'{') => return self.constructor(),
            Tok::Function => {
                let line = self.t.line;
                self.next()?;
                return Ok(Expr::Function(self.body(false, line)?));
            }
            _ => return self.suffixed_exp(),
        };
        self.next()?;
        Ok(e)
    }

    fn primary_exp(&mut self) -> PResult<Expr> {
        match &self.t.tok {
            Tok::Name(n) => {
                let n = n.clone();
                self.next()?;
                self.single_var(&n)
            }
            Tok::Char(b'(') => {
                let line = self.t.line;
                self.next()?;
                let e = self.expr()?;
                self.check_match(&Tok::Char(b')'), &Tok::Char(b'('), line)?;
                Ok(Expr::Paren(Box::new(e)))
            }
            _ => Err(self.error("unexpected symbol")),
        }
    }

    fn suffixed_exp(&mut self) -> PResult<Expr> {
        let mut e = self.primary_exp()?;
        let mut chain = 0;
        loop {
            let line = self.t.line;
            e = match self.t.tok {
                Tok::Char(b'.') => {
                    self.next()?;
                    let n = self.name()?;
                    let k = Expr::Str(self.constant(n.as_bytes()));
                    Expr::Index(Box::new((e, k)), line)
                }
                Tok::Char(b'[') => {
                    self.next()?;
                    let k = self.expr()?;
                    self.check_next(&Tok::Char(b']'))?;
                    Expr::Index(Box::new((e, k)), line)
                }
                Tok::Char(b':') => {
                    self.next()?;
                    let n = self.name()?;
                    let m = self.constant(n.as_bytes());
                    let (args, line) = self.func_args()?;
                    Expr::Call(Box::new(CallExpr {
                        func: e,
                        method: Some(m),
                        args,
                        line,
                    }))
                }
                Tok::Char(b'(' | b'{') | Tok::Str(_) => {
                    let (args, line) = self.func_args()?;
                    Expr::Call(Box::new(CallExpr {
                        func: e,
                        method: None,
                        args,
                        line,
                    }))
                }
                _ => break,
            };
            chain += 1;
            self.enter()?;
        }
        self.level -= chain;
        Ok(e)
    }

    fn func_args(&mut self) -> PResult<(Vec<Expr>, Line)> {
        let line = self.t.line;
        match &self.t.tok {
            Tok::Str(s) => {
                let s = s.clone();
                let c = self.constant(&s);
                self.next()?;
                Ok((vec![Expr::Str(c)], line))
            }
            Tok::Char(b'{') => Ok((vec![self.constructor()?], line)),
            Tok::Char(b'(') => {
                if line != self.lastline {
                    return Err(self.error("ambiguous syntax (function call x new statement)"));
                }
                self.next()?;
                let args = if self.t.tok == Tok::Char(b')') {
                    Vec::new()
                } else {
                    self.expr_list()?
                };
                self.check_match(&Tok::Char(b')'), &Tok::Char(b'('), line)?;
                Ok((args, line))
            }
            _ => Err(self.error("function arguments expected")),
        }
    }

    fn constructor(&mut self) -> PResult<Expr> {
        let line = self.t.line;
        self.enter()?;
        self.check_next(&Tok::Char(b'{'))?;
        let mut fields = Vec::new();
        loop {
            if self.t.tok == Tok::Char(b'}') {
                break;
            }
            match &self.t.tok {
                Tok::Name(n) => {
                    let n = n.clone();
                    if *self.peek()? == Tok::Char(b'=') {
                        let k = Expr::Str(self.constant(n.as_bytes()));
                        self.next()?;
                        self.next()?;
                        let v = self.expr()?;
                        fields.push(Field::Named(k, v));
                    } else {
                        fields.push(Field::Pos(self.expr()?));
                    }
                }
                Tok::Char(b'[') => {
                    self.next()?;
                    let k = self.expr()?;
                    self.check_next(&Tok::Char(b']'))?;
                    self.check_next(&Tok::Char(b'='))?;
                    let v = self.expr()?;
                    fields.push(Field::Named(k, v));
                }
                _ => fields.push(Field::Pos(self.expr()?)),
            }
            if !self.test_next(&Tok::Char(b','))? && !self.test_next(&Tok::Char(b';'))? {
                break;
            }
        }
        self.check_match(&Tok::Char(b'}'), &Tok::Char(b'{'), line)?;
        self.leave();
        Ok(Expr::Table(Box::new(TableCons { fields, line })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(src: &str) -> String {
        parse_chunk(src.as_bytes(), "user_script").unwrap_err()
    }

    #[test]
    fn syntax_errors() {
        let cases: &[(&str, &str)] = &[
            (
                "syntax error here",
                "user_script:1: '=' expected near 'error'",
            ),
            (
                "return \"abc",
                "user_script:1: unfinished string near '<eof>'",
            ),
            ("return 3x", "user_script:1: malformed number near '3x'"),
            (
                "local function() end",
                "user_script:1: '<name>' expected near '('",
            ),
            (
                "function f() return 1",
                "user_script:1: 'end' expected near '<eof>'",
            ),
            (
                "function f()\n return 1",
                "user_script:2: 'end' expected (to close 'function' at line 1) near '<eof>'",
            ),
            ("x = = 1", "user_script:1: unexpected symbol near '='"),
            (
                "return 1 +",
                "user_script:1: unexpected symbol near '<eof>'",
            ),
            (
                "local t = {} t:m",
                "user_script:1: function arguments expected near '<eof>'",
            ),
            ("break", "user_script:1: no loop to break near '<eof>'"),
            (
                "for i do end",
                "user_script:1: '=' or 'in' expected near 'do'",
            ),
            (
                "local f = function() return ... end",
                "user_script:1: cannot use '...' outside a vararg function near '...'",
            ),
            ("local x = 1 @", "user_script:1: unexpected symbol near '@'"),
            (
                "return 3 == == 4",
                "user_script:1: unexpected symbol near '=='",
            ),
            (
                "if x then else elseif end",
                "user_script:1: 'end' expected near 'elseif'",
            ),
            (
                "local a = f\n(g)()",
                "user_script:2: ambiguous syntax (function call x new statement) near '('",
            ),
            ("return 1 x = 2", "user_script:1: '<eof>' expected near 'x'"),
            ("(a) = 1", "user_script:1: syntax error near '='"),
            ("f() = 1", "user_script:1: unexpected symbol near '='"),
            ("x.y", "user_script:1: '=' expected near '<eof>'"),
            ("t = {1, 2", "user_script:1: '}' expected near '<eof>'"),
            (
                "f(1\n,2",
                "user_script:2: ')' expected (to close '(' at line 1) near '<eof>'",
            ),
            (
                "return 'a' .. ",
                "user_script:1: unexpected symbol near '<eof>'",
            ),
            (
                "x = [==[ ]=]",
                "user_script:1: unfinished long string near '<eof>'",
            ),
            (
                "x = \"\\300\"",
                "user_script:1: escape sequence too large near '\"'",
            ),
        ];
        for (src, want) in cases {
            assert_eq!(&err(src), want, "for {src:?}");
        }
        let deep = format!("return {}1", "(".repeat(300));
        assert_eq!(
            err(&deep),
            "user_script:1: chunk has too many syntax levels"
        );
        let chain = format!("return a{}", ".b".repeat(100_000));
        assert_eq!(
            err(&chain),
            "user_script:1: chunk has too many syntax levels"
        );
        let sum = format!("return 1{}", "+1".repeat(100_000));
        assert_eq!(err(&sum), "user_script:1: chunk has too many syntax levels");
        let locals: Vec<String> = (0..201).map(|i| format!("local a{i}")).collect();
        let locals = locals.join("\n");
        assert_eq!(
            err(&locals),
            "user_script:201: main function has more than 200 local variables"
        );
    }

    #[test]
    fn resolves_names() {
        let p = parse_chunk(
            b"local a, b = 1 local function f() return a + g end return f",
            "t",
        )
        .unwrap();
        assert_eq!(p.nslots, 3);
        assert!(p.captured[0]);
        assert!(!p.captured[1]);
        let StatKind::LocalFunction(_, f) = &p.body[1].kind else {
            panic!("not a local function")
        };
        assert_eq!(f.upvals.len(), 1);
        assert!(f.upvals[0].from_local);
        assert_eq!(&*f.consts[0], b"g");
    }

    proptest::proptest! {
        #[test]
        fn parser_never_panics_on_bytes(src in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            let _ = parse_chunk(&src, "p");
        }

        #[test]
        fn parser_never_panics_on_token_soup(toks in proptest::collection::vec(0usize..40, 0..60)) {
            const SOUP: [&str; 40] = [
                "local", "function", "end", "(", ")", "x", "y", "=", ",", "{", "}", "[", "]",
                "if", "then", "else", "elseif", "for", "in", "do", "while", "repeat", "until",
                "return", "break", "...", "..", ".", ":", "1", "'s'", "+", "-", "#", "not",
                "and", "or", "==", ";", "[[long]]",
            ];
            let src: Vec<&str> = toks.iter().map(|&i| SOUP[i]).collect();
            let _ = parse_chunk(src.join(" ").as_bytes(), "p");
        }
    }
}

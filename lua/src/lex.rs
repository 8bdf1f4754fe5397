//! The lexer: Lua 5.1 source bytes to tokens, with Lua's error texts
//! (`unfinished string near '"abc'`, `malformed number near '3x'`).

/// A token.
#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    Eof,
    Name(Box<str>),
    Str(Vec<u8>),
    Num(f64),
    And,
    Break,
    Do,
    Else,
    Elseif,
    End,
    False,
    For,
    Function,
    If,
    In,
    Local,
    Nil,
    Not,
    Or,
    Repeat,
    Return,
    Then,
    True,
    Until,
    While,
    /// `..`
    Concat,
    /// `...`
    Dots,
    /// `==`
    Eq,
    /// `>=`
    Ge,
    /// `<=`
    Le,
    /// `~=`
    Ne,
    /// Any other single byte.
    Char(u8),
}

const KEYWORDS: &[(&str, Tok)] = &[
    ("and", Tok::And),
    ("break", Tok::Break),
    ("do", Tok::Do),
    ("else", Tok::Else),
    ("elseif", Tok::Elseif),
    ("end", Tok::End),
    ("false", Tok::False),
    ("for", Tok::For),
    ("function", Tok::Function),
    ("if", Tok::If),
    ("in", Tok::In),
    ("local", Tok::Local),
    ("nil", Tok::Nil),
    ("not", Tok::Not),
    ("or", Tok::Or),
    ("repeat", Tok::Repeat),
    ("return", Tok::Return),
    ("then", Tok::Then),
    ("true", Tok::True),
    ("until", Tok::Until),
    ("while", Tok::While),
];

impl Tok {
    /// How Lua names a token kind in messages (`'<name>' expected`).
    pub fn describe(&self) -> String {
        match self {
            Tok::Eof => "<eof>".into(),
            Tok::Name(_) => "<name>".into(),
            Tok::Str(_) => "<string>".into(),
            Tok::Num(_) => "<number>".into(),
            Tok::Concat => "..".into(),
            Tok::Dots => "...".into(),
            Tok::Eq => "==".into(),
            Tok::Ge => ">=".into(),
            Tok::Le => "<=".into(),
            Tok::Ne => "~=".into(),
            Tok::Char(c) => char_name(*c),
            kw => KEYWORDS
                .iter()
                .find(|(_, t)| t == kw)
                .map(|(s, _)| s.to_string())
                .unwrap_or_default(),
        }
    }
}

fn char_name(c: u8) -> String {
    if c.is_ascii_control() {
        format!("char({c})")
    } else {
        String::from_utf8_lossy(&[c]).into_owned()
    }
}

/// A token with where it is and how an error shows it.
#[derive(Debug, Clone)]
pub struct Token {
    pub tok: Tok,
    pub line: u32,
    /// The text `near '...'` shows for names, strings and numbers.
    pub text: Vec<u8>,
}

impl Token {
    /// The token as `near '...'` shows it.
    pub fn near(&self) -> String {
        match self.tok {
            Tok::Name(_) | Tok::Str(_) | Tok::Num(_) => String::from_utf8_lossy(&self.text).into(),
            _ => self.tok.describe(),
        }
    }
}

pub struct Lexer<'s> {
    src: &'s [u8],
    pos: usize,
    pub line: u32,
    chunkname: String,
}

fn is_newline(c: u8) -> bool {
    c == b'\n' || c == b'\r'
}

impl<'s> Lexer<'s> {
    pub fn new(src: &'s [u8], chunkname: &str) -> Lexer<'s> {
        let mut lx = Lexer {
            src,
            pos: 0,
            line: 1,
            chunkname: chunkname.to_string(),
        };
        // A first line starting with '#' (a shebang) is skipped.
        if src.first() == Some(&b'#') {
            while lx.pos < src.len() && !is_newline(src[lx.pos]) {
                lx.pos += 1;
            }
        }
        lx
    }

    pub fn chunkname(&self) -> &str {
        &self.chunkname
    }

    fn cur(&self) -> Option<u8> {
        self.src.get(self.pos).copied()
    }

    fn peek(&self, n: usize) -> Option<u8> {
        self.src.get(self.pos + n).copied()
    }

    /// `chunk:line: msg near 'tok'`.
    pub fn error(&self, msg: &str, near: Option<&str>) -> String {
        match near {
            Some(n) => format!("{}:{}: {} near '{}'", self.chunkname, self.line, msg, n),
            None => format!("{}:{}: {}", self.chunkname, self.line, msg),
        }
    }

    /// Skips a newline sequence (`\n`, `\r`, `\n\r`, `\r\n`) and counts the line.
    fn newline(&mut self) {
        let c = self.src[self.pos];
        self.pos += 1;
        if let Some(d) = self.cur() {
            if is_newline(d) && d != c {
                self.pos += 1;
            }
        }
        self.line += 1;
    }

    /// At `[` or `]`: the level of a long bracket `[==[` (the count of `=`), or Err(count)
    /// when the `=` run is not closed by the same bracket. Consumes the bracket and `=`s.
    fn skip_sep(&mut self) -> Result<usize, usize> {
        let s = self.src[self.pos];
        self.pos += 1;
        let mut n = 0;
        while self.cur() == Some(b'=') {
            self.pos += 1;
            n += 1;
        }
        if self.cur() == Some(s) {
            Ok(n)
        } else {
            Err(n)
        }
    }

    /// Reads a long string or comment after its opening `[=*`; at the second `[`.
    fn long_string(&mut self, sep: usize, comment: bool) -> Result<Vec<u8>, String> {
        self.pos += 1; // the second '['
        if self.cur().is_some_and(is_newline) {
            self.newline();
        }
        let mut buf = Vec::new();
        loop {
            match self.cur() {
                None => {
                    let what = if comment {
                        "unfinished long comment"
                    } else {
                        "unfinished long string"
                    };
                    return Err(self.error(what, Some("<eof>")));
                }
                Some(b']') => {
                    let save = self.pos;
                    if self.skip_sep() == Ok(sep) {
                        self.pos += 1;
                        return Ok(buf);
                    }
                    buf.extend_from_slice(&self.src[save..self.pos]);
                }
                Some(b'[') => {
                    let save = self.pos;
                    let r = self.skip_sep();
                    buf.extend_from_slice(&self.src[save..self.pos]);
                    if r == Ok(sep) {
                        buf.push(b'[');
                        self.pos += 1;
                        if sep == 0 {
                            return Err(self.error("nesting of [[...]] is deprecated", Some("[")));
                        }
                    }
                }
                Some(c) if is_newline(c) => {
                    buf.push(b'\n');
                    self.newline();
                }
                Some(c) => {
                    buf.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    fn string(&mut self, quote: u8) -> Result<Token, String> {
        let line = self.line;
        self.pos += 1;
        let mut buf = Vec::new();
        let near = |buf: &[u8]| {
            let mut s = vec![quote];
            s.extend_from_slice(buf);
            String::from_utf8_lossy(&s).into_owned()
        };
        loop {
            let Some(c) = self.cur() else {
                return Err(self.error("unfinished string", Some("<eof>")));
            };
            if c == quote {
                self.pos += 1;
                break;
            }
            if is_newline(c) {
                return Err(self.error("unfinished string", Some(&near(&buf))));
            }
            if c != b'\\' {
                buf.push(c);
                self.pos += 1;
                continue;
            }
            self.pos += 1;
            let Some(e) = self.cur() else {
                continue; // reported as an unfinished string at the top of the loop
            };
            let out = match e {
                b'a' => 7,
                b'b' => 8,
                b'f' => 12,
                b'n' => b'\n',
                b'r' => b'\r',
                b't' => b'\t',
                b'v' => 11,
                b'\n' | b'\r' => {
                    self.newline();
                    buf.push(b'\n');
                    continue;
                }
                b'0'..=b'9' => {
                    let mut v: u32 = 0;
                    let mut i = 0;
                    while i < 3 && self.cur().is_some_and(|d| d.is_ascii_digit()) {
                        v = v * 10 + u32::from(self.src[self.pos] - b'0');
                        self.pos += 1;
                        i += 1;
                    }
                    if v > 255 {
                        return Err(self.error("escape sequence too large", Some(&near(&buf))));
                    }
                    buf.push(v as u8);
                    continue;
                }
                other => other,
            };
            self.pos += 1;
            buf.push(out);
        }
        let mut text = vec![quote];
        text.extend_from_slice(&buf);
        text.push(quote);
        Ok(Token {
            tok: Tok::Str(buf),
            line,
            text,
        })
    }

    fn number(&mut self) -> Result<Token, String> {
        let start = self.pos;
        while self.cur().is_some_and(|c| c.is_ascii_digit() || c == b'.') {
            self.pos += 1;
        }
        if matches!(self.cur(), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(self.cur(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
        }
        while self
            .cur()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_')
        {
            self.pos += 1;
        }
        let text = &self.src[start..self.pos];
        match str_to_number(text) {
            Some(n) => Ok(Token {
                tok: Tok::Num(n),
                line: self.line,
                text: text.to_vec(),
            }),
            None => Err(self.error("malformed number", Some(&String::from_utf8_lossy(text)))),
        }
    }

    /// The next token.
    pub fn next_token(&mut self) -> Result<Token, String> {
        loop {
            let Some(c) = self.cur() else {
                return Ok(self.tok(Tok::Eof));
            };
            match c {
                b'\n' | b'\r' => self.newline(),
                b' ' | b'\t' | 0x0b | 0x0c => self.pos += 1,
                b'-' => {
                    if self.peek(1) != Some(b'-') {
                        self.pos += 1;
                        return Ok(self.tok(Tok::Char(b'-')));
                    }
                    self.pos += 2;
                    if self.cur() == Some(b'[') {
                        let save = self.pos;
                        if let Ok(sep) = self.skip_sep() {
                            self.long_string(sep, true)?;
                            continue;
                        }
                        self.pos = save;
                    }
                    while self.cur().is_some_and(|c| !is_newline(c)) {
                        self.pos += 1;
                    }
                }
                b'[' => {
                    let start = self.pos;
                    match self.skip_sep() {
                        Ok(sep) => {
                            let s = self.long_string(sep, false)?;
                            return Ok(Token {
                                tok: Tok::Str(s),
                                line: self.line,
                                text: self.src[start..self.pos].to_vec(),
                            });
                        }
                        Err(0) => {
                            self.pos = start + 1;
                            return Ok(self.tok(Tok::Char(b'[')));
                        }
                        Err(_) => {
                            let near =
                                String::from_utf8_lossy(&self.src[start..self.pos]).into_owned();
                            return Err(self.error("invalid long string delimiter", Some(&near)));
                        }
                    }
                }
                b'=' | b'<' | b'>' | b'~' => {
                    self.pos += 1;
                    if self.cur() == Some(b'=') {
                        self.pos += 1;
                        let t = match c {
                            b'=' => Tok::Eq,
                            b'<' => Tok::Le,
                            b'>' => Tok::Ge,
                            _ => Tok::Ne,
                        };
                        return Ok(self.tok(t));
                    }
                    return Ok(self.tok(Tok::Char(c)));
                }
                b'"' | b'\'' => return self.string(c),
                b'.' => {
                    if self.peek(1) == Some(b'.') {
                        if self.peek(2) == Some(b'.') {
                            self.pos += 3;
                            return Ok(self.tok(Tok::Dots));
                        }
                        self.pos += 2;
                        return Ok(self.tok(Tok::Concat));
                    }
                    if self.peek(1).is_some_and(|d| d.is_ascii_digit()) {
                        return self.number();
                    }
                    self.pos += 1;
                    return Ok(self.tok(Tok::Char(b'.')));
                }
                b'0'..=b'9' => return self.number(),
                c if c.is_ascii_alphabetic() || c == b'_' => {
                    let start = self.pos;
                    while self
                        .cur()
                        .is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_')
                    {
                        self.pos += 1;
                    }
                    let word = std::str::from_utf8(&self.src[start..self.pos]).unwrap_or("");
                    let tok = KEYWORDS
                        .iter()
                        .find(|(k, _)| *k == word)
                        .map(|(_, t)| t.clone())
                        .unwrap_or_else(|| Tok::Name(word.into()));
                    return Ok(Token {
                        tok,
                        line: self.line,
                        text: word.as_bytes().to_vec(),
                    });
                }
                _ => {
                    self.pos += 1;
                    return Ok(self.tok(Tok::Char(c)));
                }
            }
        }
    }

    fn tok(&self, tok: Tok) -> Token {
        Token {
            tok,
            line: self.line,
            text: Vec::new(),
        }
    }
}

/// A numeral as the lexer reads it: decimal with optional fraction and exponent, or `0x`
/// hexadecimal (an integer).
pub fn str_to_number(text: &[u8]) -> Option<f64> {
    if text.len() > 2 && text[0] == b'0' && (text[1] | 0x20) == b'x' {
        let mut v: f64 = 0.0;
        for &c in &text[2..] {
            let d = (c as char).to_digit(16)?;
            v = v * 16.0 + f64::from(d);
        }
        return Some(v);
    }
    let mut i = 0;
    let mut digits = 0;
    while i < text.len() && text[i].is_ascii_digit() {
        i += 1;
        digits += 1;
    }
    if i < text.len() && text[i] == b'.' {
        i += 1;
        while i < text.len() && text[i].is_ascii_digit() {
            i += 1;
            digits += 1;
        }
    }
    if digits == 0 {
        return None;
    }
    if i < text.len() && (text[i] | 0x20) == b'e' {
        i += 1;
        if i < text.len() && (text[i] == b'+' || text[i] == b'-') {
            i += 1;
        }
        let s = i;
        while i < text.len() && text[i].is_ascii_digit() {
            i += 1;
        }
        if s == i {
            return None;
        }
    }
    if i != text.len() {
        return None;
    }
    std::str::from_utf8(text).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(src: &str) -> Result<Vec<Tok>, String> {
        let mut lx = Lexer::new(src.as_bytes(), "t");
        let mut v = Vec::new();
        loop {
            let t = lx.next_token()?;
            if t.tok == Tok::Eof {
                return Ok(v);
            }
            v.push(t.tok);
        }
    }

    #[test]
    fn lexes() {
        assert_eq!(
            toks("a.b ... .. 0x1F 1e2 .5 3. [==[x]]y]==] --[[c]] 'a\\65\\n' ~= <=").unwrap(),
            vec![
                Tok::Name("a".into()),
                Tok::Char(b'.'),
                Tok::Name("b".into()),
                Tok::Dots,
                Tok::Concat,
                Tok::Num(31.0),
                Tok::Num(100.0),
                Tok::Num(0.5),
                Tok::Num(3.0),
                Tok::Str(b"x]]y".to_vec()),
                Tok::Str(b"aA\n".to_vec()),
                Tok::Ne,
                Tok::Le,
            ]
        );
        assert_eq!(
            toks("[[\nab\r\nc]]").unwrap(),
            vec![Tok::Str(b"ab\nc".to_vec())]
        );
        assert_eq!(toks("'a\\\nb'").unwrap(), vec![Tok::Str(b"a\nb".to_vec())]);
    }

    #[test]
    fn lex_errors() {
        assert_eq!(
            toks("\"abc").unwrap_err(),
            "t:1: unfinished string near '<eof>'"
        );
        assert_eq!(
            toks("\"abc\n\"").unwrap_err(),
            "t:1: unfinished string near '\"abc'"
        );
        assert_eq!(toks("3x").unwrap_err(), "t:1: malformed number near '3x'");
        assert_eq!(
            toks("1..2").unwrap_err(),
            "t:1: malformed number near '1..2'"
        );
        assert_eq!(
            toks("\n[[a").unwrap_err(),
            "t:2: unfinished long string near '<eof>'"
        );
        assert_eq!(
            toks("--[[a").unwrap_err(),
            "t:1: unfinished long comment near '<eof>'"
        );
        assert_eq!(
            toks("'\\300'").unwrap_err(),
            "t:1: escape sequence too large near '''"
        );
        assert_eq!(
            toks("[=x").unwrap_err(),
            "t:1: invalid long string delimiter near '[='"
        );
    }
}

//! The reader: source text to [`Datum`]s (plain Rust data, outside the
//! heap). Comments run from `;` to the end of the line; `'x` reads as
//! `(quote x)`; `[` `]` work as parentheses.

use super::value::{Error, ErrorKind, FIXNUM_MAX, FIXNUM_MIN};

/// An S-expression as read.
#[derive(Clone, Debug, PartialEq)]
pub enum Datum {
    /// An integer literal (fits a fixnum).
    Int(i64),
    /// A number with a fraction or exponent.
    Float(f64),
    /// `#t` / `#f`.
    Bool(bool),
    /// A string literal, escapes resolved.
    Str(String),
    /// A symbol.
    Sym(String),
    /// A list: its elements, the tail after a dot (`(a . b)`), and the line
    /// it starts on (for error messages).
    List(Vec<Datum>, Option<Box<Datum>>, u32),
}

impl Datum {
    /// The symbol's name, if this is one.
    pub fn as_sym(&self) -> Option<&str> {
        match self {
            Datum::Sym(name) => Some(name),
            _ => None,
        }
    }

    /// The elements of a proper list.
    pub fn as_list(&self) -> Option<&[Datum]> {
        match self {
            Datum::List(items, None, _) => Some(items),
            _ => None,
        }
    }
}

/// Reads every datum of `source`.
pub fn read_all(source: &str) -> Result<Vec<Datum>, Error> {
    let mut reader = Reader {
        chars: source.chars().collect(),
        pos: 0,
        line: 1,
    };
    let mut data = Vec::new();
    loop {
        reader.skip_space();
        if reader.peek().is_none() {
            return Ok(data);
        }
        data.push(reader.datum()?);
    }
}

struct Reader {
    chars: Vec<char>,
    pos: usize,
    line: u32,
}

fn is_delimiter(c: char) -> bool {
    c.is_whitespace() || matches!(c, '(' | ')' | '[' | ']' | '"' | ';' | '\'')
}

impl Reader {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += 1;
        if c == '\n' {
            self.line += 1;
        }
        Some(c)
    }

    fn error(&self, message: impl std::fmt::Display) -> Error {
        Error::new(ErrorKind::Syntax, format!("line {}: {message}", self.line))
    }

    fn skip_space(&mut self) {
        while let Some(c) = self.peek() {
            if c == ';' {
                while self.peek().is_some_and(|c| c != '\n') {
                    self.next();
                }
            } else if c.is_whitespace() {
                self.next();
            } else {
                break;
            }
        }
    }

    fn datum(&mut self) -> Result<Datum, Error> {
        self.skip_space();
        let line = self.line;
        match self.next() {
            None => Err(self.error("unexpected end of input")),
            Some('(' | '[') => self.list(line),
            Some(c @ (')' | ']')) => Err(self.error(format!("unexpected `{c}`"))),
            Some('\'') => {
                let quoted = self.datum()?;
                Ok(Datum::List(
                    vec![Datum::Sym("quote".into()), quoted],
                    None,
                    line,
                ))
            }
            Some('"') => self.string(),
            Some(c) => {
                let mut token = String::from(c);
                while let Some(c) = self.peek().filter(|&c| !is_delimiter(c)) {
                    token.push(c);
                    self.next();
                }
                self.atom(token)
            }
        }
    }

    fn list(&mut self, line: u32) -> Result<Datum, Error> {
        let mut items = Vec::new();
        loop {
            self.skip_space();
            match self.peek() {
                None => return Err(self.error(format!("list opened on line {line} is not closed"))),
                Some(')' | ']') => {
                    self.next();
                    return Ok(Datum::List(items, None, line));
                }
                Some('.')
                    if self
                        .chars
                        .get(self.pos + 1)
                        .is_none_or(|&c| is_delimiter(c)) =>
                {
                    self.next();
                    if items.is_empty() {
                        return Err(self.error("`.` with nothing before it"));
                    }
                    let tail = self.datum()?;
                    self.skip_space();
                    return match self.next() {
                        Some(')' | ']') => Ok(Datum::List(items, Some(Box::new(tail)), line)),
                        _ => Err(self.error("expected `)` after the datum following `.`")),
                    };
                }
                Some(_) => items.push(self.datum()?),
            }
        }
    }

    fn string(&mut self) -> Result<Datum, Error> {
        let mut text = String::new();
        loop {
            match self.next() {
                None => return Err(self.error("string is not closed")),
                Some('"') => return Ok(Datum::Str(text)),
                Some('\\') => match self.next() {
                    Some('n') => text.push('\n'),
                    Some('t') => text.push('\t'),
                    Some('\\') => text.push('\\'),
                    Some('"') => text.push('"'),
                    Some(c) => return Err(self.error(format!("unknown escape `\\{c}`"))),
                    None => return Err(self.error("string is not closed")),
                },
                Some(c) => text.push(c),
            }
        }
    }

    fn atom(&self, token: String) -> Result<Datum, Error> {
        match token.as_str() {
            "#t" | "#true" => return Ok(Datum::Bool(true)),
            "#f" | "#false" => return Ok(Datum::Bool(false)),
            _ => {}
        }
        let digits = token.trim_start_matches(['+', '-']);
        let numeric = digits.starts_with(|c: char| c.is_ascii_digit())
            || (digits.starts_with('.') && digits[1..].starts_with(|c: char| c.is_ascii_digit()));
        if numeric && digits.len() + 1 >= token.len() {
            if let Ok(i) = token.parse::<i64>() {
                return if (FIXNUM_MIN..=FIXNUM_MAX).contains(&i) {
                    Ok(Datum::Int(i))
                } else {
                    Err(self.error(format!("integer literal {token} does not fit in 61 bits")))
                };
            }
            if token
                .chars()
                .all(|c| c.is_ascii_digit() || c == '-' || c == '+')
            {
                return Err(self.error(format!("integer literal {token} does not fit in 61 bits")));
            }
            return token
                .parse::<f64>()
                .map(Datum::Float)
                .map_err(|_| self.error(format!("bad number `{token}`")));
        }
        if token.starts_with('#') {
            return Err(self.error(format!("unknown syntax `{token}`")));
        }
        Ok(Datum::Sym(token))
    }
}

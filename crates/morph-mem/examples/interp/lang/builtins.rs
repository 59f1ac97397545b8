//! Procedures implemented in Rust: arithmetic, lists, strings, higher-order
//! procedures (which call back into the evaluator), output, and a few
//! hooks into the collector (`gc`, `gc-minor`, `verify-heap`, `gc-count`).

use std::cmp::Ordering;

use morph_mem::gc::{Collection, Gc, Mutator};

use super::eval::{Interp, arity_error};
use super::value::{Error, ErrorKind, Imm, Obj, Slot, Val, cons, float, list, pair, string};

/// A builtin's name, operation and argument counts.
#[derive(Clone, Copy, Debug)]
pub struct Builtin {
    /// The global it is bound to.
    pub name: &'static str,
    op: Op,
    min: usize,
    max: usize,
}

const ANY: usize = usize::MAX;

macro_rules! builtins {
    ($($op:ident $name:literal $min:literal $max:expr;)*) => {
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        enum Op { $($op),* }

        /// Every builtin, by id (`Imm::Builtin(id)`).
        pub const ALL: &[Builtin] = &[$(Builtin { name: $name, op: Op::$op, min: $min, max: $max }),*];
    };
}

builtins! {
    Add "+" 0 ANY; Sub "-" 1 ANY; Mul "*" 0 ANY; Div "/" 1 ANY;
    Quotient "quotient" 2 2; Remainder "remainder" 2 2; Modulo "modulo" 2 2;
    NumEq "=" 1 ANY; Lt "<" 1 ANY; Gt ">" 1 ANY; Le "<=" 1 ANY; Ge ">=" 1 ANY;
    Abs "abs" 1 1; Min "min" 1 ANY; Max "max" 1 ANY; Expt "expt" 2 2; Sqrt "sqrt" 1 1;
    IsZero "zero?" 1 1; IsPositive "positive?" 1 1; IsNegative "negative?" 1 1;
    IsEven "even?" 1 1; IsOdd "odd?" 1 1; IsNumber "number?" 1 1; IsInteger "integer?" 1 1;
    ToInexact "exact->inexact" 1 1; ToExact "exact" 1 1;
    Cons "cons" 2 2; Car "car" 1 1; Cdr "cdr" 1 1; SetCar "set-car!" 2 2; SetCdr "set-cdr!" 2 2;
    Cadr "cadr" 1 1; Cddr "cddr" 1 1; Caddr "caddr" 1 1;
    List "list" 0 ANY; Length "length" 1 1; Reverse "reverse" 1 1; Append "append" 0 ANY;
    ListTail "list-tail" 2 2; ListRef "list-ref" 2 2; Iota "iota" 1 1;
    Memq "memq" 2 2; Member "member" 2 2; Assq "assq" 2 2; Assoc "assoc" 2 2;
    IsNull "null?" 1 1; IsPair "pair?" 1 1; IsList "list?" 1 1;
    Eq "eq?" 2 2; Eqv "eqv?" 2 2; Equal "equal?" 2 2; Not "not" 1 1;
    IsBoolean "boolean?" 1 1; IsSymbol "symbol?" 1 1; IsString "string?" 1 1;
    IsProcedure "procedure?" 1 1;
    StringAppend "string-append" 0 ANY; StringLength "string-length" 1 1;
    NumberToString "number->string" 1 1; SymbolToString "symbol->string" 1 1;
    StringToSymbol "string->symbol" 1 1; StringEq "string=?" 1 ANY;
    Map "map" 2 ANY; ForEach "for-each" 2 ANY; Filter "filter" 2 2;
    FoldLeft "fold-left" 3 3; FoldRight "fold-right" 3 3; Apply "apply" 2 ANY;
    Display "display" 1 1; Write "write" 1 1; Newline "newline" 0 0;
    Raise "error" 1 ANY;
    CollectMajor "gc" 0 0; CollectMinor "gc-minor" 0 0; VerifyHeap "verify-heap" 0 0;
    GcCount "gc-count" 0 0;
}

/// A number as arithmetic sees it.
#[derive(Clone, Copy, Debug)]
enum Num {
    Int(i64),
    Float(f64),
}

impl Num {
    fn to_f64(self) -> f64 {
        match self {
            Num::Int(i) => i as f64,
            Num::Float(f) => f,
        }
    }
}

fn overflow() -> Error {
    Error::new(ErrorKind::Range, "integer overflow")
}

fn division_by_zero(who: &str) -> Error {
    Error::new(ErrorKind::Range, format!("`{who}`: division by zero"))
}

/// A reference to a value, without rooting (valid while `m` is borrowed).
#[derive(Clone, Copy)]
enum View<'a> {
    Imm(Imm),
    Obj(Gc<'a, Obj>),
}

fn view<'a, 'gc>(m: &'a Mutator<'gc>, value: &Val<'gc>) -> View<'a> {
    match value {
        Val::Imm(imm) => View::Imm(*imm),
        Val::Obj(root) => View::Obj(root.get(m)),
    }
}

fn view_slot<'a>(m: &'a Mutator<'_>, slot: &'a Slot) -> View<'a> {
    match slot.object(m) {
        Some(obj) => View::Obj(obj),
        None => View::Imm(slot.immediate().expect("no object")),
    }
}

fn eqv(a: View<'_>, b: View<'_>) -> bool {
    match (a, b) {
        (View::Imm(a), View::Imm(b)) => a == b,
        (View::Obj(a), View::Obj(b)) => {
            Gc::ptr_eq(a, b)
                || matches!((a.get_ref(), b.get_ref()), (Obj::Float(x), Obj::Float(y)) if x == y)
        }
        _ => false,
    }
}

fn equal<'a>(m: &'a Mutator<'_>, mut a: View<'a>, mut b: View<'a>) -> bool {
    loop {
        if eqv(a, b) {
            return true;
        }
        let (View::Obj(x), View::Obj(y)) = (a, b) else {
            return false;
        };
        match (x.get_ref(), y.get_ref()) {
            (Obj::Pair(xa, xd), Obj::Pair(ya, yd)) => {
                if !equal(m, view_slot(m, xa), view_slot(m, ya)) {
                    return false;
                }
                a = view_slot(m, xd);
                b = view_slot(m, yd);
            }
            (Obj::Str(x), Obj::Str(y)) => {
                let text = |s: &morph_mem::gc::Member<super::value::Text>| {
                    s.get(m).map(|t| &*t.get_ref().text)
                };
                return text(x) == text(y);
            }
            _ => return false,
        }
    }
}

fn text<'a, 'gc>(m: &'a Mutator<'gc>, value: &Val<'gc>) -> Option<&'a str> {
    match value.object(m)? {
        Obj::Str(text) => Some(&text.get(m)?.get_ref().text),
        _ => None,
    }
}

/// The state of a walk down a list.
struct ListWalk<'gc> {
    rest: Val<'gc>,
}

impl<'gc> ListWalk<'gc> {
    /// The next element; `Ok(None)` at the end; an error for an improper list.
    fn next(&mut self, m: &Mutator<'gc>) -> Result<Option<Val<'gc>>, ()> {
        if matches!(self.rest, Val::Imm(Imm::Nil)) {
            return Ok(None);
        }
        let (car, cdr) = pair(m, &self.rest).ok_or(())?;
        let car = car.load(m);
        self.rest = cdr.load(m);
        Ok(Some(car))
    }
}

impl<'gc> Interp<'gc> {
    fn type_error(&self, m: &Mutator<'gc>, who: &str, expected: &str, got: &Val<'gc>) -> Error {
        Error::new(
            ErrorKind::Type,
            format!("`{who}` expects {expected}, got {}", self.show(m, got)),
        )
    }

    fn num(&self, m: &Mutator<'gc>, who: &str, value: &Val<'gc>) -> Result<Num, Error> {
        match value {
            Val::Imm(Imm::Int(i)) => Ok(Num::Int(*i)),
            _ => match value.object(m) {
                Some(Obj::Float(f)) => Ok(Num::Float(*f)),
                _ => Err(self.type_error(m, who, "a number", value)),
            },
        }
    }

    fn int(&self, m: &Mutator<'gc>, who: &str, value: &Val<'gc>) -> Result<i64, Error> {
        match value {
            Val::Imm(Imm::Int(i)) => Ok(*i),
            _ => Err(self.type_error(m, who, "an integer", value)),
        }
    }

    fn index(&self, m: &Mutator<'gc>, who: &str, value: &Val<'gc>) -> Result<usize, Error> {
        match value {
            Val::Imm(Imm::Int(i)) if *i >= 0 => Ok(*i as usize),
            _ => Err(self.type_error(m, who, "a non-negative integer", value)),
        }
    }

    /// The elements of a proper list.
    fn elements(
        &self,
        m: &Mutator<'gc>,
        who: &str,
        value: &Val<'gc>,
    ) -> Result<Vec<Val<'gc>>, Error> {
        let mut walk = ListWalk {
            rest: value.clone(),
        };
        let mut items = Vec::new();
        while let Some(item) = walk
            .next(m)
            .map_err(|()| self.type_error(m, who, "a proper list", value))?
        {
            items.push(item);
        }
        Ok(items)
    }

    fn car_cdr(
        &self,
        m: &Mutator<'gc>,
        who: &str,
        value: &Val<'gc>,
        car: bool,
    ) -> Result<Val<'gc>, Error> {
        match pair(m, value) {
            Some((a, d)) => Ok(if car { a.load(m) } else { d.load(m) }),
            None => Err(self.type_error(m, who, "a pair", value)),
        }
    }
}

fn number<'gc>(m: &mut Mutator<'gc>, n: Num) -> Result<Val<'gc>, Error> {
    match n {
        Num::Int(i) => Val::int(i),
        Num::Float(f) => Ok(float(m, f)),
    }
}

fn arith(op: Op, a: Num, b: Num) -> Result<Num, Error> {
    Ok(match (a, b) {
        (Num::Int(x), Num::Int(y)) => Num::Int(
            match op {
                Op::Add => x.checked_add(y),
                Op::Sub => x.checked_sub(y),
                _ => x.checked_mul(y),
            }
            .ok_or_else(overflow)?,
        ),
        _ => {
            let (x, y) = (a.to_f64(), b.to_f64());
            Num::Float(match op {
                Op::Add => x + y,
                Op::Sub => x - y,
                _ => x * y,
            })
        }
    })
}

fn compare(a: Num, b: Num) -> Option<Ordering> {
    match (a, b) {
        (Num::Int(x), Num::Int(y)) => Some(x.cmp(&y)),
        _ => a.to_f64().partial_cmp(&b.to_f64()),
    }
}

/// The common one-argument builtins on their common types, kept small
/// for the evaluator to inline; `None` means "take the general path"
/// (which also reports errors).
#[inline]
pub fn fast1<'gc>(
    m: &mut Mutator<'gc>,
    id: u32,
    arg: &Val<'gc>,
) -> Option<Result<Val<'gc>, Error>> {
    let op = ALL.get(id as usize)?.op;
    Some(Ok(match op {
        Op::Car | Op::Cdr => {
            let (car, cdr) = pair(m, arg)?;
            if op == Op::Car {
                car.load(m)
            } else {
                cdr.load(m)
            }
        }
        Op::Cadr => {
            let (_, cdr) = pair(m, arg)?;
            match cdr.object(m)?.get_ref() {
                Obj::Pair(car, _) => car.load(m),
                _ => return None,
            }
        }
        Op::IsNull => Val::bool(matches!(arg, Val::Imm(Imm::Nil))),
        Op::IsPair => Val::bool(pair(m, arg).is_some()),
        Op::Not => Val::bool(!arg.is_true()),
        Op::IsZero => match arg {
            Val::Imm(Imm::Int(i)) => Val::bool(*i == 0),
            _ => return None,
        },
        _ => return None,
    }))
}

/// As [`fast1`], for two arguments.
#[inline]
pub fn fast2<'gc>(
    m: &mut Mutator<'gc>,
    id: u32,
    a: &Val<'gc>,
    b: &Val<'gc>,
) -> Option<Result<Val<'gc>, Error>> {
    let op = ALL.get(id as usize)?.op;
    if op == Op::Cons {
        return Some(Ok(cons(m, a, b)));
    }
    if op == Op::Eq {
        return Some(Ok(Val::bool(eqv(view(m, a), view(m, b)))));
    }
    let (Val::Imm(Imm::Int(x)), Val::Imm(Imm::Int(y))) = (a, b) else {
        return None;
    };
    let (x, y) = (*x, *y);
    Some(match op {
        Op::Add => Val::int(x + y),
        Op::Sub => Val::int(x - y),
        Op::Mul => x.checked_mul(y).ok_or_else(overflow).and_then(Val::int),
        Op::NumEq => Ok(Val::bool(x == y)),
        Op::Lt => Ok(Val::bool(x < y)),
        Op::Gt => Ok(Val::bool(x > y)),
        Op::Le => Ok(Val::bool(x <= y)),
        Op::Ge => Ok(Val::bool(x >= y)),
        Op::Remainder if y != 0 => Val::int(x % y),
        Op::Quotient if y != 0 => Val::int(x / y),
        _ => return None,
    })
}

/// Calls builtin `id` with `args`.
pub fn call<'gc>(
    it: &mut Interp<'gc>,
    m: &mut Mutator<'gc>,
    id: u32,
    args: &[Val<'gc>],
) -> Result<Val<'gc>, Error> {
    let builtin = ALL[id as usize];
    let name = builtin.name;
    if args.len() < builtin.min || args.len() > builtin.max {
        return Err(if builtin.max == ANY || builtin.min == builtin.max {
            arity_error(name, builtin.min, builtin.max == ANY, args.len())
        } else {
            Error::new(
                ErrorKind::Arity,
                format!(
                    "`{name}` expects {} to {} arguments, got {}",
                    builtin.min,
                    builtin.max,
                    args.len()
                ),
            )
        });
    }
    let int = |i: i64| Val::int(i);
    match builtin.op {
        op @ (Op::Add | Op::Sub | Op::Mul) => {
            if let [Val::Imm(Imm::Int(a)), Val::Imm(Imm::Int(b))] = args {
                let result = match op {
                    Op::Add => a.checked_add(*b),
                    Op::Sub => a.checked_sub(*b),
                    _ => a.checked_mul(*b),
                };
                return result.ok_or_else(overflow).and_then(int);
            }
            let identity = if op == Op::Mul { 1 } else { 0 };
            let mut acc = Num::Int(identity);
            for (i, arg) in args.iter().enumerate() {
                let n = it.num(m, name, arg)?;
                acc = if i == 0 && op == Op::Sub && args.len() > 1 {
                    n
                } else {
                    arith(op, acc, n)?
                };
            }
            number(m, acc)
        }
        Op::Div => {
            let mut acc = if args.len() == 1 {
                Num::Int(1)
            } else {
                it.num(m, name, &args[0])?
            };
            let divisors = if args.len() == 1 { args } else { &args[1..] };
            for arg in divisors {
                let d = it.num(m, name, arg)?;
                acc = match (acc, d) {
                    (_, Num::Int(0)) => return Err(division_by_zero(name)),
                    (Num::Int(a), Num::Int(b)) if a % b == 0 => Num::Int(a / b),
                    _ => Num::Float(acc.to_f64() / d.to_f64()),
                };
            }
            number(m, acc)
        }
        Op::Quotient | Op::Remainder | Op::Modulo => {
            let a = it.int(m, name, &args[0])?;
            let b = it.int(m, name, &args[1])?;
            if b == 0 {
                return Err(division_by_zero(name));
            }
            int(match builtin.op {
                Op::Quotient => a / b,
                Op::Remainder => a % b,
                _ => {
                    // The sign of the divisor.
                    let r = a % b;
                    if r != 0 && (r < 0) != (b < 0) {
                        r + b
                    } else {
                        r
                    }
                }
            })
        }
        Op::NumEq | Op::Lt | Op::Gt | Op::Le | Op::Ge => {
            if let [Val::Imm(Imm::Int(a)), Val::Imm(Imm::Int(b))] = args {
                return Ok(Val::bool(test_order(builtin.op, a.cmp(b))));
            }
            let mut previous = it.num(m, name, &args[0])?;
            let mut result = true;
            for arg in &args[1..] {
                let n = it.num(m, name, arg)?;
                result &= compare(previous, n).is_some_and(|o| test_order(builtin.op, o));
                previous = n;
            }
            Ok(Val::bool(result))
        }
        Op::Abs => match it.num(m, name, &args[0])? {
            Num::Int(i) => int(i.abs()),
            Num::Float(f) => Ok(float(m, f.abs())),
        },
        Op::Min | Op::Max => {
            let mut best = it.num(m, name, &args[0])?;
            let mut inexact = matches!(best, Num::Float(_));
            for arg in &args[1..] {
                let n = it.num(m, name, arg)?;
                inexact |= matches!(n, Num::Float(_));
                let better = match compare(n, best) {
                    Some(Ordering::Less) => builtin.op == Op::Min,
                    Some(Ordering::Greater) => builtin.op == Op::Max,
                    _ => false,
                };
                if better {
                    best = n;
                }
            }
            if inexact {
                best = Num::Float(best.to_f64());
            }
            number(m, best)
        }
        Op::Expt => {
            let base = it.num(m, name, &args[0])?;
            let power = it.num(m, name, &args[1])?;
            match (base, power) {
                (Num::Int(b), Num::Int(p)) if p >= 0 => {
                    let p = u32::try_from(p).map_err(|_| overflow())?;
                    b.checked_pow(p).ok_or_else(overflow).and_then(int)
                }
                _ => Ok(float(m, base.to_f64().powf(power.to_f64()))),
            }
        }
        Op::Sqrt => {
            let n = it.num(m, name, &args[0])?;
            if let Num::Int(i) = n
                && i >= 0
            {
                let root = (i as f64).sqrt() as i64;
                if root * root == i {
                    return int(root);
                }
            }
            Ok(float(m, n.to_f64().sqrt()))
        }
        Op::IsZero | Op::IsPositive | Op::IsNegative => {
            let n = it.num(m, name, &args[0])?;
            let order = compare(n, Num::Int(0));
            Ok(Val::bool(match builtin.op {
                Op::IsZero => order == Some(Ordering::Equal),
                Op::IsPositive => order == Some(Ordering::Greater),
                _ => order == Some(Ordering::Less),
            }))
        }
        Op::IsEven | Op::IsOdd => {
            let i = it.int(m, name, &args[0])?;
            Ok(Val::bool((i % 2 == 0) == (builtin.op == Op::IsEven)))
        }
        Op::IsNumber => Ok(Val::bool(it.num(m, name, &args[0]).is_ok())),
        Op::IsInteger => Ok(Val::bool(match it.num(m, name, &args[0]) {
            Ok(Num::Int(_)) => true,
            Ok(Num::Float(f)) => f.fract() == 0.0,
            Err(_) => false,
        })),
        Op::ToInexact => {
            let n = it.num(m, name, &args[0])?;
            Ok(float(m, n.to_f64()))
        }
        Op::ToExact => match it.num(m, name, &args[0])? {
            Num::Int(i) => int(i),
            Num::Float(f) if f.is_finite() && f.abs() < 1e18 => int(f.round() as i64),
            Num::Float(_) => Err(Error::new(
                ErrorKind::Range,
                format!("`{name}`: no exact integer for it"),
            )),
        },
        Op::Cons => Ok(cons(m, &args[0], &args[1])),
        Op::Car => it.car_cdr(m, name, &args[0], true),
        Op::Cdr => it.car_cdr(m, name, &args[0], false),
        Op::Cadr => {
            let rest = it.car_cdr(m, name, &args[0], false)?;
            it.car_cdr(m, name, &rest, true)
        }
        Op::Cddr => {
            let rest = it.car_cdr(m, name, &args[0], false)?;
            it.car_cdr(m, name, &rest, false)
        }
        Op::Caddr => {
            let rest = it.car_cdr(m, name, &args[0], false)?;
            let rest = it.car_cdr(m, name, &rest, false)?;
            it.car_cdr(m, name, &rest, true)
        }
        Op::SetCar | Op::SetCdr => match pair(m, &args[0]) {
            Some((car, cdr)) => {
                let slot = if builtin.op == Op::SetCar { car } else { cdr };
                slot.store(m, &args[1]);
                Ok(Val::UNSPECIFIED)
            }
            None => Err(it.type_error(m, name, "a pair", &args[0])),
        },
        Op::List => Ok(list(m, args)),
        Op::Length => {
            let mut length = 0usize;
            let mut rest = view(m, &args[0]);
            loop {
                match rest {
                    View::Imm(Imm::Nil) => break,
                    View::Obj(obj) => match obj.get_ref() {
                        Obj::Pair(_, cdr) => {
                            length += 1;
                            rest = view_slot(m, cdr);
                        }
                        _ => return Err(it.type_error(m, name, "a proper list", &args[0])),
                    },
                    View::Imm(_) => return Err(it.type_error(m, name, "a proper list", &args[0])),
                }
            }
            int(length as i64)
        }
        Op::Reverse => {
            let mut walk = ListWalk {
                rest: args[0].clone(),
            };
            let mut reversed = Val::NIL;
            while let Some(item) = walk
                .next(m)
                .map_err(|()| it.type_error(m, name, "a proper list", &args[0]))?
            {
                reversed = cons(m, &item, &reversed);
            }
            Ok(reversed)
        }
        Op::Append => {
            let Some((last, lists)) = args.split_last() else {
                return Ok(Val::NIL);
            };
            let mut result = last.clone();
            for list in lists.iter().rev() {
                let items = it.elements(m, name, list)?;
                for item in items.iter().rev() {
                    result = cons(m, item, &result);
                }
            }
            Ok(result)
        }
        Op::ListTail | Op::ListRef => {
            let k = it.index(m, name, &args[1])?;
            let mut rest = args[0].clone();
            for _ in 0..k {
                rest = match pair(m, &rest) {
                    Some((_, cdr)) => cdr.load(m),
                    None => {
                        return Err(Error::new(
                            ErrorKind::Range,
                            format!("`{name}`: index {k} is past the end of the list"),
                        ));
                    }
                };
            }
            if builtin.op == Op::ListTail {
                return Ok(rest);
            }
            match pair(m, &rest) {
                Some((car, _)) => Ok(car.load(m)),
                None => Err(Error::new(
                    ErrorKind::Range,
                    format!("`{name}`: index {k} is past the end of the list"),
                )),
            }
        }
        Op::Iota => {
            let n = it.index(m, name, &args[0])?;
            let mut result = Val::NIL;
            for i in (0..n).rev() {
                result = cons(m, &int(i as i64)?, &result);
            }
            Ok(result)
        }
        Op::Memq | Op::Member | Op::Assq | Op::Assoc => {
            let deep = matches!(builtin.op, Op::Member | Op::Assoc);
            let assoc = matches!(builtin.op, Op::Assq | Op::Assoc);
            let mut rest = args[1].clone();
            loop {
                let found = {
                    let Some((car, cdr)) = pair(m, &rest) else {
                        return Ok(Val::bool(false));
                    };
                    let mut candidate = view_slot(m, car);
                    if assoc {
                        match candidate {
                            View::Obj(entry) => match entry.get_ref() {
                                Obj::Pair(key, _) => candidate = view_slot(m, key),
                                _ => {
                                    return Err(it.type_error(
                                        m,
                                        name,
                                        "a list of pairs",
                                        &args[1],
                                    ));
                                }
                            },
                            View::Imm(_) => {
                                return Err(it.type_error(m, name, "a list of pairs", &args[1]));
                            }
                        }
                    }
                    let key = view(m, &args[0]);
                    let hit = if deep {
                        equal(m, key, candidate)
                    } else {
                        eqv(key, candidate)
                    };
                    if hit {
                        Some(if assoc { car.load(m) } else { rest.clone() })
                    } else {
                        rest = cdr.load(m);
                        None
                    }
                };
                if let Some(found) = found {
                    return Ok(found);
                }
            }
        }
        Op::IsNull => Ok(Val::bool(matches!(args[0], Val::Imm(Imm::Nil)))),
        Op::IsPair => Ok(Val::bool(pair(m, &args[0]).is_some())),
        Op::IsList => Ok(Val::bool(it.elements(m, name, &args[0]).is_ok())),
        Op::Eq | Op::Eqv => Ok(Val::bool(eqv(view(m, &args[0]), view(m, &args[1])))),
        Op::Equal => Ok(Val::bool(equal(m, view(m, &args[0]), view(m, &args[1])))),
        Op::Not => Ok(Val::bool(!args[0].is_true())),
        Op::IsBoolean => Ok(Val::bool(matches!(args[0], Val::Imm(Imm::Bool(_))))),
        Op::IsSymbol => Ok(Val::bool(matches!(args[0], Val::Imm(Imm::Sym(_))))),
        Op::IsString => Ok(Val::bool(text(m, &args[0]).is_some())),
        Op::IsProcedure => Ok(Val::bool(matches!(
            (&args[0], args[0].object(m)),
            (Val::Imm(Imm::Builtin(_)), _) | (_, Some(Obj::Closure { .. }))
        ))),
        Op::StringAppend => {
            let mut joined = String::new();
            for arg in args {
                joined
                    .push_str(text(m, arg).ok_or_else(|| it.type_error(m, name, "strings", arg))?);
            }
            Ok(string(m, &joined))
        }
        Op::StringLength => {
            let length = text(m, &args[0])
                .ok_or_else(|| it.type_error(m, name, "a string", &args[0]))?
                .chars()
                .count();
            int(length as i64)
        }
        Op::NumberToString => {
            it.num(m, name, &args[0])?;
            let shown = it.show(m, &args[0]);
            Ok(string(m, &shown))
        }
        Op::SymbolToString => match args[0] {
            Val::Imm(Imm::Sym(sym)) => {
                let shown = it.symbol_name(sym).to_owned();
                Ok(string(m, &shown))
            }
            _ => Err(it.type_error(m, name, "a symbol", &args[0])),
        },
        Op::StringToSymbol => {
            let text = text(m, &args[0])
                .ok_or_else(|| it.type_error(m, name, "a string", &args[0]))?
                .to_owned();
            Ok(Val::Imm(Imm::Sym(it.intern(&text))))
        }
        Op::StringEq => {
            let first =
                text(m, &args[0]).ok_or_else(|| it.type_error(m, name, "strings", &args[0]))?;
            for arg in &args[1..] {
                if text(m, arg).ok_or_else(|| it.type_error(m, name, "strings", arg))? != first {
                    return Ok(Val::bool(false));
                }
            }
            Ok(Val::bool(true))
        }
        Op::Map | Op::ForEach => {
            let procedure = &args[0];
            let mut walks: Vec<ListWalk<'gc>> = args[1..]
                .iter()
                .map(|l| ListWalk { rest: l.clone() })
                .collect();
            let mut results = Vec::new();
            let mut call_args = Vec::with_capacity(walks.len());
            'outer: loop {
                call_args.clear();
                for (walk, list) in walks.iter_mut().zip(&args[1..]) {
                    match walk.next(m) {
                        Ok(Some(item)) => call_args.push(item),
                        Ok(None) => break 'outer,
                        Err(()) => return Err(it.type_error(m, name, "proper lists", list)),
                    }
                }
                let result = it.apply(m, procedure, &call_args)?;
                if builtin.op == Op::Map {
                    results.push(result);
                }
            }
            if builtin.op == Op::Map {
                Ok(list(m, &results))
            } else {
                Ok(Val::UNSPECIFIED)
            }
        }
        Op::Filter => {
            let mut walk = ListWalk {
                rest: args[1].clone(),
            };
            let mut kept = Vec::new();
            while let Some(item) = walk
                .next(m)
                .map_err(|()| it.type_error(m, name, "a proper list", &args[1]))?
            {
                if it
                    .apply(m, &args[0], std::slice::from_ref(&item))?
                    .is_true()
                {
                    kept.push(item);
                }
            }
            Ok(list(m, &kept))
        }
        Op::FoldLeft => {
            let mut walk = ListWalk {
                rest: args[2].clone(),
            };
            let mut acc = args[1].clone();
            while let Some(item) = walk
                .next(m)
                .map_err(|()| it.type_error(m, name, "a proper list", &args[2]))?
            {
                acc = it.apply(m, &args[0], &[acc, item])?;
            }
            Ok(acc)
        }
        Op::FoldRight => {
            let items = it.elements(m, name, &args[2])?;
            let mut acc = args[1].clone();
            for item in items.into_iter().rev() {
                acc = it.apply(m, &args[0], &[item, acc])?;
            }
            Ok(acc)
        }
        Op::Apply => {
            let (last, first) = args[1..].split_last().expect("at least two arguments");
            let mut call_args = first.to_vec();
            call_args.extend(it.elements(m, name, last)?);
            it.apply(m, &args[0], &call_args)
        }
        Op::Display | Op::Write => {
            let mut out = std::mem::take(&mut it.output);
            it.write_value(m, &args[0], builtin.op == Op::Display, &mut out);
            it.output = out;
            it.flush_if_echoing();
            Ok(Val::UNSPECIFIED)
        }
        Op::Newline => {
            it.output.push('\n');
            it.flush_if_echoing();
            Ok(Val::UNSPECIFIED)
        }
        Op::Raise => {
            let mut message = String::new();
            it.write_value(m, &args[0], true, &mut message);
            for irritant in &args[1..] {
                message.push(' ');
                it.write_value(m, irritant, false, &mut message);
            }
            Err(Error::new(ErrorKind::User, message))
        }
        Op::CollectMajor | Op::CollectMinor => {
            m.collect(if builtin.op == Op::CollectMajor {
                Collection::Major
            } else {
                Collection::Minor
            });
            Ok(Val::UNSPECIFIED)
        }
        Op::VerifyHeap => match m.verify() {
            Ok(()) => Ok(Val::UNSPECIFIED),
            Err(errors) => Err(Error::new(ErrorKind::Heap, format!("{errors:?}"))),
        },
        Op::GcCount => int(m.collections() as i64),
    }
}

fn test_order(op: Op, order: Ordering) -> bool {
    match op {
        Op::NumEq => order == Ordering::Equal,
        Op::Lt => order == Ordering::Less,
        Op::Gt => order == Ordering::Greater,
        Op::Le => order != Ordering::Greater,
        _ => order != Ordering::Less,
    }
}

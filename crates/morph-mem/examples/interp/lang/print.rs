//! Printing values: `display` (strings raw) and `write` (strings quoted).

use morph_mem::gc::Mutator;

use super::eval::Interp;
use super::value::{Imm, Obj, Slot, Val};

/// Lists longer than this print their first elements and `...`.
const MAX_ELEMENTS: usize = 100_000;
/// Lists nested deeper than this print as `...`.
const MAX_NESTING: usize = 1_000;

fn write_float(value: f64, out: &mut String) {
    if value.is_nan() {
        out.push_str("+nan.0");
    } else if value.is_infinite() {
        out.push_str(if value > 0.0 { "+inf.0" } else { "-inf.0" });
    } else {
        out.push_str(&format!("{value:?}"));
    }
}

impl<'gc> Interp<'gc> {
    /// `value` as `write` prints it.
    pub fn show(&self, m: &Mutator<'gc>, value: &Val<'gc>) -> String {
        let mut out = String::new();
        self.write_value(m, value, false, &mut out);
        out
    }

    /// Appends `value` to `out`, as `display` (`display = true`) or `write`.
    pub fn write_value(&self, m: &Mutator<'gc>, value: &Val<'gc>, display: bool, out: &mut String) {
        match value {
            Val::Imm(imm) => self.write_imm(*imm, out),
            Val::Obj(root) => self.write_obj(m, root.get(m).get_ref(), display, out, 0),
        }
    }

    fn write_imm(&self, imm: Imm, out: &mut String) {
        match imm {
            Imm::Undefined => out.push_str("#<undefined>"),
            Imm::Nil => out.push_str("()"),
            Imm::Bool(true) => out.push_str("#t"),
            Imm::Bool(false) => out.push_str("#f"),
            Imm::Int(i) => out.push_str(&i.to_string()),
            Imm::Sym(sym) => out.push_str(self.symbol_name(sym)),
            Imm::Builtin(id) => {
                out.push_str("#<procedure ");
                out.push_str(super::builtins::ALL[id as usize].name);
                out.push('>');
            }
            Imm::Unspecified => out.push_str("#<unspecified>"),
        }
    }

    fn write_slot(
        &self,
        m: &Mutator<'gc>,
        slot: &Slot,
        display: bool,
        out: &mut String,
        nesting: usize,
    ) {
        match slot.object(m) {
            Some(obj) => self.write_obj(m, obj.get_ref(), display, out, nesting),
            None => self.write_imm(slot.immediate().expect("no object"), out),
        }
    }

    fn write_obj(
        &self,
        m: &Mutator<'gc>,
        obj: &Obj,
        display: bool,
        out: &mut String,
        nesting: usize,
    ) {
        match obj {
            Obj::Float(value) => write_float(*value, out),
            Obj::Str(text) => {
                let text = &text.get(m).expect("strings have text").get_ref().text;
                if display {
                    out.push_str(text);
                } else {
                    out.push_str(&format!("{text:?}"));
                }
            }
            Obj::Closure { code, .. } => {
                out.push_str("#<procedure ");
                out.push_str(self.lambda_name(*code));
                out.push('>');
            }
            Obj::Pair(car, cdr) => {
                if nesting >= MAX_NESTING {
                    out.push_str("(...)");
                    return;
                }
                out.push('(');
                self.write_slot(m, car, display, out, nesting + 1);
                let mut rest = cdr;
                let mut count = 1;
                loop {
                    match rest.object(m).map(|o| o.get_ref()) {
                        Some(Obj::Pair(car, cdr)) => {
                            if count == MAX_ELEMENTS {
                                out.push_str(" ...");
                                break;
                            }
                            out.push(' ');
                            self.write_slot(m, car, display, out, nesting + 1);
                            rest = cdr;
                            count += 1;
                        }
                        Some(other) => {
                            out.push_str(" . ");
                            self.write_obj(m, other, display, out, nesting + 1);
                            break;
                        }
                        None => {
                            match rest.immediate() {
                                Some(Imm::Nil) | None => {}
                                Some(imm) => {
                                    out.push_str(" . ");
                                    self.write_imm(imm, out);
                                }
                            }
                            break;
                        }
                    }
                }
                out.push(')');
            }
        }
    }
}

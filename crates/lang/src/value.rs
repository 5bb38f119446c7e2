//! The values evaluation works with, and the operators' meaning on them. A [`Val`]
//! borrows from the resource or from the program's constants wherever it can, so
//! evaluating a condition copies no JSON. Every operation here is total: a pair of
//! values it has no meaning for gives `false` or `null`, never an error.

use std::cmp::Ordering;

use serde_json::Value;

use crate::compile::{Arith, Order, Step};

/// A value during evaluation.
#[derive(Debug, Clone)]
pub(crate) enum Val<'a> {
    /// `null`, also what a missing field reads as.
    Null,
    /// A boolean.
    Bool(bool),
    /// A number that is a 64-bit integer.
    Int(i64),
    /// Any other number; always finite.
    Float(f64),
    /// A borrowed string.
    Str(&'a str),
    /// A string computed during evaluation.
    Owned(String),
    /// A borrowed JSON list or object.
    Json(&'a Value),
    /// A list built during evaluation.
    List(Vec<Val<'a>>),
}

/// A number, for comparisons and arithmetic.
#[derive(Debug, Clone, Copy)]
enum Num {
    I(i64),
    F(f64),
}

impl<'a> Val<'a> {
    /// Views a JSON value; numbers beyond the 64-bit integers become floats.
    pub fn from_json(value: &'a Value) -> Self {
        match value {
            Value::Null => Val::Null,
            Value::Bool(b) => Val::Bool(*b),
            Value::Number(n) => match n.as_i64() {
                Some(i) => Val::Int(i),
                None => Val::Float(n.as_f64().unwrap_or(0.0)),
            },
            Value::String(s) => Val::Str(s),
            Value::Array(_) | Value::Object(_) => Val::Json(value),
        }
    }

    /// A float, or `null` when arithmetic left the finite numbers.
    fn float(f: f64) -> Self {
        if f.is_finite() {
            Val::Float(f)
        } else {
            Val::Null
        }
    }

    /// Whether this is exactly `true`; every other value counts as false.
    pub fn is_true(&self) -> bool {
        matches!(self, Val::Bool(true))
    }

    /// The text of a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Val::Str(s) => Some(s),
            Val::Owned(s) => Some(s),
            _ => None,
        }
    }

    fn as_num(&self) -> Option<Num> {
        match self {
            Val::Int(i) => Some(Num::I(*i)),
            Val::Float(f) => Some(Num::F(*f)),
            _ => None,
        }
    }

    /// Characters of a string, elements of a list, keys of an object, else 0.
    pub fn size(&self) -> i64 {
        let n = match self {
            Val::Str(_) | Val::Owned(_) => self.as_str().map_or(0, |s| s.chars().count()),
            Val::Json(Value::Array(items)) => items.len(),
            Val::Json(Value::Object(map)) => map.len(),
            Val::List(items) => items.len(),
            _ => 0,
        };
        i64::try_from(n).unwrap_or(i64::MAX)
    }

    /// Applies one selection step; anything that does not fit gives `null`.
    pub fn step(self, step: &Step) -> Val<'a> {
        match self {
            Val::Json(value) => {
                walk(value, std::slice::from_ref(step)).map_or(Val::Null, Val::from_json)
            }
            Val::List(items) => match step {
                Step::Index(i) => index(&items, *i).cloned().unwrap_or(Val::Null),
                Step::Key(_) => Val::Null,
            },
            _ => Val::Null,
        }
    }

    /// The value as JSON; used for constants and for the public result.
    pub fn to_json(&self) -> Value {
        match self {
            Val::Null => Value::Null,
            Val::Bool(b) => Value::Bool(*b),
            Val::Int(i) => Value::from(*i),
            Val::Float(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
            Val::Str(s) => Value::String((*s).to_owned()),
            Val::Owned(s) => Value::String(s.clone()),
            Val::Json(value) => (*value).clone(),
            Val::List(items) => Value::Array(items.iter().map(Val::to_json).collect()),
        }
    }
}

/// Follows `steps` from `value`; `None` as soon as a step does not fit.
pub(crate) fn walk<'a>(mut value: &'a Value, steps: &[Step]) -> Option<&'a Value> {
    for step in steps {
        value = match (step, value) {
            (Step::Key(key), Value::Object(map)) => map.get(&**key)?,
            (Step::Index(i), Value::Array(items)) => index(items, *i)?,
            _ => return None,
        };
    }
    Some(value)
}

fn index<T>(items: &[T], i: i64) -> Option<&T> {
    items.get(usize::try_from(i).ok()?)
}

/// Turns a computed index into a step: a string is a key, an integral number an index.
pub(crate) fn step_of(index: &Val<'_>) -> Option<Step> {
    match index {
        Val::Int(i) => Some(Step::Index(*i)),
        Val::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Some(Step::Index(*f as i64)),
        _ => index.as_str().map(|s| Step::Key(s.into())),
    }
}

fn num_cmp(a: Num, b: Num) -> Option<Ordering> {
    match (a, b) {
        (Num::I(x), Num::I(y)) => Some(x.cmp(&y)),
        (Num::I(x), Num::F(y)) => (x as f64).partial_cmp(&y),
        (Num::F(x), Num::I(y)) => x.partial_cmp(&(y as f64)),
        (Num::F(x), Num::F(y)) => x.partial_cmp(&y),
    }
}

/// Structural equality, with numbers compared as numbers (`1 == 1.0`).
pub(crate) fn equal(a: &Val<'_>, b: &Val<'_>) -> bool {
    match (a, b) {
        (Val::Json(x), Val::Json(y)) => json_equal(x, y),
        (Val::Json(Value::Array(xs)), Val::List(ys))
        | (Val::List(ys), Val::Json(Value::Array(xs))) => {
            xs.len() == ys.len() && xs.iter().zip(ys).all(|(x, y)| equal(&Val::from_json(x), y))
        }
        (Val::List(xs), Val::List(ys)) => {
            xs.len() == ys.len() && xs.iter().zip(ys).all(|(x, y)| equal(x, y))
        }
        _ => scalar_equal(a, b),
    }
}

fn scalar_equal(a: &Val<'_>, b: &Val<'_>) -> bool {
    match (a, b) {
        (Val::Null, Val::Null) => return true,
        (Val::Bool(x), Val::Bool(y)) => return x == y,
        _ => {}
    }
    if let (Some(x), Some(y)) = (a.as_num(), b.as_num()) {
        return num_cmp(x, y) == Some(Ordering::Equal);
    }
    matches!((a.as_str(), b.as_str()), (Some(x), Some(y)) if x == y)
}

fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Array(xs), Value::Array(ys)) => {
            xs.len() == ys.len() && xs.iter().zip(ys).all(|(x, y)| json_equal(x, y))
        }
        (Value::Object(xs), Value::Object(ys)) => {
            xs.len() == ys.len()
                && xs
                    .iter()
                    .all(|(k, x)| ys.get(k).is_some_and(|y| json_equal(x, y)))
        }
        (Value::Array(_) | Value::Object(_), _) | (_, Value::Array(_) | Value::Object(_)) => false,
        _ => scalar_equal(&Val::from_json(a), &Val::from_json(b)),
    }
}

/// `<`, `<=`, `>`, `>=`: two numbers, two strings or two booleans; otherwise false.
pub(crate) fn order(op: Order, a: &Val<'_>, b: &Val<'_>) -> bool {
    let ordering = match (a, b) {
        (Val::Bool(x), Val::Bool(y)) => Some(x.cmp(y)),
        _ => match (a.as_num(), b.as_num(), a.as_str(), b.as_str()) {
            (Some(x), Some(y), _, _) => num_cmp(x, y),
            (_, _, Some(x), Some(y)) => Some(x.cmp(y)),
            _ => None,
        },
    };
    let Some(ordering) = ordering else {
        return false;
    };
    match op {
        Order::Lt => ordering == Ordering::Less,
        Order::Le => ordering != Ordering::Greater,
        Order::Gt => ordering == Ordering::Greater,
        Order::Ge => ordering != Ordering::Less,
    }
}

/// `x in list` (an element equals `x`) and `"k" in object` (the key is present).
pub(crate) fn contains(range: &Val<'_>, item: &Val<'_>) -> bool {
    match range {
        Val::Json(Value::Array(items)) => items.iter().any(|x| equal(&Val::from_json(x), item)),
        Val::Json(Value::Object(map)) => item.as_str().is_some_and(|k| map.contains_key(k)),
        Val::List(items) => items.iter().any(|x| equal(x, item)),
        _ => false,
    }
}

/// Unary minus: numbers only, else `null`.
pub(crate) fn negate<'a>(x: &Val<'a>) -> Val<'a> {
    match x.as_num() {
        Some(Num::I(i)) => i.checked_neg().map_or(Val::Float(-(i as f64)), Val::Int),
        Some(Num::F(f)) => Val::float(-f),
        None => Val::Null,
    }
}

/// Arithmetic on numbers (and `+` on strings); everything else, and division by zero,
/// gives `null`. Integer results that overflow continue as floats.
pub(crate) fn arith<'a>(op: Arith, a: &Val<'a>, b: &Val<'a>) -> Val<'a> {
    if let (Arith::Add, Some(x), Some(y)) = (op, a.as_str(), b.as_str()) {
        return Val::Owned(format!("{x}{y}"));
    }
    let (Some(x), Some(y)) = (a.as_num(), b.as_num()) else {
        return Val::Null;
    };
    if let (Num::I(x), Num::I(y)) = (x, y) {
        if let Some(result) = int_arith(op, x, y) {
            return result;
        }
    }
    float_arith(op, to_f64(x), to_f64(y))
}

fn to_f64(n: Num) -> f64 {
    match n {
        Num::I(i) => i as f64,
        Num::F(f) => f,
    }
}

/// Exact integer arithmetic; `None` hands over to floats (overflow, inexact division).
fn int_arith<'a>(op: Arith, x: i64, y: i64) -> Option<Val<'a>> {
    if y == 0 && matches!(op, Arith::Div | Arith::Rem) {
        return Some(Val::Null);
    }
    let result = match op {
        Arith::Add => x.checked_add(y),
        Arith::Sub => x.checked_sub(y),
        Arith::Mul => x.checked_mul(y),
        Arith::Div => x
            .checked_rem(y)
            .filter(|r| *r == 0)
            .and_then(|_| x.checked_div(y)),
        Arith::Rem => Some(x.checked_rem(y).unwrap_or(0)),
    };
    result.map(Val::Int)
}

fn float_arith<'a>(op: Arith, x: f64, y: f64) -> Val<'a> {
    if y == 0.0 && matches!(op, Arith::Div | Arith::Rem) {
        return Val::Null;
    }
    Val::float(match op {
        Arith::Add => x + y,
        Arith::Sub => x - y,
        Arith::Mul => x * y,
        Arith::Div => x / y,
        Arith::Rem => x % y,
    })
}

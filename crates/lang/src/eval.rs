//! The evaluator: walks a compiled [`Node`] tree against a resource. It owns the
//! evaluation environment (the resource and the macro variables) and the order of
//! evaluation; what each operator means on values lives in `value`. Evaluation is total:
//! it never fails and never panics, whatever the document.

use serde_json::Value;

use crate::compile::{Compiled, ConstSet, Macro, Node, Text};
use crate::value::{self, Val};

/// What a node can see while it is evaluated.
struct Env<'a> {
    /// The resource document.
    resource: &'a Value,
    /// Macro variables by slot.
    vars: Vec<Val<'a>>,
}

/// Evaluates a compiled program against `resource`.
pub(crate) fn run<'a>(program: &'a Compiled, resource: &'a Value) -> Val<'a> {
    let mut env = Env {
        resource,
        vars: Vec::with_capacity(program.slots),
    };
    eval(&program.root, &mut env)
}

/// The value of a node that does not depend on the resource, as JSON.
pub(crate) fn constant(node: &Node) -> Option<Value> {
    static NULL: Value = Value::Null;
    let mut env = Env {
        resource: &NULL,
        vars: Vec::new(),
    };
    Some(eval(node, &mut env).to_json())
}

fn eval<'a>(node: &'a Node, env: &mut Env<'a>) -> Val<'a> {
    match node {
        Node::Const(value) => Val::from_json(value),
        Node::Resource => Val::from_json(env.resource),
        Node::Var(slot) => env.vars.get(*slot).cloned().unwrap_or(Val::Null),
        Node::Path(base, steps) => path(base, steps, env),
        Node::Index(target, index) => {
            let target = eval(target, env);
            let index = eval(index, env);
            value::step_of(&index).map_or(Val::Null, |step| target.step(&step))
        }
        Node::List(items) => Val::List(items.iter().map(|item| eval(item, env)).collect()),
        Node::Not(x) => Val::Bool(!eval(x, env).is_true()),
        Node::Neg(x) => value::negate(&eval(x, env)),
        Node::And(items) => Val::Bool(items.iter().all(|item| eval(item, env).is_true())),
        Node::Or(items) => Val::Bool(items.iter().any(|item| eval(item, env).is_true())),
        Node::Eq(a, b) => Val::Bool(value::equal(&eval(a, env), &eval(b, env))),
        Node::Ne(a, b) => Val::Bool(!value::equal(&eval(a, env), &eval(b, env))),
        Node::Order(op, a, b) => Val::Bool(value::order(*op, &eval(a, env), &eval(b, env))),
        Node::Arith(op, a, b) => value::arith(*op, &eval(a, env), &eval(b, env)),
        Node::In(item, range) => Val::Bool(value::contains(&eval(range, env), &eval(item, env))),
        Node::InSet(item, set) => Val::Bool(in_set(&eval(item, env), set)),
        Node::Cond(c, a, b) => {
            let branch = if eval(c, env).is_true() { a } else { b };
            eval(branch, env)
        }
        Node::Has(path) => Val::Bool(!matches!(eval(path, env), Val::Null)),
        Node::Size(x) => Val::Int(eval(x, env).size()),
        Node::Text(op, s, t) => Val::Bool(text(*op, &eval(s, env), &eval(t, env))),
        Node::Matches(s, regex) => {
            Val::Bool(eval(s, env).as_str().is_some_and(|s| regex.is_match(s)))
        }
        Node::LowerAscii(s) => match eval(s, env).as_str() {
            Some(s) => Val::Owned(s.to_ascii_lowercase()),
            None => Val::Null,
        },
        Node::Macro(kind, slot, range, body) => {
            let range = eval(range, env);
            Val::Bool(comprehension(*kind, *slot, &range, body, env))
        }
    }
}

/// Follows a path; from the resource it walks the JSON directly.
fn path<'a>(base: &'a Node, steps: &'a [crate::compile::Step], env: &mut Env<'a>) -> Val<'a> {
    if let Node::Resource = base {
        return value::walk(env.resource, steps).map_or(Val::Null, Val::from_json);
    }
    match eval(base, env) {
        Val::Json(json) => value::walk(json, steps).map_or(Val::Null, Val::from_json),
        other => steps.iter().fold(other, |v, step| v.step(step)),
    }
}

fn in_set(item: &Val<'_>, set: &ConstSet) -> bool {
    if let Some(s) = item.as_str() {
        return set.strings.binary_search_by(|x| (**x).cmp(s)).is_ok();
    }
    set.others
        .iter()
        .any(|x| value::equal(&Val::from_json(x), item))
}

fn text(op: Text, s: &Val<'_>, t: &Val<'_>) -> bool {
    let (Some(s), Some(t)) = (s.as_str(), t.as_str()) else {
        return false;
    };
    match op {
        Text::StartsWith => s.starts_with(t),
        Text::EndsWith => s.ends_with(t),
        Text::Contains => s.contains(t),
    }
}

/// Runs a macro; a range that is neither list nor object counts as empty, an object
/// ranges over its keys.
fn comprehension<'a>(
    kind: Macro,
    slot: usize,
    range: &Val<'a>,
    body: &'a Node,
    env: &mut Env<'a>,
) -> bool {
    if env.vars.len() <= slot {
        env.vars.resize(slot + 1, Val::Null);
    }
    let mut matched = 0usize;

    // The visitor answers whether to keep going.
    let mut visit = |item: Val<'a>, env: &mut Env<'a>| {
        if let Some(var) = env.vars.get_mut(slot) {
            *var = item;
        }
        let hit = eval(body, env).is_true();
        matched += usize::from(hit);
        match kind {
            Macro::Exists => !hit,
            Macro::All => hit,
            Macro::ExistsOne => matched < 2,
        }
    };
    let seen = visit_items(range, env, &mut visit);

    match kind {
        Macro::Exists => matched > 0,
        Macro::All => matched == seen,
        Macro::ExistsOne => matched == 1,
    }
}

/// Feeds each item of `range` to `visit` until it says stop; returns how many it saw.
fn visit_items<'a>(
    range: &Val<'a>,
    env: &mut Env<'a>,
    visit: &mut impl FnMut(Val<'a>, &mut Env<'a>) -> bool,
) -> usize {
    let mut seen = 0;
    let mut feed = |item: Val<'a>, env: &mut Env<'a>| {
        seen += 1;
        visit(item, env)
    };
    let json: Option<&'a Value> = match range {
        Val::Json(json) => Some(json),
        _ => None,
    };
    match (json, range) {
        (Some(Value::Array(items)), _) => {
            for item in items {
                if !feed(Val::from_json(item), env) {
                    break;
                }
            }
        }
        (Some(Value::Object(map)), _) => {
            for key in map.keys() {
                if !feed(Val::Str(key), env) {
                    break;
                }
            }
        }
        (_, Val::List(items)) => {
            for item in items {
                if !feed(item.clone(), env) {
                    break;
                }
            }
        }
        _ => {}
    }
    seen
}

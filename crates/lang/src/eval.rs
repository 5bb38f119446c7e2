//! The evaluator: walks a compiled [`Node`] tree against a resource. It owns the
//! evaluation environment (the resource and the macro variables) and the order of
//! evaluation; what each operator means on values lives in `value`. Evaluation is total:
//! it never fails and never panics, whatever the document.

use serde_json::Value;

use crate::compile::{ConstSet, Macro, Node, Step, Text};
use crate::value::{self, Val};

/// What a node can see while it is evaluated.
#[derive(Clone, Copy)]
struct Env<'a, 'f> {
    /// The resource document.
    resource: &'a Value,
    /// The innermost macro variable, if any; outer ones follow its `parent` links.
    frame: Option<&'f Frame<'a, 'f>>,
}

/// One bound macro variable, living on the stack of the macro that binds it.
struct Frame<'a, 'f> {
    value: Val<'a>,
    parent: Option<&'f Frame<'a, 'f>>,
}

impl<'a> Env<'a, '_> {
    /// The environment of a whole condition: the resource and no variables.
    fn root(resource: &'a Value) -> Self {
        Env {
            resource,
            frame: None,
        }
    }
}

/// Evaluates a compiled program against `resource`.
pub(crate) fn run<'a>(program: &'a Node, resource: &'a Value) -> Val<'a> {
    eval(program, Env::root(resource))
}

/// The value of a node that does not depend on the resource, as JSON.
pub(crate) fn constant(node: &Node) -> Value {
    static NULL: Value = Value::Null;
    eval(node, Env::root(&NULL)).to_json()
}

fn eval<'a>(node: &'a Node, env: Env<'a, '_>) -> Val<'a> {
    match node {
        Node::Const(value) => Val::from_json(value),
        Node::Resource => Val::from_json(env.resource),
        Node::Var(up) => variable(env, *up),
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
        Node::LowerAscii(s) => lower_ascii(eval(s, env)),
        Node::Macro(kind, range, body) => {
            let range = eval(range, env);
            Val::Bool(comprehension(*kind, &range, body, env))
        }
    }
}

/// Follows a path; from the resource or a variable holding JSON it walks the JSON
/// directly.
fn path<'a>(base: &'a Node, steps: &'a [Step], env: Env<'a, '_>) -> Val<'a> {
    let root = match base {
        Node::Resource => Some(env.resource),
        Node::Var(up) => match frame(env, *up).map(|f| &f.value) {
            Some(Val::Json(json)) => Some(*json),
            _ => None,
        },
        _ => None,
    };
    if let Some(root) = root {
        return value::walk(root, steps).map_or(Val::Null, Val::from_json);
    }

    match eval(base, env) {
        Val::Json(json) => value::walk(json, steps).map_or(Val::Null, Val::from_json),
        other => steps.iter().fold(other, |v, step| v.step(step)),
    }
}

/// `lowerAscii`: a string already in lowercase is returned as it is, without allocating.
fn lower_ascii(s: Val<'_>) -> Val<'_> {
    match s {
        Val::Str(s) if !s.bytes().any(|b| b.is_ascii_uppercase()) => Val::Str(s),
        Val::Str(s) => Val::Owned(s.to_ascii_lowercase()),
        Val::Owned(mut s) => {
            s.make_ascii_lowercase();
            Val::Owned(s)
        }
        _ => Val::Null,
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

/// The variable bound `up` macros out from the innermost.
fn variable<'a>(env: Env<'a, '_>, up: usize) -> Val<'a> {
    frame(env, up).map_or(Val::Null, |f| f.value.clone())
}

/// The frame binding the variable `up` macros out from the innermost.
fn frame<'a, 'f>(env: Env<'a, 'f>, up: usize) -> Option<&'f Frame<'a, 'f>> {
    let mut frame = env.frame;
    for _ in 0..up {
        frame = frame.and_then(|f| f.parent);
    }
    frame
}

/// Runs a macro; a range that is neither list nor object counts as empty, an object
/// ranges over its keys.
fn comprehension<'a>(kind: Macro, range: &Val<'a>, body: &'a Node, env: Env<'a, '_>) -> bool {
    let mut matched = 0usize;

    // The visitor binds the item, evaluates the body and answers whether to go on.
    let mut visit = |value: Val<'a>| {
        let frame = Frame {
            value,
            parent: env.frame,
        };
        let hit = eval(
            body,
            Env {
                resource: env.resource,
                frame: Some(&frame),
            },
        )
        .is_true();
        matched += usize::from(hit);
        match kind {
            Macro::Exists => !hit,
            Macro::All => hit,
            Macro::ExistsOne => matched < 2,
        }
    };
    let seen = visit_items(range, &mut visit);

    match kind {
        Macro::Exists => matched > 0,
        Macro::All => matched == seen,
        Macro::ExistsOne => matched == 1,
    }
}

/// Feeds each item of `range` to `visit` until it says stop; returns how many it saw.
fn visit_items<'a>(range: &Val<'a>, visit: &mut impl FnMut(Val<'a>) -> bool) -> usize {
    let mut seen = 0;
    let mut feed = |item: Val<'a>| {
        seen += 1;
        visit(item)
    };
    let json: Option<&'a Value> = match range {
        Val::Json(json) => Some(json),
        _ => None,
    };
    match (json, range) {
        (Some(Value::Array(items)), _) => {
            let _ = items.iter().map(Val::from_json).all(&mut feed);
        }
        (Some(Value::Object(map)), _) => {
            let _ = map.keys().map(|k| Val::Str(k)).all(&mut feed);
        }
        (_, Val::List(items)) => {
            let _ = items.iter().cloned().all(&mut feed);
        }
        _ => {}
    }
    seen
}

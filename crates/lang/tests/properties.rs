//! Property tests: compiling never panics on any input, and evaluating never panics on
//! any JSON document.

use policycortex_lang::{compile, compile_with, Limits};
use proptest::prelude::*;
use serde_json::Value;

/// Arbitrary JSON documents, a few levels deep.
fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        "[a-z]{0,6}".prop_map(Value::String),
        ".{0,4}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-e]{1,2}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Programs that exercise every operator, function and macro.
const PROGRAMS: &[&str] = &[
    "resource.a == resource.b",
    "resource.a != 1 && resource.b < 'x' || !resource.c",
    "resource.a in resource.b || 'a' in resource || resource.a in [1, 'a', null, [1]]",
    "resource.a.exists(x, x.b.all(y, y > 1)) || resource.b.exists_one(k, k == 'a')",
    "size(resource.a) + resource.b.size() > resource.c",
    "resource.a.startsWith(resource.b) || resource.a.endsWith('x') || resource.c.contains('d')",
    "resource.a.matches('^[a-c]+$') || resource.b.lowerAscii() == 'a'",
    "has(resource.a.b) ? resource.a.b[0] : resource[resource.c]",
    "resource.a / resource.b % resource.c * resource.d - resource.e + -resource.a",
    "resource.a[resource.b][resource.c.d] <= resource.e[0][1]",
    "[resource.a, resource.b].exists(x, x in resource.c) == (resource.d >= resource.e)",
    "resource.b.all(x, resource.a.exists(y, x == y && x.c != y.d))",
    "resource",
];

proptest! {
    #[test]
    fn compiling_arbitrary_text_never_panics(source in ".{0,200}") {
        let _ = compile(&source);
    }

    #[test]
    fn compiling_arbitrary_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = compile(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn compiling_token_soup_never_panics(
        parts in prop::collection::vec(
            prop::sample::select(vec![
                "resource", ".", "a", "[", "]", "(", ")", "!", "-", "+", "==", "<", "in",
                "&&", "||", "?", ":", ",", "'s'", "1", "1.5", "null", "exists", "x", "{", "}",
                "has", "size", "matches", "'^a'", "\"", "'''", "\\", "0x", "9999999999999999999999",
            ]),
            0..60,
        )
    ) {
        let _ = compile(&parts.join(" "));
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash(
        depth in 0usize..5000,
        open in prop::sample::select(vec!["(", "[", "!", "-", "resource.a.all(x, "]),
    ) {
        let limits = Limits { max_source_bytes: 100_000, ..Limits::default() };
        let source = format!("{}1", open.repeat(depth));
        let _ = compile_with(&source, &limits);
    }

    #[test]
    fn evaluating_any_document_never_panics_and_is_deterministic(doc in json()) {
        for source in PROGRAMS {
            let program = compile(source).unwrap();
            let first = program.evaluate(&doc);
            prop_assert_eq!(&first, &program.evaluate(&doc));
            prop_assert_eq!(program.holds(&doc), first == Value::Bool(true));
        }
    }

    #[test]
    fn not_equal_is_the_negation_of_equal(a in json(), b in json()) {
        let doc = serde_json::json!({"a": a, "b": b});
        let eq = compile("resource.a == resource.b").unwrap().holds(&doc);
        let ne = compile("resource.a != resource.b").unwrap().holds(&doc);
        prop_assert_eq!(eq, !ne);
    }

    #[test]
    fn a_value_equals_itself(a in json()) {
        let doc = serde_json::json!({"a": a});
        prop_assert!(compile("resource.a == resource.a").unwrap().holds(&doc));
    }
}

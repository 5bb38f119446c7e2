//! Compile errors: each row is a bad condition and the message, line, column and span
//! it must be rejected with.

use policycortex_lang::{compile, compile_with, CompileError, Limits};

fn error_of(source: &str) -> CompileError {
    match compile(source) {
        Ok(_) => panic!("`{source}` compiled but should not"),
        Err(e) => e,
    }
}

/// (source, message, line, column, span)
type Row<'a> = (&'a str, &'a str, u32, u32, std::ops::Range<usize>);

fn check_errors(rows: &[Row<'_>]) {
    for (source, message, line, column, span) in rows {
        let e = error_of(source);
        assert_eq!(&e.message, message, "message for `{source}`");
        assert_eq!(
            (e.line, e.column),
            (*line, *column),
            "position for `{source}`: {e}"
        );
        assert_eq!(&e.span, span, "span for `{source}`");
    }
}

#[test]
fn syntax_errors_name_the_token_and_its_position() {
    check_errors(&[
        (
            "resource.a ==",
            "unexpected end of condition, expected a value, `resource` or `(`",
            1,
            14,
            13..13,
        ),
        (
            "resource.a == )",
            "unexpected `)`, expected a value, `resource` or `(`",
            1,
            15,
            14..15,
        ),
        (
            "(resource.a",
            "unexpected end of condition, expected `)`",
            1,
            12,
            11..11,
        ),
        (
            "resource.a resource.b",
            "unexpected `resource`, expected an operator or the end of the condition",
            1,
            12,
            11..19,
        ),
        (
            "resource.",
            "unexpected end of condition, expected a field name",
            1,
            10,
            9..9,
        ),
        (
            "resource.1",
            "unexpected `1`, expected a field name",
            1,
            10,
            9..10,
        ),
        (
            "[1, 2",
            "unexpected end of condition, expected `]`",
            1,
            6,
            5..5,
        ),
        (
            "true ? 1",
            "unexpected end of condition, expected `:`",
            1,
            9,
            8..8,
        ),
        ("resource.a = 1", "unexpected character `=`", 1, 12, 11..12),
        (
            "resource.a & true",
            "unexpected character `&`",
            1,
            12,
            11..12,
        ),
        ("resource.a # 1", "unexpected character `#`", 1, 12, 11..12),
        ("resource.é", "unexpected character `é`", 1, 10, 9..11),
        ("0x", "hexadecimal literal has no digits", 1, 1, 0..2),
    ]);
}

#[test]
fn string_errors_point_at_the_string_or_escape() {
    check_errors(&[
        ("resource.a == 'abc", "unterminated string", 1, 15, 14..18),
        ("'abc\ndef'", "unterminated string", 1, 1, 0..4),
        ("'''abc''", "unterminated string", 1, 1, 0..8),
        (r"'a\qb'", r"invalid escape `\q`", 1, 3, 2..4),
        (r"'\x4'", r"invalid escape `\x`", 1, 2, 1..3),
        (r"'\uD800'", r"invalid escape `\uD800`", 1, 2, 1..7),
        (r"'\400'", r"invalid escape `\4`", 1, 2, 1..3),
        (r"'\1'", r"invalid escape `\1`", 1, 2, 1..3),
        ("'\\", r"invalid escape `\`", 1, 2, 1..2),
    ]);
}

#[test]
fn positions_count_lines_and_characters() {
    check_errors(&[
        (
            "resource.a == 1 &&\n  resource.b == )",
            "unexpected `)`, expected a value, `resource` or `(`",
            2,
            17,
            35..36,
        ),
        (
            "'héllo' == resource.a &&\nfoo",
            "unknown identifier `foo`",
            2,
            1,
            26..29,
        ),
        ("'日本' == x", "unknown identifier `x`", 1, 9, 12..13),
    ]);
}

#[test]
fn unknown_names_are_rejected_with_a_hint() {
    let e = error_of("bucket.name == 'x'");
    assert_eq!(e.message, "unknown identifier `bucket`");
    assert_eq!((e.line, e.column, e.span.clone()), (1, 1, 0..6));
    assert!(e.hint.unwrap().contains("`resource`"));

    let e = error_of("resource.name.startswith('x')");
    assert_eq!(e.message, "unknown method `startswith`");
    assert_eq!((e.column, e.span.clone()), (15, 14..24));
    assert_eq!(e.hint.as_deref(), Some("did you mean `startsWith`?"));

    let e = error_of("resource.tags.exist(t, true)");
    assert_eq!(e.hint.as_deref(), Some("did you mean `exists`?"));

    let e = error_of("resource.name.frobnicate()");
    assert_eq!(e.message, "unknown method `frobnicate`");
    assert!(e.hint.unwrap().starts_with("available methods: `size`"));

    let e = error_of("len(resource.name) > 0");
    assert_eq!(e.message, "unknown function `len`");
    assert_eq!(e.span, 0..3);
    assert!(e.hint.unwrap().contains("`size`"));

    let e = error_of("resource.ports.exists(p, q > 1)");
    assert_eq!(e.message, "unknown identifier `q`");
    assert_eq!(e.span, 25..26);

    let e = error_of("resource.ports.exists(p, true) && p > 1");
    assert_eq!(e.message, "unknown identifier `p`");
}

#[test]
fn wrong_arity_is_rejected() {
    check_errors(&[
        (
            "resource.name.startsWith()",
            "`startsWith` takes 1 argument, found 0",
            1,
            15,
            14..24,
        ),
        (
            "resource.name.size(1)",
            "`size` takes 0 arguments, found 1",
            1,
            15,
            14..18,
        ),
        (
            "size(resource.a, resource.b)",
            "`size` takes 1 argument, found 2",
            1,
            1,
            0..4,
        ),
        ("has()", "`has` takes 1 argument, found 0", 1, 1, 0..3),
        (
            "resource.a.exists(x)",
            "`exists` takes 2 arguments, found 1",
            1,
            12,
            11..17,
        ),
        (
            "matches(resource.a)",
            "`matches` takes 2 arguments, found 1",
            1,
            1,
            0..7,
        ),
    ]);
}

#[test]
fn has_needs_a_field_selection() {
    check_errors(&[
        (
            "has(resource)",
            "`has` takes a field selection",
            1,
            5,
            4..12,
        ),
        ("has(1)", "`has` takes a field selection", 1, 5, 4..5),
        (
            "has(resource.a == 1)",
            "`has` takes a field selection",
            1,
            5,
            4..19,
        ),
    ]);
    assert!(compile("has(resource.a)").is_ok());
    assert!(compile("has(resource['a-b'][0])").is_ok());
}

#[test]
fn regex_must_be_a_valid_literal() {
    let e = error_of("resource.name.matches('(unclosed')");
    assert_eq!(
        e.message,
        "invalid regular expression `(unclosed`: unclosed group"
    );
    assert_eq!((e.column, e.span.clone()), (23, 22..33));

    let e = error_of("resource.name.matches(resource.pattern)");
    assert_eq!(
        e.message,
        "the pattern of `matches` must be a string literal"
    );
    assert_eq!(e.span, 22..38);
    assert!(e
        .hint
        .unwrap()
        .contains("compiled when the policy is written"));

    let e = error_of("matches(resource.name, 'a' + 'b')");
    assert_eq!(
        e.message,
        "the pattern of `matches` must be a string literal"
    );

    let e = error_of(r"resource.name.matches('(?=look)')");
    assert!(e.message.starts_with("invalid regular expression"));
}

#[test]
fn regex_over_the_size_limit_is_rejected() {
    let limits = Limits {
        max_regex_bytes: 1000,
        ..Limits::default()
    };
    let e = compile_with(r"resource.a.matches('\\w{50}')", &limits).unwrap_err();
    assert!(e.message.contains("limit of 1000 bytes"), "{}", e.message);
    assert!(compile_with("resource.a.matches('^ab+c$')", &limits).is_ok());
}

#[test]
fn macro_variables_must_be_plain_names_other_than_resource() {
    check_errors(&[
        (
            "resource.a.exists(resource, true)",
            "the variable of `exists` cannot be named `resource`",
            1,
            19,
            18..26,
        ),
        (
            "resource.a.all(x.y, true)",
            "the first argument of `all` must be a variable name",
            1,
            16,
            15..18,
        ),
        (
            "resource.a.exists_one(1, true)",
            "the first argument of `exists_one` must be a variable name",
            1,
            23,
            22..23,
        ),
    ]);
}

#[test]
fn integer_literals_out_of_range_are_rejected() {
    check_errors(&[
        (
            "9223372036854775808",
            "integer literal `9223372036854775808` is out of range",
            1,
            1,
            0..19,
        ),
        (
            "99999999999999999999999",
            "integer literal `99999999999999999999999` is out of range",
            1,
            1,
            0..23,
        ),
        (
            "-9223372036854775809",
            "integer literal `9223372036854775809` is out of range",
            1,
            2,
            1..20,
        ),
        (
            "0x10000000000000000",
            "integer literal `0x10000000000000000` is out of range",
            1,
            1,
            0..19,
        ),
        ("1e999", "float literal `1e999` is out of range", 1, 1, 0..5),
    ]);
}

#[test]
fn empty_condition_is_rejected() {
    for source in ["", "   ", "\n\t"] {
        let e = error_of(source);
        assert_eq!(e.message, "condition is empty");
        assert_eq!((e.line, e.column), (1, 1));
    }
    let e = error_of("// only a comment");
    assert_eq!(
        e.message,
        "unexpected end of condition, expected a value, `resource` or `(`"
    );
}

#[test]
fn map_literals_need_string_keys_and_constant_values() {
    check_errors(&[
        ("{1: 2}", "map keys must be string literals", 1, 2, 1..2),
        (
            "{'a': resource.b}",
            "map values must be constants",
            1,
            7,
            6..16,
        ),
    ]);
}

#[test]
fn source_over_the_byte_limit_is_rejected() {
    let long = format!("resource.a == '{}'", "x".repeat(5000));
    let e = error_of(&long);
    assert!(
        e.message.starts_with("condition is 5016 bytes long"),
        "{}",
        e.message
    );
    assert!(e.message.ends_with("the limit of 4096"));

    let limits = Limits {
        max_source_bytes: 10,
        ..Limits::default()
    };
    assert!(compile_with("resource.a", &limits).is_ok());
    assert!(compile_with("resource.ab", &limits).is_err());
}

#[test]
fn nesting_deeper_than_the_limit_is_rejected() {
    let ok = format!("{}1{}", "(".repeat(60), ")".repeat(60));
    assert!(compile(&ok).is_ok());

    for deep in [
        format!("{}1{}", "(".repeat(100), ")".repeat(100)),
        format!("{}true", "!".repeat(100)),
        format!("{}1{}", "[".repeat(100), "]".repeat(100)),
        format!("resource{}", ".a".repeat(100)),
        format!("1{}", " + 1".repeat(100)),
        format!("{}resource", "-".repeat(100)),
    ] {
        let e = error_of(&deep);
        assert_eq!(
            e.message, "condition is nested deeper than the limit of 64",
            "{deep}"
        );
    }

    let limits = Limits {
        max_depth: 3,
        ..Limits::default()
    };
    assert!(compile_with("((1))", &limits).is_ok());
    assert!(compile_with("(((1)))", &limits).is_err());
}

#[test]
fn hostile_nesting_fails_without_overflowing_the_stack() {
    let limits = Limits {
        max_source_bytes: 1_000_000,
        ..Limits::default()
    };
    for unit in [
        "(",
        "!",
        "[",
        "-",
        "{'a':",
        "resource.a.exists(x,",
        "true ? 1 :",
    ] {
        let source = unit.repeat(100_000 / unit.len());
        let e = compile_with(&source, &limits).unwrap_err();
        assert!(e.message.contains("nested deeper"), "{unit}: {}", e.message);
    }
}

#[test]
fn long_flat_conjunctions_are_not_nesting() {
    let clauses: Vec<String> = (0..100).map(|i| format!("resource.a{i} == null")).collect();
    let program = compile_with(
        &clauses.join(" && "),
        &Limits {
            max_source_bytes: 10_000,
            ..Limits::default()
        },
    )
    .unwrap();
    assert!(program.holds(&serde_json::json!({})));
}

#[test]
fn display_shows_position_message_and_hint() {
    let e = error_of("foo");
    assert_eq!(
        e.to_string(),
        "line 1, column 1: unknown identifier `foo` (conditions start from `resource`, as in `resource.foo`)"
    );
}

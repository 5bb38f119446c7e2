//! Case tables for the language's meaning: each row is a condition, a resource and the
//! value the condition must evaluate to.

use policycortex_lang::compile;
use serde_json::{json, Value};

/// The resource most rows run against.
fn bucket() -> Value {
    json!({
        "name": "logs-prod",
        "type": "aws_s3_bucket",
        "size": 3,
        "ratio": 1.5,
        "public": false,
        "encryption": {"enabled": true, "algorithm": "AES256"},
        "tags": {"env": "prod", "team-name": "core", "Owner": "Ops"},
        "rules": [
            {"port": 22, "cidr": "10.0.0.0/8"},
            {"port": 443, "cidr": "0.0.0.0/0"}
        ],
        "ports": [22, 443, 8080],
        "empty": [],
        "nothing": null,
        "unicode": "héllo wörld",
        "big": 9007199254740993u64
    })
}

/// Asserts every row evaluates to its expected value against `doc`.
fn check_table(doc: &Value, rows: &[(&str, Value)]) {
    for (source, expected) in rows {
        let program = compile(source).unwrap_or_else(|e| panic!("`{source}` failed: {e}"));
        let got = program.evaluate(doc);
        assert_eq!(
            &got, expected,
            "`{source}` evaluated to {got}, expected {expected}"
        );
        assert_eq!(
            program.holds(doc),
            *expected == json!(true),
            "holds of `{source}`"
        );
    }
}

#[test]
fn literals_evaluate_to_their_json_values() {
    check_table(
        &bucket(),
        &[
            ("null", json!(null)),
            ("true", json!(true)),
            ("false", json!(false)),
            ("42", json!(42)),
            ("-7", json!(-7)),
            ("0x1F", json!(31)),
            ("0XfF", json!(255)),
            ("7u", json!(7)),
            ("1.5", json!(1.5)),
            ("1e3", json!(1000.0)),
            ("2.5E-1", json!(0.25)),
            (".5", json!(0.5)),
            ("-.25", json!(-0.25)),
            (".5e1", json!(5.0)),
            ("[.5, (.5)]", json!([0.5, 0.5])),
            ("-9223372036854775808", json!(i64::MIN)),
            ("'single'", json!("single")),
            ("\"double\"", json!("double")),
            ("'''tri'ple'''", json!("tri'ple")),
            ("\"\"\"a\nb\"\"\"", json!("a\nb")),
            ("[1, 'a', null]", json!([1, "a", null])),
            ("[1, 2,]", json!([1, 2])),
            ("[]", json!([])),
            ("{'a': 1, \"b\": [true]}", json!({"a": 1, "b": [true]})),
            ("{}", json!({})),
        ],
    );
}

#[test]
fn string_escapes_are_resolved() {
    check_table(
        &bucket(),
        &[
            (r#""a\nb""#, json!("a\nb")),
            (r#""\t\r\\""#, json!("\t\r\\")),
            (r#"'\'\"'"#, json!("'\"")),
            (r#""\0""#, json!("\0")),
            (r#""\x41\X42""#, json!("AB")),
            (r#""\u00e9""#, json!("é")),
            (r#""\U0001F600""#, json!("😀")),
            (r#""\101\060""#, json!("A0")),
            (r#""\a\b\f\v\?\`""#, json!("\u{7}\u{8}\u{c}\u{b}?`")),
            (r#"r'\n\d+'"#, json!("\\n\\d+")),
            (r#"R"C:\dir""#, json!("C:\\dir")),
            (r#"r'''raw\'''"#, json!("raw\\")),
        ],
    );
}

#[test]
fn paths_select_into_the_resource() {
    check_table(
        &bucket(),
        &[
            ("resource.name", json!("logs-prod")),
            ("resource.encryption.enabled", json!(true)),
            ("resource['encryption'].algorithm", json!("AES256")),
            ("resource.tags[\"team-name\"]", json!("core")),
            ("resource.rules[1].port", json!(443)),
            ("resource.ports[0]", json!(22)),
            ("resource.rules[resource.size - 2].cidr", json!("0.0.0.0/0")),
            ("resource.tags['e' + 'nv']", json!("prod")),
            ("resource.ports[2.0]", json!(8080)),
            ("[10, 20][1]", json!(20)),
            ("{'a': {'b': 5}}.a.b", json!(5)),
            ("resource.empty", json!([])),
        ],
    );
}

#[test]
fn missing_key_is_null_not_error() {
    check_table(
        &bucket(),
        &[
            ("resource.missing", json!(null)),
            ("resource.missing.deeper.still", json!(null)),
            ("resource.ports[3]", json!(null)),
            ("resource.ports[-1]", json!(null)),
            ("resource.name.length", json!(null)),
            ("resource.size.x", json!(null)),
            ("resource.nothing.x", json!(null)),
            ("resource.ports['0']", json!(null)),
            ("resource.tags[0]", json!(null)),
            ("resource.ports[true]", json!(null)),
            ("resource.ports[1.5]", json!(null)),
            ("resource.missing == null", json!(true)),
            ("resource.encryptionx.enabled != true", json!(true)),
        ],
    );
}

#[test]
fn reference_example_holds_for_an_unencrypted_bucket() {
    let program = compile("resource.encryption.enabled != true").unwrap();
    assert!(program.holds(&json!({"name": "plain"})));
    assert!(program.holds(&json!({"encryption": {"enabled": false}})));
    assert!(program.holds(&json!({"encryption": "yes"})));
    assert!(!program.holds(&json!({"encryption": {"enabled": true}})));
}

#[test]
fn equality_is_structural_and_numeric() {
    check_table(
        &bucket(),
        &[
            ("1 == 1.0", json!(true)),
            ("resource.ratio == 1.5", json!(true)),
            ("resource.ratio > .5", json!(true)),
            ("resource.size == 3.0", json!(true)),
            ("'a' == 'a'", json!(true)),
            ("'a' == 'b'", json!(false)),
            ("1 == '1'", json!(false)),
            ("null == null", json!(true)),
            ("null == false", json!(false)),
            ("true == 1", json!(false)),
            ("resource.ports == [22, 443, 8080.0]", json!(true)),
            ("resource.ports == [22, 443]", json!(false)),
            (
                "resource.encryption == {'algorithm': 'AES256', 'enabled': true}",
                json!(true),
            ),
            ("resource.encryption == {'enabled': true}", json!(false)),
            ("[resource.size, 'x'] == [3, 'x']", json!(true)),
            ("resource.rules[0] == resource.rules[0]", json!(true)),
            ("resource.big == 9007199254740993", json!(true)),
            ("resource.big == 9007199254740992", json!(false)),
            ("1 != 1.0", json!(false)),
            ("1 != 'x'", json!(true)),
            ("resource.missing != null", json!(false)),
            ("resource.ports == resource.tags", json!(false)),
            ("[[1]] == [{'a': 1}]", json!(false)),
            ("{'a': [1]} == {'a': {'b': 1}}", json!(false)),
        ],
    );
}

#[test]
fn ordering_compares_numbers_strings_and_booleans_only() {
    check_table(
        &bucket(),
        &[
            ("1 < 2", json!(true)),
            ("2 <= 2.0", json!(true)),
            ("resource.ratio > 1", json!(true)),
            ("resource.size >= 4", json!(false)),
            ("'a' < 'b'", json!(true)),
            ("'B' < 'a'", json!(true)),
            ("'é' > 'z'", json!(true)),
            ("false < true", json!(true)),
            ("true <= false", json!(false)),
            ("1 < '2'", json!(false)),
            ("'2' > 1", json!(false)),
            ("null < 1", json!(false)),
            ("null >= null", json!(false)),
            ("resource.missing > 0", json!(false)),
            ("resource.missing <= 0", json!(false)),
            ("[1] < [2]", json!(false)),
        ],
    );
}

#[test]
fn logic_counts_non_booleans_as_false() {
    check_table(
        &bucket(),
        &[
            ("true && true", json!(true)),
            ("true && false", json!(false)),
            ("false || true", json!(true)),
            ("false || false", json!(false)),
            ("!false", json!(true)),
            ("!true", json!(false)),
            ("!\"x\"", json!(true)),
            ("!null", json!(true)),
            ("!resource.missing", json!(true)),
            ("null && true", json!(false)),
            ("null || true", json!(true)),
            ("1 || 'a'", json!(false)),
            ("resource.missing || resource.public == false", json!(true)),
            ("!!resource.public", json!(false)),
            ("true && true && true && 1", json!(false)),
            ("true && resource.missing", json!(false)),
            ("true && resource.public == false", json!(true)),
            ("false || resource.name", json!(false)),
            ("false && resource.public == false", json!(false)),
            ("true || resource.missing", json!(true)),
            ("'x' || resource.public == false", json!(true)),
        ],
    );
}

#[test]
fn membership_checks_elements_and_keys() {
    check_table(
        &bucket(),
        &[
            ("22 in resource.ports", json!(true)),
            ("22.0 in resource.ports", json!(true)),
            ("23 in resource.ports", json!(false)),
            ("'env' in resource.tags", json!(true)),
            ("'prod' in resource.tags", json!(false)),
            ("resource.name in ['logs-prod', 'other']", json!(true)),
            ("resource.name in ['other']", json!(false)),
            ("resource.size in [1, 2, 3.0]", json!(true)),
            ("null in [null]", json!(true)),
            ("[1] in [[1], 2]", json!(true)),
            ("'a' in 'abc'", json!(false)),
            ("1 in resource.missing", json!(false)),
            ("resource.missing in resource.ports", json!(false)),
            ("resource.size in [resource.size]", json!(true)),
            ("'x' in []", json!(false)),
        ],
    );
}

#[test]
fn has_is_true_for_present_non_null_fields() {
    check_table(
        &bucket(),
        &[
            ("has(resource.name)", json!(true)),
            ("has(resource.encryption.enabled)", json!(true)),
            ("has(resource.tags['team-name'])", json!(true)),
            ("has(resource.missing)", json!(false)),
            ("has(resource.nothing)", json!(false)),
            ("has(resource.missing.deeper)", json!(false)),
            ("has(resource.public)", json!(true)),
            ("has(resource.ports[5])", json!(false)),
        ],
    );
}

#[test]
fn size_counts_characters_elements_and_keys() {
    check_table(
        &bucket(),
        &[
            ("size(resource.name)", json!(9)),
            ("resource.unicode.size()", json!(11)),
            ("size(resource.ports)", json!(3)),
            ("resource.tags.size()", json!(3)),
            ("size(resource.missing)", json!(0)),
            ("size(42)", json!(0)),
            ("size(true)", json!(0)),
            ("size([1, resource.size])", json!(2)),
            ("size('')", json!(0)),
        ],
    );
}

#[test]
fn string_predicates_are_false_on_non_strings() {
    check_table(
        &bucket(),
        &[
            ("resource.name.startsWith('logs')", json!(true)),
            ("resource.name.startsWith('prod')", json!(false)),
            ("resource.name.endsWith('-prod')", json!(true)),
            ("resource.name.contains('s-p')", json!(true)),
            ("resource.unicode.contains('wö')", json!(true)),
            ("resource.size.startsWith('3')", json!(false)),
            ("resource.missing.endsWith('')", json!(false)),
            ("resource.name.contains(1)", json!(false)),
            ("resource.name.contains('')", json!(true)),
        ],
    );
}

#[test]
fn matches_uses_a_precompiled_regex() {
    check_table(
        &bucket(),
        &[
            ("resource.name.matches('^logs-')", json!(true)),
            ("resource.name.matches('^prod')", json!(false)),
            ("resource.name.matches('prod')", json!(true)),
            (
                "matches(resource.name, r'^[a-z]+-(prod|dev)$')",
                json!(true),
            ),
            ("resource.size.matches('3')", json!(false)),
            ("resource.missing.matches('.*')", json!(false)),
            ("resource.unicode.matches('^h.llo')", json!(true)),
        ],
    );
}

#[test]
fn lower_ascii_lowers_strings_and_nulls_the_rest() {
    check_table(
        &bucket(),
        &[
            ("resource.tags.Owner.lowerAscii()", json!("ops")),
            ("'ÀB'.lowerAscii()", json!("Àb")),
            ("resource.size.lowerAscii()", json!(null)),
            ("resource.missing.lowerAscii()", json!(null)),
            ("resource.tags.Owner.lowerAscii() == 'ops'", json!(true)),
            ("resource.tags.Owner.lowerAscii() in ['ops']", json!(true)),
        ],
    );
}

#[test]
fn macros_range_over_lists_and_object_keys() {
    check_table(
        &bucket(),
        &[
            ("resource.ports.exists(p, p == 22)", json!(true)),
            ("resource.ports.exists(p, p == 23)", json!(false)),
            ("resource.ports.all(p, p > 20)", json!(true)),
            ("resource.ports.all(p, p > 100)", json!(false)),
            ("resource.ports.exists_one(p, p > 400)", json!(false)),
            ("resource.ports.exists_one(p, p > 8000)", json!(true)),
            (
                "resource.rules.exists(r, r.cidr == '0.0.0.0/0' && r.port != 22)",
                json!(true),
            ),
            ("resource.tags.exists(k, k == 'env')", json!(true)),
            ("resource.tags.all(k, resource.tags[k] != '')", json!(true)),
            (
                "resource.tags.exists_one(k, k.startsWith('t'))",
                json!(true),
            ),
            ("[1, 2, 3].exists(x, x == resource.size)", json!(true)),
            ("[1, 2, resource.size].all(x, x < 4)", json!(true)),
            ("resource.ports.exists(p, 'yes')", json!(false)),
            ("resource.ports.all(p, 1)", json!(false)),
        ],
    );
}

#[test]
fn macros_see_missing_lists_as_empty() {
    check_table(
        &bucket(),
        &[
            ("resource.missing.exists(x, true)", json!(false)),
            ("resource.missing.all(x, false)", json!(true)),
            ("resource.missing.exists_one(x, true)", json!(false)),
            ("resource.name.exists(x, true)", json!(false)),
            ("resource.size.all(x, false)", json!(true)),
            ("resource.empty.all(x, false)", json!(true)),
            ("resource.empty.exists(x, true)", json!(false)),
        ],
    );
}

#[test]
fn nested_macros_see_their_own_and_outer_variables() {
    let doc = json!({"groups": [
        {"name": "a", "members": [2, 3]},
        {"name": "b", "members": [5, 1]}
    ]});
    check_table(
        &doc,
        &[
            ("resource.groups.exists(g, g.members.all(m, m > 1))", json!(true)),
            ("resource.groups.all(g, g.members.all(m, m > 1))", json!(false)),
            ("resource.groups.exists(g, g.members.exists(m, m == 5) && g.name == 'b')", json!(true)),
            ("resource.groups.all(g, g.members.exists(x, resource.groups.exists(h, h.name == g.name)))", json!(true)),
            ("resource.groups.exists(x, x.members.exists(x, x == 5))", json!(true)),
            ("resource.groups.exists_one(g, g.members.exists_one(m, m > 2))", json!(false)),
        ],
    );
}

#[test]
fn arithmetic_is_total() {
    check_table(
        &bucket(),
        &[
            ("1 + 2 * 3", json!(7)),
            ("(1 + 2) * 3", json!(9)),
            ("7 / 2", json!(3.5)),
            ("8 / 2", json!(4)),
            ("7 % 3", json!(1)),
            ("7.5 % 2", json!(1.5)),
            ("1 / 0", json!(null)),
            ("1 % 0", json!(null)),
            ("1.0 / 0.0", json!(null)),
            ("resource.size / resource.missing", json!(null)),
            ("'a' + 'b'", json!("ab")),
            ("'a' + 1", json!(null)),
            ("9223372036854775807 + 1", json!(9223372036854775808.0)),
            ("-resource.size", json!(-3)),
            ("-'x'", json!(null)),
            ("1e308 * 10", json!(null)),
            ("resource.size - 1 == 2", json!(true)),
        ],
    );
}

#[test]
fn precedence_follows_cel() {
    check_table(
        &bucket(),
        &[
            ("true || false && false", json!(true)),
            ("(true || false) && false", json!(false)),
            ("!true || true", json!(true)),
            ("!(true || true)", json!(false)),
            ("1 + 1 == 2", json!(true)),
            ("1 < 2 == true", json!(true)),
            ("2 in [1, 2] && true", json!(true)),
            ("-2 * 3", json!(-6)),
            ("10 - 2 - 3", json!(5)),
            ("12 / 2 / 3", json!(2)),
            ("true ? 1 : 2", json!(1)),
            ("false ? 1 : true ? 2 : 3", json!(2)),
            ("resource.missing ? 1 : 2", json!(2)),
            ("1 == 1 ? 'a' : 'b'", json!("a")),
            ("false || true ? 'yes' : 'no'", json!("yes")),
            ("!resource.public && resource.size > 2", json!(true)),
            ("-resource.ports[1]", json!(-443)),
            ("resource.name.size() + 1", json!(10)),
        ],
    );
}

#[test]
fn comments_and_whitespace_are_ignored() {
    check_table(
        &bucket(),
        &[
            ("resource.size == 3 // trailing comment", json!(true)),
            ("// leading\n resource.size\n\t== 3", json!(true)),
        ],
    );
}

#[test]
fn evaluation_does_not_depend_on_earlier_runs() {
    let program = compile("resource.items.exists(x, x.tags.all(t, t != 'bad'))").unwrap();
    let good = json!({"items": [{"tags": ["a"]}]});
    let bad = json!({"items": [{"tags": ["bad"]}]});
    for _ in 0..3 {
        assert!(program.holds(&good));
        assert!(!program.holds(&bad));
    }
    let clone = program.clone();
    assert!(clone.holds(&good));
    assert_eq!(clone.source(), program.source());
}

#[test]
fn program_is_send_sync_clone_debug() {
    fn assert_traits<T: Send + Sync + Clone + std::fmt::Debug>() {}
    assert_traits::<policycortex_lang::Program>();
}

#[test]
fn paths_lists_the_fixed_resource_fields_read() {
    let program = compile(
        "resource.encryption.enabled != true && has(resource.tags['team-name']) \
         || resource.rules[0].port == 22 || resource.rules.exists(r, r.port == 22) \
         || resource.encryption.enabled == null || resource[resource.key] == 1",
    )
    .unwrap();
    assert_eq!(
        program.paths(),
        [
            "encryption.enabled",
            "tags[\"team-name\"]",
            "rules[0].port",
            "rules",
            "key"
        ]
    );
    assert!(compile("1 == 1").unwrap().paths().is_empty());
}

//! Validation of create and update bodies: every rule names its field.

use super::*;

fn create(body: serde_json::Value) -> Result<PolicySpec, Vec<FieldError>> {
    parse_create(body.to_string().as_bytes(), &Limits::default())
}

fn fields(errors: &[FieldError]) -> Vec<(&str, &str)> {
    errors
        .iter()
        .map(|error| (error.field.as_str(), error.code.as_str()))
        .collect()
}

fn minimal() -> serde_json::Value {
    serde_json::json!({
        "name": "require-s3-encryption",
        "resource_type": "AWS::S3::Bucket",
        "rules": [{
            "condition": "resource.encryption.enabled != true",
            "effect": "DENY",
            "message": "S3 bucket must have encryption enabled"
        }]
    })
}

#[test]
fn a_minimal_create_gets_the_documented_defaults() {
    let spec = create(minimal()).unwrap();

    assert_eq!(spec.severity, Severity::Medium);
    assert!(spec.enabled);
    assert!(!spec.auto_remediation);
    assert!(spec.tags.is_empty() && spec.compliance_frameworks.is_empty());
    assert_eq!(spec.description, None);
}

#[test]
fn missing_required_fields_are_all_named() {
    let errors = create(serde_json::json!({})).unwrap_err();

    assert_eq!(
        fields(&errors),
        vec![
            ("name", "required"),
            ("resource_type", "required"),
            ("rules", "required")
        ]
    );
}

#[test]
fn read_only_and_unknown_fields_are_rejected() {
    let mut body = minimal();
    body["id"] = "pol_mine".into();
    body["created_by"] = "me".into();
    body["colour"] = "blue".into();

    let errors = create(body).unwrap_err();

    assert_eq!(
        fields(&errors),
        vec![
            ("colour", "unknown_field"),
            ("created_by", "read_only"),
            ("id", "read_only")
        ]
    );
}

#[test]
fn a_wrong_type_names_its_path() {
    let mut body = minimal();
    body["rules"][0]["effect"] = "MAYBE".into();

    let errors = create(body).unwrap_err();

    assert_eq!(fields(&errors), vec![("rules[0].effect", "invalid_type")]);
    assert!(errors[0].message.contains("MAYBE"), "{}", errors[0].message);
}

#[test]
fn an_unknown_field_inside_a_rule_is_rejected() {
    let mut body = minimal();
    body["rules"][0]["priority"] = 1.into();

    let errors = create(body).unwrap_err();

    assert_eq!(errors[0].code, "unknown_field");
    assert!(
        errors[0].field.starts_with("rules[0]"),
        "{}",
        errors[0].field
    );
}

#[test]
fn a_severity_outside_the_four_values_is_rejected() {
    let mut body = minimal();
    body["severity"] = "URGENT".into();

    let errors = create(body).unwrap_err();

    assert_eq!(fields(&errors), vec![("severity", "invalid_type")]);
}

#[test]
fn name_length_is_bounded() {
    let mut body = minimal();
    body["name"] = "x".repeat(129).into();
    assert_eq!(
        fields(&create(body.clone()).unwrap_err()),
        vec![("name", "too_long")]
    );

    body["name"] = "x".repeat(128).into();
    assert!(create(body.clone()).is_ok());

    body["name"] = " ".into();
    assert_eq!(
        fields(&create(body).unwrap_err()),
        vec![("name", "required")]
    );
}

#[test]
fn rules_must_number_between_one_and_fifty() {
    let mut body = minimal();
    body["rules"] = serde_json::json!([]);
    assert_eq!(
        fields(&create(body.clone()).unwrap_err()),
        vec![("rules", "too_short")]
    );

    let rule = minimal()["rules"][0].clone();
    body["rules"] = serde_json::Value::Array(vec![rule; 51]);
    assert_eq!(
        fields(&create(body).unwrap_err()),
        vec![("rules", "too_many")]
    );
}

#[test]
fn empty_tags_and_commas_in_tags_are_rejected() {
    let mut body = minimal();
    body["tags"] = serde_json::json!(["ok", "", "a,b"]);
    body["compliance_frameworks"] = serde_json::json!([""]);

    let errors = create(body).unwrap_err();

    assert_eq!(
        fields(&errors),
        vec![
            ("tags[1]", "required"),
            ("tags[2]", "invalid_value"),
            ("compliance_frameworks[0]", "required")
        ]
    );
}

#[test]
fn a_bad_condition_names_the_rule_and_the_column() {
    let mut body = minimal();
    body["rules"][0]["condition"] = "resource.encryption.enabled !=".into();

    let errors = create(body).unwrap_err();

    assert_eq!(
        fields(&errors),
        vec![("rules[0].condition", "invalid_condition")]
    );
    assert_eq!(errors[0].line, Some(1));
    assert!(errors[0].column.is_some());
}

#[test]
fn malformed_json_and_non_objects_are_rejected() {
    let limits = Limits::default();
    let malformed = parse_create(b"{\"name\": ", &limits).unwrap_err();
    let array = parse_create(b"[]", &limits).unwrap_err();

    assert_eq!(fields(&malformed), vec![("body", "malformed_json")]);
    assert_eq!(fields(&array), vec![("body", "invalid_type")]);
}

#[test]
fn an_update_keeps_nulls_apart_from_missing_fields() {
    let patch = parse_update(br#"{"description": null, "severity": "CRITICAL"}"#).unwrap();

    assert_eq!(patch.description, Some(None));
    assert_eq!(patch.remediation_action, None);
    assert_eq!(patch.severity, Some(Severity::Critical));
}

#[test]
fn an_update_rejects_null_for_a_field_that_cannot_be_empty() {
    let errors = parse_update(br#"{"severity": null, "id": "pol_x"}"#).unwrap_err();

    assert_eq!(
        fields(&errors),
        vec![("id", "read_only"), ("severity", "invalid_type")]
    );
}

#[test]
fn a_rule_without_a_field_names_that_field() {
    for missing in ["condition", "effect", "message"] {
        let mut body = minimal();
        body["rules"][0].as_object_mut().unwrap().remove(missing);

        let errors = create(body).unwrap_err();

        let path = format!("rules[0].{missing}");
        assert_eq!(fields(&errors), vec![(path.as_str(), "required")]);
    }
}

#[test]
fn errors_of_every_kind_are_listed_together() {
    let body = serde_json::json!({
        "name": "",
        "severity": "URGENT",
        "rules": [
            {"condition": "true", "effect": "DENY", "message": "ok"},
            {"condition": "true", "effect": "MAYBE", "priority": 1}
        ],
        "tags": ["ok", 3],
        "compliance_frameworks": [""],
        "id": "pol_mine",
        "colour": "blue"
    });

    let mut errors = create(body).unwrap_err();
    errors.sort_by(|a, b| a.field.cmp(&b.field));

    assert_eq!(
        fields(&errors),
        vec![
            ("colour", "unknown_field"),
            ("compliance_frameworks[0]", "required"),
            ("id", "read_only"),
            ("name", "required"),
            ("resource_type", "required"),
            ("rules[1].effect", "invalid_type"),
            ("rules[1].message", "required"),
            ("rules[1].priority", "unknown_field"),
            ("severity", "invalid_type"),
            ("tags[1]", "invalid_type"),
        ]
    );
}

#[test]
fn an_update_checked_with_limits_lists_type_and_rule_errors_together() {
    let errors =
        parse_update_with(br#"{"name": "", "severity": "high"}"#, &Limits::default()).unwrap_err();

    assert_eq!(
        fields(&errors),
        vec![("severity", "invalid_type"), ("name", "required")]
    );
}

#[test]
fn every_entry_of_a_string_list_that_is_not_a_string_is_named() {
    let body = serde_json::json!({
        "name": "tagged",
        "resource_type": "AWS::S3::Bucket",
        "rules": [{"condition": "true", "effect": "DENY", "message": "no"}],
        "tags": [1, "ok", {"a": 1}],
        "compliance_frameworks": "SOC2"
    });

    let errors = create(body).unwrap_err();

    assert_eq!(
        fields(&errors),
        vec![
            ("compliance_frameworks", "invalid_type"),
            ("tags[0]", "invalid_type"),
            ("tags[2]", "invalid_type"),
        ]
    );
}

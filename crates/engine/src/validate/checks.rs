//! The product's rules on values of the right type: lengths of names and labels, counts
//! of rules, tags and frameworks, and conditions that must compile.

use super::{FieldError, Limits};
use crate::policy::{PolicyPatch, PolicySpec, Rule};

/// Checks the product's rules on each field a patch sends.
pub(super) fn check_patch(errors: &mut Vec<FieldError>, patch: &PolicyPatch, limits: &Limits) {
    if let Some(name) = &patch.name {
        check_text(errors, "name", name, limits.max_name_chars);
    }
    if let Some(resource_type) = &patch.resource_type {
        check_text(
            errors,
            "resource_type",
            resource_type,
            limits.max_label_chars,
        );
    }
    if let Some(Some(description)) = &patch.description {
        check_length(
            errors,
            "description",
            description,
            limits.max_description_chars,
        );
    }
    if let Some(Some(action)) = &patch.remediation_action {
        check_text(errors, "remediation_action", action, limits.max_label_chars);
    }
    if let Some(tags) = &patch.tags {
        check_labels(errors, "tags", tags, limits);
    }
    if let Some(frameworks) = &patch.compliance_frameworks {
        check_labels(errors, "compliance_frameworks", frameworks, limits);
    }
    if let Some(rules) = &patch.rules {
        check_rules(errors, rules, limits);
    }
}

/// Checks the product's rules on a whole policy: lengths, counts and conditions.
pub fn check_spec(spec: &PolicySpec, limits: &Limits) -> Result<(), Vec<FieldError>> {
    let mut errors = Vec::new();

    check_text(&mut errors, "name", &spec.name, limits.max_name_chars);
    check_text(
        &mut errors,
        "resource_type",
        &spec.resource_type,
        limits.max_label_chars,
    );
    if let Some(description) = &spec.description {
        check_length(
            &mut errors,
            "description",
            description,
            limits.max_description_chars,
        );
    }
    if let Some(action) = &spec.remediation_action {
        check_text(
            &mut errors,
            "remediation_action",
            action,
            limits.max_label_chars,
        );
    }
    check_labels(&mut errors, "tags", &spec.tags, limits);
    check_labels(
        &mut errors,
        "compliance_frameworks",
        &spec.compliance_frameworks,
        limits,
    );
    check_rules(&mut errors, &spec.rules, limits);

    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// A required text: not blank, and at most `max` characters.
fn check_text(errors: &mut Vec<FieldError>, field: &str, text: &str, max: usize) {
    if text.trim().is_empty() {
        errors.push(FieldError::new(field, "required", "must not be empty"));
    } else {
        check_length(errors, field, text, max);
    }
}

fn check_length(errors: &mut Vec<FieldError>, field: &str, text: &str, max: usize) {
    let length = text.chars().count();
    if length > max {
        errors.push(FieldError::new(
            field,
            "too_long",
            format!("must be at most {max} characters, got {length}"),
        ));
    }
}

/// Tags and frameworks: at most `max_labels`, each a non-empty text without a comma (a
/// comma separates values in the `tags` query filter).
fn check_labels(errors: &mut Vec<FieldError>, field: &str, labels: &[String], limits: &Limits) {
    if labels.len() > limits.max_labels {
        errors.push(FieldError::new(
            field,
            "too_many",
            format!(
                "must hold at most {} entries, got {}",
                limits.max_labels,
                labels.len()
            ),
        ));
        return;
    }
    for (index, label) in labels.iter().enumerate() {
        let path = format!("{field}[{index}]");
        if label.contains(',') {
            errors.push(FieldError::new(
                path,
                "invalid_value",
                "must not contain `,`",
            ));
        } else {
            check_text(errors, &path, label, limits.max_label_chars);
        }
    }
}

/// Between one and `max_rules` rules, each with a message and a condition that compiles.
fn check_rules(errors: &mut Vec<FieldError>, rules: &[Rule], limits: &Limits) {
    if rules.is_empty() {
        errors.push(FieldError::new(
            "rules",
            "too_short",
            "must hold at least one rule",
        ));
        return;
    }
    if rules.len() > limits.max_rules {
        errors.push(FieldError::new(
            "rules",
            "too_many",
            format!(
                "must hold at most {} rules, got {}",
                limits.max_rules,
                rules.len()
            ),
        ));
        return;
    }
    for (index, rule) in rules.iter().enumerate() {
        check_text(
            errors,
            &format!("rules[{index}].message"),
            &rule.message,
            limits.max_message_chars,
        );
        if let Err(error) = policycortex_lang::compile_with(&rule.condition, &limits.condition) {
            errors.push(FieldError {
                field: format!("rules[{index}].condition"),
                code: "invalid_condition".to_owned(),
                message: format!(
                    "line {}, column {}: {}",
                    error.line, error.column, error.message
                ),
                line: Some(error.line),
                column: Some(error.column),
                hint: error.hint,
            });
        }
    }
}

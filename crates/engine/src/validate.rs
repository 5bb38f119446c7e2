//! Turns a request body into a checked [`PolicySpec`] or [`PolicyPatch`].
//!
//! Validation reports every problem it can find at once, each as a [`FieldError`] that
//! names the field by its JSON path (`rules[0].condition`). Each top-level key is checked
//! on its own (unknown, read-only, null, then its type, each rule field by field), missing
//! required keys are named, and the product's rules (lengths, counts, conditions) run on
//! every value that has the right type ([`check_spec`]). Lists are read entry by entry, so
//! every wrong entry is named.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::policy::{PolicyPatch, PolicySpec, Rule, Severity};

mod checks;

use checks::check_patch;
pub use checks::check_spec;

/// One problem with one field of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldError {
    /// JSON path of the field, such as `rules[0].condition`; `body` for the whole body.
    pub field: String,
    /// Stable snake_case code, such as `required` or `invalid_condition`.
    pub code: String,
    /// What is wrong, for a person.
    pub message: String,
    /// For a condition error: the 1-based line in the condition.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// For a condition error: the 1-based column in the condition.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<u32>,
    /// A suggestion, where one helps.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl FieldError {
    /// An error on `field` with `code` and `message`.
    pub fn new(field: impl Into<String>, code: &str, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            code: code.to_owned(),
            message: message.into(),
            line: None,
            column: None,
            hint: None,
        }
    }
}

/// Bounds on what one policy may hold. They keep storage and evaluation cost bounded.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Longest name, in characters.
    pub max_name_chars: usize,
    /// Longest description, in characters.
    pub max_description_chars: usize,
    /// Longest resource type, remediation action, tag or framework, in characters.
    pub max_label_chars: usize,
    /// Longest rule message, in characters.
    pub max_message_chars: usize,
    /// Most rules in one policy.
    pub max_rules: usize,
    /// Most tags, and most compliance frameworks, in one policy.
    pub max_labels: usize,
    /// Limits on each rule's condition.
    pub condition: policycortex_lang::Limits,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_name_chars: 128,
            max_description_chars: 4096,
            max_label_chars: 256,
            max_message_chars: 1024,
            max_rules: 50,
            max_labels: 50,
            condition: policycortex_lang::Limits::default(),
        }
    }
}

/// The body of `POST /v1/policies`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, expecting = "a policy object")]
pub struct PolicyCreate {
    /// Unique within the organization, 1 to 128 characters.
    #[schema(min_length = 1, max_length = 128)]
    pub name: String,
    /// What the policy is for.
    #[serde(default)]
    #[schema(max_length = 4096)]
    pub description: Option<String>,
    /// The type of resource the policy applies to.
    #[schema(min_length = 1, max_length = 256)]
    pub resource_type: String,
    /// Defaults to MEDIUM.
    #[serde(default)]
    #[schema(nullable = false)]
    pub severity: Option<Severity>,
    /// Defaults to true.
    #[serde(default)]
    #[schema(nullable = false)]
    pub enabled: Option<bool>,
    /// 1 to 50 rules.
    #[schema(min_items = 1, max_items = 50)]
    pub rules: Vec<Rule>,
    /// Defaults to an empty list.
    #[serde(default)]
    #[schema(nullable = false, max_items = 50)]
    pub compliance_frameworks: Option<Vec<String>>,
    /// Defaults to false.
    #[serde(default)]
    #[schema(nullable = false)]
    pub auto_remediation: Option<bool>,
    /// The remediation to apply when `auto_remediation` is on.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 256)]
    pub remediation_action: Option<String>,
    /// Defaults to an empty list.
    #[serde(default)]
    #[schema(nullable = false, max_items = 50)]
    pub tags: Option<Vec<String>>,
}

/// The body of `PUT /v1/policies/{id}`: every field is optional; fields sent replace the
/// stored value, fields left out keep it. `description` and `remediation_action` may be
/// `null` to clear them.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, expecting = "a policy object")]
pub struct PolicyUpdate {
    /// New name.
    #[serde(default)]
    #[schema(nullable = false, min_length = 1, max_length = 128)]
    pub name: Option<String>,
    /// New description; `null` clears it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(nullable, max_length = 4096)]
    pub description: Option<Option<String>>,
    /// New resource type.
    #[serde(default)]
    #[schema(nullable = false, min_length = 1, max_length = 256)]
    pub resource_type: Option<String>,
    /// New severity.
    #[serde(default)]
    #[schema(nullable = false)]
    pub severity: Option<Severity>,
    /// New enabled flag.
    #[serde(default)]
    #[schema(nullable = false)]
    pub enabled: Option<bool>,
    /// New rules, replacing all the old ones.
    #[serde(default)]
    #[schema(nullable = false, min_items = 1, max_items = 50)]
    pub rules: Option<Vec<Rule>>,
    /// New compliance frameworks.
    #[serde(default)]
    #[schema(nullable = false, max_items = 50)]
    pub compliance_frameworks: Option<Vec<String>>,
    /// New auto remediation flag.
    #[serde(default)]
    #[schema(nullable = false)]
    pub auto_remediation: Option<bool>,
    /// New remediation action; `null` clears it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(nullable, min_length = 1, max_length = 256)]
    pub remediation_action: Option<Option<String>>,
    /// New tags.
    #[serde(default)]
    #[schema(nullable = false, max_items = 50)]
    pub tags: Option<Vec<String>>,
}

/// Keeps an explicit `null` apart from a missing field.
fn nullable<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// Fields a client may set.
const WRITABLE: [&str; 10] = [
    "name",
    "description",
    "resource_type",
    "severity",
    "enabled",
    "rules",
    "compliance_frameworks",
    "auto_remediation",
    "remediation_action",
    "tags",
];

/// Fields the server sets; a body that sends one is rejected rather than ignored.
const READ_ONLY: [&str; 5] = ["id", "version", "created_at", "updated_at", "created_by"];

/// Fields that may be `null`.
const NULLABLE: [&str; 2] = ["description", "remediation_action"];

/// Fields a create must send.
const REQUIRED: [&str; 3] = ["name", "resource_type", "rules"];

/// Checks a create body and returns the policy it describes, with defaults filled in.
pub fn parse_create(body: &[u8], limits: &Limits) -> Result<PolicySpec, Vec<FieldError>> {
    create_from_object(parse_object(body)?, limits)
}

/// Checks a create body that is already parsed, such as a draft policy inside an
/// evaluation request.
///
/// Every problem is reported at once: unknown, read-only and missing keys, each value of
/// the wrong type, and the product's rules on every value that has the right type.
pub fn create_from_object(
    object: Map<String, Value>,
    limits: &Limits,
) -> Result<PolicySpec, Vec<FieldError>> {
    let mut errors = Vec::new();
    let fields = read_fields(&object, true, &mut errors);
    check_patch(&mut errors, &fields, limits);
    if !errors.is_empty() {
        return Err(errors);
    }

    // INVARIANT: `read_fields` reported each required field that is absent or mistyped,
    // so with no errors all three are present.
    let (Some(name), Some(resource_type), Some(rules)) =
        (fields.name, fields.resource_type, fields.rules)
    else {
        return Err(vec![FieldError::new(
            "body",
            "required",
            "`name`, `resource_type` and `rules` are required",
        )]);
    };
    Ok(PolicySpec {
        name,
        description: fields.description.flatten(),
        resource_type,
        severity: fields.severity.unwrap_or(Severity::Medium),
        enabled: fields.enabled.unwrap_or(true),
        rules,
        compliance_frameworks: fields.compliance_frameworks.unwrap_or_default(),
        auto_remediation: fields.auto_remediation.unwrap_or(false),
        remediation_action: fields.remediation_action.flatten(),
        tags: fields.tags.unwrap_or_default(),
    })
}

/// Checks an update body's keys and value types and returns the patch it describes.
///
/// Apply the patch and pass the result to [`check_spec`] to check the policy it produces;
/// [`parse_update_with`] also checks the product's rules on the fields sent.
pub fn parse_update(body: &[u8]) -> Result<PolicyPatch, Vec<FieldError>> {
    let object = parse_object(body)?;
    let mut errors = Vec::new();
    let patch = read_fields(&object, false, &mut errors);
    if errors.is_empty() {
        Ok(patch)
    } else {
        Err(errors)
    }
}

/// Checks an update body like [`parse_update`], and the product's rules on every field it
/// sends, reporting every problem at once.
pub fn parse_update_with(body: &[u8], limits: &Limits) -> Result<PolicyPatch, Vec<FieldError>> {
    let object = parse_object(body)?;
    let mut errors = Vec::new();
    let patch = read_fields(&object, false, &mut errors);
    check_patch(&mut errors, &patch, limits);
    if errors.is_empty() {
        Ok(patch)
    } else {
        Err(errors)
    }
}

/// Parses `body` as a JSON object.
pub fn parse_object(body: &[u8]) -> Result<Map<String, Value>, Vec<FieldError>> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(vec![FieldError::new(
            "body",
            "invalid_type",
            "the body must be a JSON object",
        )]),
        Err(error) => Err(vec![FieldError::new(
            "body",
            "malformed_json",
            format!("the body is not valid JSON: {error}"),
        )]),
    }
}

/// Reads the top-level fields of a policy body into a patch, pushing an error for each key
/// that is unknown, read-only, null without being nullable, or of the wrong type; with
/// `creating`, also for each required key that is absent.
fn read_fields(
    object: &Map<String, Value>,
    creating: bool,
    errors: &mut Vec<FieldError>,
) -> PolicyPatch {
    let mut patch = PolicyPatch::default();
    for (key, value) in object {
        let key = key.as_str();
        if READ_ONLY.contains(&key) {
            errors.push(FieldError::new(
                key,
                "read_only",
                format!("`{key}` is set by the server and cannot be written"),
            ));
            continue;
        }
        if !WRITABLE.contains(&key) {
            errors.push(FieldError::new(
                key,
                "unknown_field",
                format!("unknown field `{key}`"),
            ));
            continue;
        }
        if value.is_null() {
            if NULLABLE.contains(&key) {
                match key {
                    "description" => patch.description = Some(None),
                    _ => patch.remediation_action = Some(None),
                }
            } else {
                errors.push(FieldError::new(key, "invalid_type", "must not be null"));
            }
            continue;
        }
        match key {
            "name" => patch.name = typed(key, value, errors),
            "description" => patch.description = typed(key, value, errors).map(Some),
            "resource_type" => patch.resource_type = typed(key, value, errors),
            "severity" => patch.severity = typed(key, value, errors),
            "enabled" => patch.enabled = typed(key, value, errors),
            "rules" => patch.rules = read_rules(value, errors),
            "compliance_frameworks" => {
                patch.compliance_frameworks = read_strings(key, value, errors)
            }
            "auto_remediation" => patch.auto_remediation = typed(key, value, errors),
            "remediation_action" => patch.remediation_action = typed(key, value, errors).map(Some),
            _ => patch.tags = read_strings(key, value, errors),
        }
    }
    if creating {
        for key in REQUIRED.iter().filter(|key| !object.contains_key(**key)) {
            errors.push(FieldError::new(*key, "required", "is required"));
        }
    }
    patch
}

/// The fields of a rule.
const RULE_FIELDS: [&str; 3] = ["condition", "effect", "message"];

/// Reads the `rules` list, naming each wrong rule field by its path (`rules[2].effect`).
fn read_rules(value: &Value, errors: &mut Vec<FieldError>) -> Option<Vec<Rule>> {
    let Value::Array(items) = value else {
        errors.push(FieldError::new(
            "rules",
            "invalid_type",
            "must be a list of rules",
        ));
        return None;
    };

    let before = errors.len();
    let mut rules = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let path = format!("rules[{index}]");
        let Value::Object(rule) = item else {
            errors.push(FieldError::new(
                path,
                "invalid_type",
                "must be an object with `condition`, `effect` and `message`",
            ));
            continue;
        };
        for key in rule
            .keys()
            .filter(|key| !RULE_FIELDS.contains(&key.as_str()))
        {
            errors.push(FieldError::new(
                format!("{path}.{key}"),
                "unknown_field",
                format!("unknown field `{key}`"),
            ));
        }
        let condition = rule_field(rule, &path, "condition", errors);
        let effect = rule_field(rule, &path, "effect", errors);
        let message = rule_field(rule, &path, "message", errors);
        if let (Some(condition), Some(effect), Some(message)) = (condition, effect, message) {
            rules.push(Rule {
                condition,
                effect,
                message,
            });
        }
    }
    (errors.len() == before).then_some(rules)
}

/// The field `name` of the rule at `path`, which is required.
fn rule_field<T: DeserializeOwned>(
    rule: &Map<String, Value>,
    path: &str,
    name: &str,
    errors: &mut Vec<FieldError>,
) -> Option<T> {
    let path = format!("{path}.{name}");
    match rule.get(name) {
        None => {
            errors.push(FieldError::new(path, "required", "is required"));
            None
        }
        Some(value) => typed(&path, value, errors),
    }
}

/// Deserializes the value at `path`, pushing an error that names the path of the first
/// mismatch inside it.
fn typed<T: DeserializeOwned>(
    path: &str,
    value: &Value,
    errors: &mut Vec<FieldError>,
) -> Option<T> {
    match serde_path_to_error::deserialize::<_, T>(value) {
        Ok(typed) => Some(typed),
        Err(error) => {
            let inner = error.path().to_string();
            let field = if inner == "." {
                path.to_owned()
            } else if inner.starts_with('[') {
                format!("{path}{inner}")
            } else {
                format!("{path}.{inner}")
            };
            let message = error.into_inner().to_string();
            errors.push(FieldError::new(field, "invalid_type", message));
            None
        }
    }
}

/// Reads a list of strings, naming every entry that is not one (`tags[1]`, `tags[3]`).
fn read_strings(path: &str, value: &Value, errors: &mut Vec<FieldError>) -> Option<Vec<String>> {
    let Value::Array(items) = value else {
        errors.push(FieldError::new(
            path,
            "invalid_type",
            "must be a list of strings",
        ));
        return None;
    };
    let before = errors.len();
    let strings: Vec<String> = items
        .iter()
        .enumerate()
        .filter_map(|(index, item)| match item {
            Value::String(text) => Some(text.clone()),
            _ => {
                let field = format!("{path}[{index}]");
                errors.push(FieldError::new(field, "invalid_type", "must be a string"));
                None
            }
        })
        .collect();
    (errors.len() == before).then_some(strings)
}

#[cfg(test)]
mod tests;

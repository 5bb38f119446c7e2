//! The policy object as the Policies API shows it, and the checked inputs that create or
//! change one.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// How serious a violation of a policy is.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "UPPERCASE")]
pub enum Severity {
    /// Informational; fix when convenient.
    Low,
    /// The default.
    Medium,
    /// Fix soon.
    High,
    /// Fix now.
    Critical,
}

impl Severity {
    /// All severities, least serious first.
    pub const ALL: [Severity; 4] = [Self::Low, Self::Medium, Self::High, Self::Critical];

    /// The name used in JSON and in query strings, such as `HIGH`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "LOW",
            Self::Medium => "MEDIUM",
            Self::High => "HIGH",
            Self::Critical => "CRITICAL",
        }
    }

    /// Parses the JSON name of a severity; `None` for anything else.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|severity| severity.as_str() == text)
    }

    /// A number that orders severities from LOW (1) to CRITICAL (4).
    pub fn rank(self) -> i64 {
        self as i64 + 1
    }

    /// The severity of a [`Severity::rank`].
    pub fn from_rank(rank: i64) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|severity| severity.rank() == rank)
    }
}

/// What a rule does when its condition holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum Effect {
    /// The resource must match at least one ALLOW rule of the policy.
    Allow,
    /// The resource violates the policy when the condition holds.
    Deny,
}

/// One rule of a policy: a condition over the resource and what follows when it holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// An expression over `resource`, for example `resource.encryption.enabled != true`.
    #[schema(min_length = 1)]
    pub condition: String,
    /// ALLOW or DENY.
    pub effect: Effect,
    /// What a violation of this rule tells the user, 1 to 1,024 characters.
    #[schema(min_length = 1, max_length = 1024)]
    pub message: String,
}

/// A stored policy, exactly as the API returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Policy {
    /// The policy's id, such as `pol_4f9a…`.
    pub id: String,
    /// Unique within the organization.
    pub name: String,
    /// What the policy is for; `null` when not given.
    pub description: Option<String>,
    /// The type of resource this policy applies to, such as `AWS::S3::Bucket`.
    pub resource_type: String,
    /// How serious a violation is.
    pub severity: Severity,
    /// Disabled policies are stored but never evaluated.
    pub enabled: bool,
    /// The rules, evaluated in order.
    pub rules: Vec<Rule>,
    /// Compliance frameworks the policy supports, such as `SOC2`.
    pub compliance_frameworks: Vec<String>,
    /// Whether a violation should be fixed automatically.
    pub auto_remediation: bool,
    /// The remediation to apply when `auto_remediation` is on.
    pub remediation_action: Option<String>,
    /// Organizational labels.
    pub tags: Vec<String>,
    /// Starts at 1 and grows by one with every change.
    pub version: i64,
    /// When the policy was created (RFC 3339, UTC).
    pub created_at: DateTime<Utc>,
    /// When the policy last changed (RFC 3339, UTC).
    pub updated_at: DateTime<Utc>,
    /// The principal of the API key that created the policy.
    pub created_by: String,
}

/// Everything a caller chooses about a policy: a checked create body, or a stored policy
/// with a patch applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicySpec {
    /// See [`Policy::name`].
    pub name: String,
    /// See [`Policy::description`].
    pub description: Option<String>,
    /// See [`Policy::resource_type`].
    pub resource_type: String,
    /// See [`Policy::severity`].
    pub severity: Severity,
    /// See [`Policy::enabled`].
    pub enabled: bool,
    /// See [`Policy::rules`].
    pub rules: Vec<Rule>,
    /// See [`Policy::compliance_frameworks`].
    pub compliance_frameworks: Vec<String>,
    /// See [`Policy::auto_remediation`].
    pub auto_remediation: bool,
    /// See [`Policy::remediation_action`].
    pub remediation_action: Option<String>,
    /// See [`Policy::tags`].
    pub tags: Vec<String>,
}

impl Policy {
    /// A policy made of `spec`, with the server-set fields given.
    pub fn from_spec(id: String, spec: PolicySpec, at: DateTime<Utc>, created_by: String) -> Self {
        Self {
            id,
            name: spec.name,
            description: spec.description,
            resource_type: spec.resource_type,
            severity: spec.severity,
            enabled: spec.enabled,
            rules: spec.rules,
            compliance_frameworks: spec.compliance_frameworks,
            auto_remediation: spec.auto_remediation,
            remediation_action: spec.remediation_action,
            tags: spec.tags,
            version: 1,
            created_at: at,
            updated_at: at,
            created_by,
        }
    }

    /// The caller-chosen fields, as JSON shows them; audit diffs compare these.
    pub fn spec_view(&self) -> serde_json::Value {
        serde_json::json!({
            "name": self.name,
            "description": self.description,
            "resource_type": self.resource_type,
            "severity": self.severity,
            "enabled": self.enabled,
            "rules": self.rules,
            "compliance_frameworks": self.compliance_frameworks,
            "auto_remediation": self.auto_remediation,
            "remediation_action": self.remediation_action,
            "tags": self.tags,
        })
    }

    /// The caller-chosen part of this policy.
    pub fn spec(&self) -> PolicySpec {
        PolicySpec {
            name: self.name.clone(),
            description: self.description.clone(),
            resource_type: self.resource_type.clone(),
            severity: self.severity,
            enabled: self.enabled,
            rules: self.rules.clone(),
            compliance_frameworks: self.compliance_frameworks.clone(),
            auto_remediation: self.auto_remediation,
            remediation_action: self.remediation_action.clone(),
            tags: self.tags.clone(),
        }
    }
}

/// A checked partial update: `Some` fields replace, `None` fields keep their value.
///
/// The two nullable fields take `Some(None)` to clear them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyPatch {
    /// New name.
    pub name: Option<String>,
    /// New description, or `Some(None)` to clear it.
    pub description: Option<Option<String>>,
    /// New resource type.
    pub resource_type: Option<String>,
    /// New severity.
    pub severity: Option<Severity>,
    /// New enabled flag.
    pub enabled: Option<bool>,
    /// New rules, replacing all the old ones.
    pub rules: Option<Vec<Rule>>,
    /// New compliance frameworks.
    pub compliance_frameworks: Option<Vec<String>>,
    /// New auto remediation flag.
    pub auto_remediation: Option<bool>,
    /// New remediation action, or `Some(None)` to clear it.
    pub remediation_action: Option<Option<String>>,
    /// New tags.
    pub tags: Option<Vec<String>>,
}

impl PolicyPatch {
    /// `spec` with this patch applied.
    pub fn apply(self, spec: PolicySpec) -> PolicySpec {
        PolicySpec {
            name: self.name.unwrap_or(spec.name),
            description: self.description.unwrap_or(spec.description),
            resource_type: self.resource_type.unwrap_or(spec.resource_type),
            severity: self.severity.unwrap_or(spec.severity),
            enabled: self.enabled.unwrap_or(spec.enabled),
            rules: self.rules.unwrap_or(spec.rules),
            compliance_frameworks: self
                .compliance_frameworks
                .unwrap_or(spec.compliance_frameworks),
            auto_remediation: self.auto_remediation.unwrap_or(spec.auto_remediation),
            remediation_action: self.remediation_action.unwrap_or(spec.remediation_action),
            tags: self.tags.unwrap_or(spec.tags),
        }
    }

    /// Whether the patch changes nothing at all.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

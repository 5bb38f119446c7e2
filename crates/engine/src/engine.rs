//! The evaluation engine: an organization's enabled policies, compiled once and indexed by
//! resource type, deciding about one resource or a batch in parallel.
//!
//! A [`PolicySet`] is immutable; a write produces a new set that recompiles only the policy
//! it changed and shares every other compiled policy with the old set.

use std::collections::HashMap;
use std::sync::Arc;

use policycortex_lang::{CompileError, Program};
use rayon::prelude::*;
use serde_json::Value;

use crate::decision::{Decision, Evaluation, Verdict, Violation};
use crate::policy::{Effect, Policy, Severity};

/// The message of the violation when a policy's ALLOW rules all fail to match.
pub const NO_ALLOW_RULE_MATCHED: &str = "no ALLOW rule of this policy matched the resource";

/// A condition that failed to compile while building a policy set.
#[derive(Debug, thiserror::Error)]
#[error("policy `{policy_id}`, rules[{rule_index}].condition: {error}")]
pub struct ConditionError {
    /// The policy whose rule failed.
    pub policy_id: String,
    /// The index of the rule in the policy.
    pub rule_index: usize,
    /// What the compiler said.
    pub error: CompileError,
}

/// One rule, compiled.
#[derive(Debug)]
struct CompiledRule {
    index: usize,
    program: Program,
    message: Arc<str>,
}

/// One enabled policy with its rules compiled, ready to decide.
#[derive(Debug)]
pub struct CompiledPolicy {
    id: Arc<str>,
    name: Arc<str>,
    resource_type: String,
    severity: Severity,
    compliance_frameworks: Arc<[String]>,
    remediation_action: Option<Arc<str>>,
    deny_rules: Vec<CompiledRule>,
    allow_rules: Vec<CompiledRule>,
}

impl CompiledPolicy {
    /// Compiles every rule of `policy`.
    pub fn compile(policy: &Policy) -> Result<Self, ConditionError> {
        let mut deny_rules = Vec::new();
        let mut allow_rules = Vec::new();
        for (index, rule) in policy.rules.iter().enumerate() {
            let program =
                policycortex_lang::compile(&rule.condition).map_err(|error| ConditionError {
                    policy_id: policy.id.clone(),
                    rule_index: index,
                    error,
                })?;
            let compiled = CompiledRule {
                index,
                program,
                message: rule.message.as_str().into(),
            };
            match rule.effect {
                Effect::Deny => deny_rules.push(compiled),
                Effect::Allow => allow_rules.push(compiled),
            }
        }

        let remediation_action = if policy.auto_remediation {
            policy.remediation_action.as_deref().map(Arc::from)
        } else {
            None
        };
        Ok(Self {
            id: policy.id.as_str().into(),
            name: policy.name.as_str().into(),
            resource_type: policy.resource_type.clone(),
            severity: policy.severity,
            compliance_frameworks: policy.compliance_frameworks.as_slice().into(),
            remediation_action,
            deny_rules,
            allow_rules,
        })
    }

    /// The policy's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Decides about `resource`, following the three decision rules of the design:
    /// a DENY rule that holds denies; else an allow-list that nothing matched denies; else
    /// the policy allows.
    pub fn decide(&self, resource: &Value) -> Decision {
        let mut violations: Vec<Violation> = self
            .deny_rules
            .iter()
            .filter(|rule| rule.program.holds(resource))
            .map(|rule| Violation {
                rule_index: Some(rule.index),
                message: rule.message.clone(),
            })
            .collect();

        let allow_list_missed = violations.is_empty()
            && !self.allow_rules.is_empty()
            && !self
                .allow_rules
                .iter()
                .any(|rule| rule.program.holds(resource));
        if allow_list_missed {
            violations.push(Violation {
                rule_index: None,
                message: NO_ALLOW_RULE_MATCHED.into(),
            });
        }

        let verdict = if violations.is_empty() {
            Verdict::Allow
        } else {
            Verdict::Deny
        };
        Decision {
            policy_id: self.id.clone(),
            policy_name: self.name.clone(),
            decision: verdict,
            severity: self.severity,
            violations,
            compliance_frameworks: self.compliance_frameworks.clone(),
            remediation_action: match verdict {
                Verdict::Deny => self.remediation_action.clone(),
                Verdict::Allow => None,
            },
        }
    }
}

/// The enabled policies of one organization, compiled and indexed by resource type.
#[derive(Debug, Clone, Default)]
pub struct PolicySet {
    /// Compiled policies of each resource type, ordered by name.
    by_type: HashMap<String, Vec<Arc<CompiledPolicy>>>,
}

impl PolicySet {
    /// Compiles every enabled policy of `policies`.
    pub fn build<'a>(
        policies: impl IntoIterator<Item = &'a Policy>,
    ) -> Result<Self, ConditionError> {
        let mut set = Self::default();
        for policy in policies.into_iter().filter(|policy| policy.enabled) {
            set.insert(Arc::new(CompiledPolicy::compile(policy)?));
        }
        Ok(set)
    }

    /// A copy of this set with `policy` added or replaced: only `policy` is compiled.
    /// A disabled policy is removed instead.
    pub fn with_policy(&self, policy: &Policy) -> Result<Self, ConditionError> {
        let mut set = self.without_policy(&policy.id);
        if policy.enabled {
            set.insert(Arc::new(CompiledPolicy::compile(policy)?));
        }
        Ok(set)
    }

    /// A copy of this set without the policy `id`.
    pub fn without_policy(&self, id: &str) -> Self {
        let mut by_type = self.by_type.clone();
        for policies in by_type.values_mut() {
            policies.retain(|policy| &*policy.id != id);
        }
        by_type.retain(|_, policies| !policies.is_empty());
        Self { by_type }
    }

    fn insert(&mut self, policy: Arc<CompiledPolicy>) {
        let policies = self
            .by_type
            .entry(policy.resource_type.clone())
            .or_default();
        let position = policies.partition_point(|other| other.name < policy.name);
        policies.insert(position, policy);
    }

    /// How many policies the set holds.
    pub fn len(&self) -> usize {
        self.by_type.values().map(Vec::len).sum()
    }

    /// Whether the set holds no policy.
    pub fn is_empty(&self) -> bool {
        self.by_type.is_empty()
    }

    /// The policies that apply to resources of `resource_type`.
    pub fn applicable(&self, resource_type: &str) -> &[Arc<CompiledPolicy>] {
        self.by_type
            .get(resource_type)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    /// Evaluates one resource against every applicable policy.
    pub fn evaluate(&self, resource_type: &str, resource: &Value) -> Evaluation {
        let decisions = self
            .applicable(resource_type)
            .iter()
            .map(|policy| policy.decide(resource))
            .collect();
        Evaluation::from_decisions(decisions)
    }

    /// Evaluates many resources, `(resource_type, resource)` each, in parallel on the
    /// current rayon pool. The answers keep the order of `resources`.
    pub fn evaluate_batch(&self, resources: &[(&str, &Value)]) -> Vec<Evaluation> {
        resources
            .par_iter()
            .map(|(resource_type, resource)| self.evaluate(resource_type, resource))
            .collect()
    }
}

#[cfg(test)]
mod tests;

//! What an evaluation answers: one decision per applicable policy, and whether the
//! resource is compliant overall.
//!
//! A decision shares its policy's strings (`Arc<str>`) instead of copying them: an
//! evaluation makes one decision per applicable policy, and copying ids, names and
//! messages cost more than evaluating the conditions.

use std::sync::Arc;

use serde::Serialize;
use utoipa::ToSchema;

use crate::policy::Severity;

/// The outcome of one policy for one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum Verdict {
    /// The resource satisfies the policy.
    Allow,
    /// The resource violates the policy.
    Deny,
}

/// One reason a policy denied a resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Violation {
    /// The index of the DENY rule that held; `null` when no ALLOW rule matched.
    pub rule_index: Option<usize>,
    /// The rule's message, or why the allow-list was not matched.
    #[schema(value_type = String)]
    pub message: Arc<str>,
}

/// What one applicable policy decided about one resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Decision {
    /// The deciding policy's id.
    #[schema(value_type = String)]
    pub policy_id: Arc<str>,
    /// The deciding policy's name.
    #[schema(value_type = String)]
    pub policy_name: Arc<str>,
    /// ALLOW or DENY.
    pub decision: Verdict,
    /// The policy's severity.
    pub severity: Severity,
    /// Why the policy denied the resource; empty on ALLOW.
    pub violations: Vec<Violation>,
    /// The policy's compliance frameworks.
    #[schema(value_type = Vec<String>)]
    pub compliance_frameworks: Arc<[String]>,
    /// The remediation to apply; present only on a DENY of a policy with auto remediation.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub remediation_action: Option<Arc<str>>,
}

/// The evaluation of one resource against every applicable policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Evaluation {
    /// True when no applicable policy denies the resource.
    pub compliant: bool,
    /// One decision per applicable policy, in the order of the policy set.
    pub decisions: Vec<Decision>,
}

impl Evaluation {
    /// Builds an evaluation from its decisions.
    pub fn from_decisions(decisions: Vec<Decision>) -> Self {
        let compliant = decisions
            .iter()
            .all(|decision| decision.decision == Verdict::Allow);
        Self {
            compliant,
            decisions,
        }
    }

    /// How many decisions are DENY.
    pub fn denied(&self) -> usize {
        self.decisions
            .iter()
            .filter(|decision| decision.decision == Verdict::Deny)
            .count()
    }

    /// How many violations all decisions hold together.
    pub fn violations(&self) -> usize {
        self.decisions
            .iter()
            .map(|decision| decision.violations.len())
            .sum()
    }
}

/// Counts over the evaluations of many resources.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct Summary {
    /// Resources evaluated.
    pub resources: usize,
    /// Resources that no policy denied.
    pub compliant: usize,
    /// Resources that some policy denied.
    pub non_compliant: usize,
    /// Decisions made in all.
    pub decisions: usize,
    /// Decisions that were DENY.
    pub denied: usize,
    /// Entries of all violation lists together.
    pub violations: usize,
}

impl Summary {
    /// Counts `evaluations`.
    pub fn of<'a>(evaluations: impl IntoIterator<Item = &'a Evaluation>) -> Self {
        let mut summary = Self::default();
        for evaluation in evaluations {
            summary.record(evaluation);
        }
        summary
    }

    /// Counts one more evaluation.
    pub fn record(&mut self, evaluation: &Evaluation) {
        self.resources += 1;
        if evaluation.compliant {
            self.compliant += 1;
        } else {
            self.non_compliant += 1;
        }
        self.decisions += evaluation.decisions.len();
        self.denied += evaluation.denied();
        self.violations += evaluation.violations();
    }

    /// Adds the counts of `other`, made over other evaluations.
    pub fn add(&mut self, other: &Summary) {
        self.resources += other.resources;
        self.compliant += other.compliant;
        self.non_compliant += other.non_compliant;
        self.decisions += other.decisions;
        self.denied += other.denied;
        self.violations += other.violations;
    }
}

//! Decision rules, applicability and incremental rebuilds of a policy set.

use chrono::Utc;
use serde_json::json;

use super::*;
use crate::policy::Rule;

fn rule(effect: Effect, condition: &str, message: &str) -> Rule {
    Rule {
        condition: condition.into(),
        effect,
        message: message.into(),
    }
}

fn policy(id: &str, resource_type: &str, rules: Vec<Rule>) -> Policy {
    Policy {
        id: id.into(),
        name: format!("name-{id}"),
        description: None,
        resource_type: resource_type.into(),
        severity: Severity::High,
        enabled: true,
        rules,
        compliance_frameworks: vec!["SOC2".into()],
        auto_remediation: false,
        remediation_action: None,
        tags: vec![],
        version: 1,
        created_at: Utc::now(),
        updated_at: Utc::now(),
        created_by: "test".into(),
    }
}

fn encryption_policy() -> Policy {
    let deny = rule(
        Effect::Deny,
        "resource.encryption.enabled != true",
        "must be encrypted",
    );
    policy("pol_s3", "AWS::S3::Bucket", vec![deny])
}

#[test]
fn a_deny_rule_that_holds_denies_with_its_message() {
    let set = PolicySet::build([&encryption_policy()]).unwrap();

    let evaluation = set.evaluate(
        "AWS::S3::Bucket",
        &json!({"encryption": {"enabled": false}}),
    );

    assert!(!evaluation.compliant);
    let decision = &evaluation.decisions[0];
    assert_eq!(decision.decision, Verdict::Deny);
    assert_eq!(
        decision.violations,
        vec![Violation {
            rule_index: Some(0),
            message: "must be encrypted".into()
        }]
    );
    assert_eq!(decision.severity, Severity::High);
    assert_eq!(decision.compliance_frameworks, vec!["SOC2".to_owned()]);
}

#[test]
fn a_missing_field_makes_the_reference_example_deny() {
    let set = PolicySet::build([&encryption_policy()]).unwrap();

    let evaluation = set.evaluate("AWS::S3::Bucket", &json!({"name": "logs"}));

    assert_eq!(evaluation.decisions[0].decision, Verdict::Deny);
}

#[test]
fn no_deny_rule_holding_allows() {
    let set = PolicySet::build([&encryption_policy()]).unwrap();

    let evaluation = set.evaluate("AWS::S3::Bucket", &json!({"encryption": {"enabled": true}}));

    assert!(evaluation.compliant);
    assert_eq!(evaluation.decisions[0].decision, Verdict::Allow);
    assert!(evaluation.decisions[0].violations.is_empty());
}

#[test]
fn every_deny_rule_that_holds_is_listed_in_order() {
    let rules = vec![
        rule(Effect::Deny, "resource.a == 1", "first"),
        rule(Effect::Deny, "resource.b == 2", "second"),
        rule(Effect::Deny, "resource.c == 3", "third"),
    ];
    let set = PolicySet::build([&policy("pol_x", "T", rules)]).unwrap();

    let evaluation = set.evaluate("T", &json!({"a": 1, "c": 3}));

    let indexes: Vec<_> = evaluation.decisions[0]
        .violations
        .iter()
        .map(|v| v.rule_index)
        .collect();
    assert_eq!(indexes, vec![Some(0), Some(2)]);
}

#[test]
fn an_allow_list_that_nothing_matches_denies_without_naming_a_rule() {
    let rules = vec![
        rule(Effect::Allow, "resource.region == 'eu-west-1'", "eu"),
        rule(Effect::Allow, "resource.region == 'eu-central-1'", "eu"),
    ];
    let set = PolicySet::build([&policy("pol_region", "T", rules)]).unwrap();

    let denied = set.evaluate("T", &json!({"region": "us-east-1"}));
    let allowed = set.evaluate("T", &json!({"region": "eu-central-1"}));

    assert_eq!(
        denied.decisions[0].violations,
        vec![Violation {
            rule_index: None,
            message: NO_ALLOW_RULE_MATCHED.into()
        }]
    );
    assert!(allowed.compliant);
}

#[test]
fn a_deny_rule_wins_over_a_matching_allow_rule() {
    let rules = vec![
        rule(Effect::Allow, "resource.region == 'eu-west-1'", "eu"),
        rule(Effect::Deny, "resource.public == true", "no public buckets"),
    ];
    let set = PolicySet::build([&policy("pol_mixed", "T", rules)]).unwrap();

    let evaluation = set.evaluate("T", &json!({"region": "eu-west-1", "public": true}));

    assert_eq!(evaluation.decisions[0].violations.len(), 1);
    assert_eq!(
        evaluation.decisions[0].violations[0].message,
        "no public buckets"
    );
}

#[test]
fn only_enabled_policies_of_the_resource_type_apply() {
    let mut disabled = encryption_policy();
    disabled.id = "pol_disabled".into();
    disabled.name = "disabled".into();
    disabled.enabled = false;
    let other_type = policy(
        "pol_vpc",
        "AWS::EC2::VPC",
        vec![rule(Effect::Deny, "true", "x")],
    );
    let set = PolicySet::build([&encryption_policy(), &disabled, &other_type]).unwrap();

    let evaluation = set.evaluate("AWS::S3::Bucket", &json!({}));

    let ids: Vec<_> = evaluation
        .decisions
        .iter()
        .map(|d| d.policy_id.as_str())
        .collect();
    assert_eq!(ids, vec!["pol_s3"]);
    assert!(set.evaluate("AWS::Lambda::Function", &json!({})).compliant);
}

#[test]
fn remediation_is_offered_only_on_deny_with_auto_remediation_on() {
    let mut with_fix = encryption_policy();
    with_fix.auto_remediation = true;
    with_fix.remediation_action = Some("enable_default_encryption".into());
    let set = PolicySet::build([&with_fix]).unwrap();

    let denied = set.evaluate("AWS::S3::Bucket", &json!({}));
    let allowed = set.evaluate("AWS::S3::Bucket", &json!({"encryption": {"enabled": true}}));

    assert_eq!(
        denied.decisions[0].remediation_action.as_deref(),
        Some("enable_default_encryption")
    );
    assert_eq!(allowed.decisions[0].remediation_action, None);
}

#[test]
fn with_policy_replaces_and_without_policy_removes() {
    let set = PolicySet::build([&encryption_policy()]).unwrap();
    let mut changed = encryption_policy();
    changed.rules = vec![rule(Effect::Deny, "resource.public == true", "no public")];

    let updated = set.with_policy(&changed).unwrap();
    let removed = updated.without_policy("pol_s3");

    assert_eq!(updated.len(), 1);
    assert!(updated.evaluate("AWS::S3::Bucket", &json!({})).compliant);
    assert!(!set.evaluate("AWS::S3::Bucket", &json!({})).compliant);
    assert!(removed.is_empty());
}

#[test]
fn a_batch_keeps_the_order_of_its_resources() {
    let set = PolicySet::build([&encryption_policy()]).unwrap();
    let encrypted = json!({"encryption": {"enabled": true}});
    let plain = json!({});
    let batch = [("AWS::S3::Bucket", &plain), ("AWS::S3::Bucket", &encrypted)];

    let answers = set.evaluate_batch(&batch);

    let compliant: Vec<_> = answers.iter().map(|answer| answer.compliant).collect();
    assert_eq!(compliant, vec![false, true]);
}

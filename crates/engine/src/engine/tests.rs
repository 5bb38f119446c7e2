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
    assert_eq!(*decision.compliance_frameworks, ["SOC2".to_owned()]);
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
        &*evaluation.decisions[0].violations[0].message,
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

    let ids: Vec<_> = evaluation.decisions.iter().map(|d| &*d.policy_id).collect();
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

#[test]
fn with_policy_on_a_disabled_policy_removes_it() {
    let set = PolicySet::build([&encryption_policy()]).unwrap();
    let mut disabled = encryption_policy();
    disabled.enabled = false;

    let updated = set.with_policy(&disabled).unwrap();

    assert!(updated.is_empty());
    assert!(updated
        .evaluate("AWS::S3::Bucket", &json!({}))
        .decisions
        .is_empty());
    assert_eq!(set.len(), 1);
}

#[test]
fn with_policy_on_a_new_disabled_policy_adds_nothing() {
    let set = PolicySet::default();
    let mut disabled = encryption_policy();
    disabled.enabled = false;

    assert!(set.with_policy(&disabled).unwrap().is_empty());
}

#[test]
fn with_policy_moves_a_policy_whose_resource_type_changed() {
    let set = PolicySet::build([&encryption_policy()]).unwrap();
    let mut moved = encryption_policy();
    moved.resource_type = "AWS::EC2::VPC".into();

    let updated = set.with_policy(&moved).unwrap();

    assert!(updated.applicable("AWS::S3::Bucket").is_empty());
    assert_eq!(updated.applicable("AWS::EC2::VPC").len(), 1);
    assert_eq!(updated.len(), 1);
}

#[test]
fn with_policy_with_a_bad_condition_fails_naming_the_rule() {
    let set = PolicySet::build([&encryption_policy()]).unwrap();
    let mut broken = encryption_policy();
    broken
        .rules
        .push(rule(Effect::Deny, "resource.a ==", "broken"));

    let error = set.with_policy(&broken).unwrap_err();

    assert_eq!(error.policy_id, "pol_s3");
    assert_eq!(error.rule_index, 1);
    assert!(PolicySet::build([&broken]).is_err());
}

#[test]
fn without_an_unknown_policy_changes_nothing() {
    let set = PolicySet::build([&encryption_policy()]).unwrap();

    let same = set.without_policy("pol_unknown");

    assert_eq!(same.len(), 1);
    assert!(!same.evaluate("AWS::S3::Bucket", &json!({})).compliant);
}

fn named(id: &str, name: &str) -> Policy {
    let mut policy = policy(id, "T", vec![rule(Effect::Deny, "false", "never")]);
    policy.name = name.into();
    policy
}

fn decided_names(set: &PolicySet) -> Vec<String> {
    set.evaluate("T", &json!({}))
        .decisions
        .into_iter()
        .map(|decision| decision.policy_name.to_string())
        .collect()
}

#[test]
fn decisions_are_ordered_by_policy_name_whatever_the_build_order() {
    let set = PolicySet::build([
        &named("pol_1", "charlie"),
        &named("pol_2", "alpha"),
        &named("pol_3", "bravo"),
    ])
    .unwrap();

    assert_eq!(decided_names(&set), ["alpha", "bravo", "charlie"]);
}

#[test]
fn a_renamed_policy_takes_its_new_place_in_the_order() {
    let set = PolicySet::build([&named("pol_1", "alpha"), &named("pol_2", "bravo")]).unwrap();

    let renamed = set.with_policy(&named("pol_1", "charlie")).unwrap();
    let added = renamed.with_policy(&named("pol_3", "alpha")).unwrap();

    assert_eq!(decided_names(&renamed), ["bravo", "charlie"]);
    assert_eq!(decided_names(&added), ["alpha", "bravo", "charlie"]);
}

#[test]
fn with_policy_shares_the_policies_it_did_not_change() {
    let set = PolicySet::build([&named("pol_1", "alpha"), &named("pol_2", "bravo")]).unwrap();

    let updated = set.with_policy(&named("pol_2", "bravo")).unwrap();

    assert!(Arc::ptr_eq(
        &set.applicable("T")[0],
        &updated.applicable("T")[0]
    ));
    assert!(!Arc::ptr_eq(
        &set.applicable("T")[1],
        &updated.applicable("T")[1]
    ));
}

#[test]
fn remediation_is_not_offered_without_auto_remediation() {
    let mut manual = encryption_policy();
    manual.remediation_action = Some("open_a_ticket".into());
    let set = PolicySet::build([&manual]).unwrap();

    let denied = set.evaluate("AWS::S3::Bucket", &json!({}));

    assert_eq!(denied.decisions[0].decision, Verdict::Deny);
    assert_eq!(denied.decisions[0].remediation_action, None);
}

#[test]
fn an_allow_rule_that_holds_allows_even_when_others_do_not() {
    let rules = vec![
        rule(Effect::Allow, "resource.region == 'eu-west-1'", "eu"),
        rule(Effect::Allow, "resource.region == 'eu-central-1'", "eu"),
    ];
    let set = PolicySet::build([&policy("pol_region", "T", rules)]).unwrap();

    let evaluation = set.evaluate("T", &json!({"region": "eu-west-1"}));

    assert_eq!(evaluation.decisions[0].decision, Verdict::Allow);
    assert!(evaluation.decisions[0].violations.is_empty());
}

#[test]
fn a_batch_matches_one_by_one_evaluation_on_any_pool() {
    let set = PolicySet::build([&encryption_policy()]).unwrap();
    let documents: Vec<Value> = (0..64)
        .map(|index| json!({"encryption": {"enabled": index % 3 == 0}}))
        .collect();
    let batch: Vec<(&str, &Value)> = documents
        .iter()
        .map(|document| ("AWS::S3::Bucket", document))
        .collect();
    let one_by_one: Vec<Evaluation> = batch
        .iter()
        .map(|(kind, document)| set.evaluate(kind, document))
        .collect();

    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();

    assert_eq!(pool.install(|| set.evaluate_batch(&batch)), one_by_one);
}

#[test]
fn summary_counts_resources_decisions_and_violations() {
    let rules = vec![
        rule(Effect::Deny, "resource.a == 1", "a"),
        rule(Effect::Deny, "resource.b == 1", "b"),
    ];
    let set = PolicySet::build([&policy("pol_x", "T", rules), &encryption_policy()]).unwrap();
    let evaluations = [
        set.evaluate("T", &json!({"a": 1, "b": 1})),
        set.evaluate("T", &json!({})),
        set.evaluate("AWS::S3::Bucket", &json!({})),
        set.evaluate("Other", &json!({})),
    ];

    let summary = crate::Summary::of(&evaluations);

    assert_eq!(
        summary,
        crate::Summary {
            resources: 4,
            compliant: 2,
            non_compliant: 2,
            decisions: 3,
            denied: 2,
            violations: 3,
        }
    );
}

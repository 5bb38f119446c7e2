//! `POST /v1/evaluations` over HTTP, against a real server, on every store: the single and
//! batch forms, the three decision rules, draft policies, freshness after writes (also
//! writes made by a second server on the same database) and every kind of bad input.

mod support;

use reqwest::Method;
use serde_json::{json, Value};
use support::*;

both_stores!(
    the_reference_s3_policy_denies_a_bucket_without_encryption,
    the_reference_s3_policy_denies_a_bucket_with_encryption_disabled,
    the_reference_s3_policy_allows_an_encrypted_bucket,
    a_decision_carries_the_policy_severity_and_frameworks,
    disabled_policies_and_other_resource_types_do_not_apply,
    every_deny_rule_that_holds_is_a_violation,
    an_allow_list_that_nothing_matches_denies_without_naming_a_rule,
    a_matching_allow_rule_allows,
    decisions_are_ordered_by_policy_name,
    remediation_is_offered_only_on_deny_with_auto_remediation_on,
    a_created_policy_is_used_by_the_next_evaluation,
    disabling_a_policy_stops_it_applying,
    a_changed_rule_is_used_by_the_next_evaluation,
    a_deleted_policy_makes_no_decision,
    a_policy_written_by_another_server_is_seen_by_the_next_evaluation,
    a_batch_keeps_order_echoes_ids_and_counts_exactly,
    a_batch_item_without_id_is_named_by_its_index,
    an_empty_batch_is_400,
    a_batch_of_1001_resources_is_400,
    a_batch_of_1000_resources_is_evaluated,
    bad_batch_items_are_named_by_their_index,
    draft_policies_are_evaluated_instead_of_stored_ones,
    draft_policies_are_not_stored,
    a_bad_draft_condition_is_400_naming_the_draft_rule,
    draft_policies_work_in_the_batch_form,
    a_missing_resource_type_is_400,
    a_non_string_resource_type_is_400,
    a_missing_resource_is_400,
    both_forms_at_once_is_400,
    an_unknown_field_is_400,
    a_body_that_is_not_an_object_is_400,
    a_deeply_nested_resource_is_400_and_the_server_keeps_answering,
    a_body_that_is_not_json_is_415,
    a_key_without_evaluations_run_is_403,
    a_missing_key_is_401,
    another_organization_policies_do_not_apply,
);

const BUCKET: &str = "AWS::S3::Bucket";

async fn evaluate(server: &TestServer, body: &Value) -> Value {
    let response = server.post("/v1/evaluations", body).await;
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    response.json().await.unwrap()
}

async fn evaluate_bucket(server: &TestServer, bucket: Value) -> Value {
    evaluate(
        server,
        &json!({"resource_type": BUCKET, "resource": bucket}),
    )
    .await
}

/// A policy over `T` named `name` with `rules`, each `(effect, condition, message)`.
fn policy_with(name: &str, rules: &[(&str, &str, &str)]) -> Value {
    let rules: Vec<Value> = rules
        .iter()
        .map(|(effect, condition, message)| {
            json!({"effect": effect, "condition": condition, "message": message})
        })
        .collect();
    json!({"name": name, "resource_type": "T", "rules": rules})
}

fn decisions_of(evaluation: &Value) -> &Vec<Value> {
    evaluation["decisions"].as_array().unwrap()
}

async fn policy_total(server: &TestServer) -> u64 {
    let list: Value = server.get("/v1/policies").await.json().await.unwrap();
    list["pagination"]["total"].as_u64().unwrap()
}

async fn the_reference_s3_policy_denies_a_bucket_without_encryption(server: TestServer) {
    let policy = server.create_policy(&s3_policy()).await;

    let evaluation = evaluate_bucket(&server, json!({"name": "logs"})).await;

    assert_eq!(evaluation["compliant"], false);
    assert_eq!(
        evaluation["decisions"],
        json!([{
            "policy_id": policy["id"],
            "policy_name": "require-s3-encryption",
            "decision": "DENY",
            "severity": "MEDIUM",
            "violations": [{"rule_index": 0, "message": "S3 bucket must have encryption enabled"}],
            "compliance_frameworks": [],
        }])
    );
}

async fn the_reference_s3_policy_denies_a_bucket_with_encryption_disabled(server: TestServer) {
    server.create_policy(&s3_policy()).await;

    let evaluation = evaluate_bucket(&server, json!({"encryption": {"enabled": false}})).await;

    assert_eq!(evaluation["compliant"], false);
    let decision = &decisions_of(&evaluation)[0];
    assert_eq!(decision["decision"], "DENY");
    assert_eq!(decision["violations"][0]["rule_index"], 0);
}

async fn the_reference_s3_policy_allows_an_encrypted_bucket(server: TestServer) {
    server.create_policy(&s3_policy()).await;

    let evaluation = evaluate_bucket(&server, json!({"encryption": {"enabled": true}})).await;

    assert_eq!(evaluation["compliant"], true);
    let decision = &decisions_of(&evaluation)[0];
    assert_eq!(decision["decision"], "ALLOW");
    assert_eq!(decision["violations"], json!([]));
    assert!(decision.get("remediation_action").is_none(), "{decision}");
}

async fn a_decision_carries_the_policy_severity_and_frameworks(server: TestServer) {
    server.create_policy(&vpc_policy()).await;

    let evaluation = evaluate(
        &server,
        &json!({"resource_type": "AWS::EC2::VPC", "resource": {"flow_logs": {"enabled": false}}}),
    )
    .await;

    let decision = &decisions_of(&evaluation)[0];
    assert_eq!(decision["policy_name"], "require-vpc-flow-logs");
    assert_eq!(decision["severity"], "HIGH");
    assert_eq!(decision["compliance_frameworks"], json!(["SOC2", "HIPAA"]));
    assert_eq!(
        decision["violations"],
        json!([{"rule_index": 0, "message": "VPC must have flow logs enabled"}])
    );
}

async fn disabled_policies_and_other_resource_types_do_not_apply(server: TestServer) {
    let mut disabled = s3_policy();
    disabled["enabled"] = json!(false);
    server.create_policy(&disabled).await;
    server.create_policy(&vpc_policy()).await;

    let evaluation = evaluate_bucket(&server, json!({})).await;

    assert_eq!(evaluation, json!({"compliant": true, "decisions": []}));
}

async fn every_deny_rule_that_holds_is_a_violation(server: TestServer) {
    let policy = policy_with(
        "three-rules",
        &[
            ("DENY", "resource.a == 1", "first"),
            ("DENY", "resource.b == 2", "second"),
            ("DENY", "resource.c == 3", "third"),
            ("ALLOW", "true", "anything"),
        ],
    );
    server.create_policy(&policy).await;

    let evaluation = evaluate(
        &server,
        &json!({"resource_type": "T", "resource": {"a": 1, "b": 0, "c": 3}}),
    )
    .await;

    assert_eq!(evaluation["compliant"], false);
    let decision = &decisions_of(&evaluation)[0];
    assert_eq!(decision["decision"], "DENY");
    assert_eq!(
        decision["violations"],
        json!([
            {"rule_index": 0, "message": "first"},
            {"rule_index": 2, "message": "third"},
        ])
    );
}

async fn an_allow_list_that_nothing_matches_denies_without_naming_a_rule(server: TestServer) {
    let policy = policy_with(
        "eu-only",
        &[
            ("ALLOW", "resource.region == 'eu-west-1'", "ireland"),
            ("ALLOW", "resource.region == 'eu-central-1'", "frankfurt"),
        ],
    );
    server.create_policy(&policy).await;

    let evaluation = evaluate(
        &server,
        &json!({"resource_type": "T", "resource": {"region": "us-east-1"}}),
    )
    .await;

    assert_eq!(evaluation["compliant"], false);
    let decision = &decisions_of(&evaluation)[0];
    assert_eq!(decision["decision"], "DENY");
    let violations = decision["violations"].as_array().unwrap();
    assert_eq!(violations.len(), 1);
    assert_eq!(violations[0]["rule_index"], Value::Null);
    assert!(violations[0]["message"].as_str().unwrap().contains("ALLOW"));
}

async fn a_matching_allow_rule_allows(server: TestServer) {
    let policy = policy_with(
        "eu-only",
        &[
            ("ALLOW", "resource.region == 'eu-west-1'", "ireland"),
            ("ALLOW", "resource.region == 'eu-central-1'", "frankfurt"),
            ("DENY", "resource.public == true", "no public resources"),
        ],
    );
    server.create_policy(&policy).await;

    let allowed = evaluate(
        &server,
        &json!({"resource_type": "T", "resource": {"region": "eu-central-1"}}),
    )
    .await;
    let public = evaluate(
        &server,
        &json!({"resource_type": "T", "resource": {"region": "eu-central-1", "public": true}}),
    )
    .await;

    assert_eq!(allowed["compliant"], true);
    assert_eq!(decisions_of(&allowed)[0]["decision"], "ALLOW");
    assert_eq!(
        decisions_of(&public)[0]["violations"],
        json!([{"rule_index": 2, "message": "no public resources"}])
    );
}

async fn decisions_are_ordered_by_policy_name(server: TestServer) {
    for name in ["charlie", "alpha", "bravo"] {
        server
            .create_policy(&policy_with(name, &[("DENY", "false", "never")]))
            .await;
    }

    let evaluation = evaluate(&server, &json!({"resource_type": "T", "resource": {}})).await;

    let names: Vec<&str> = decisions_of(&evaluation)
        .iter()
        .map(|decision| decision["policy_name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["alpha", "bravo", "charlie"]);
    assert_eq!(evaluation["compliant"], true);
}

async fn remediation_is_offered_only_on_deny_with_auto_remediation_on(server: TestServer) {
    let mut automatic = s3_policy();
    automatic["remediation_action"] = json!("enable_default_encryption");
    let mut manual = named_policy("manual");
    manual["rules"][0]["condition"] = json!("true");
    manual["remediation_action"] = json!("open_a_ticket");
    manual["auto_remediation"] = json!(false);
    server.create_policy(&automatic).await;
    server.create_policy(&manual).await;

    let denied = evaluate_bucket(&server, json!({})).await;
    let allowed = evaluate_bucket(&server, json!({"encryption": {"enabled": true}})).await;

    let by_name = |evaluation: &Value, name: &str| {
        decisions_of(evaluation)
            .iter()
            .find(|decision| decision["policy_name"] == name)
            .unwrap()
            .clone()
    };
    let automatic_denied = by_name(&denied, "require-s3-encryption");
    assert_eq!(automatic_denied["decision"], "DENY");
    assert_eq!(
        automatic_denied["remediation_action"],
        "enable_default_encryption"
    );
    let manual_denied = by_name(&denied, "manual");
    assert_eq!(manual_denied["decision"], "DENY");
    assert!(manual_denied.get("remediation_action").is_none());
    let automatic_allowed = by_name(&allowed, "require-s3-encryption");
    assert_eq!(automatic_allowed["decision"], "ALLOW");
    assert!(automatic_allowed.get("remediation_action").is_none());
}

async fn a_created_policy_is_used_by_the_next_evaluation(server: TestServer) {
    assert_eq!(evaluate_bucket(&server, json!({})).await["compliant"], true);

    server.create_policy(&s3_policy()).await;

    let evaluation = evaluate_bucket(&server, json!({})).await;
    assert_eq!(evaluation["compliant"], false);
    assert_eq!(decisions_of(&evaluation).len(), 1);
}

async fn disabling_a_policy_stops_it_applying(server: TestServer) {
    let policy = server.create_policy(&s3_policy()).await;
    assert_eq!(
        evaluate_bucket(&server, json!({})).await["compliant"],
        false
    );

    let path = format!("/v1/policies/{}", policy["id"].as_str().unwrap());
    let response = server.put(&path, &json!({"enabled": false})).await;
    assert_eq!(response.status(), 200);

    let evaluation = evaluate_bucket(&server, json!({})).await;
    assert_eq!(evaluation, json!({"compliant": true, "decisions": []}));

    let response = server.put(&path, &json!({"enabled": true})).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        evaluate_bucket(&server, json!({})).await["compliant"],
        false
    );
}

async fn a_changed_rule_is_used_by_the_next_evaluation(server: TestServer) {
    let policy = server.create_policy(&s3_policy()).await;
    let public = json!({"public": true, "encryption": {"enabled": true}});
    assert_eq!(
        evaluate_bucket(&server, public.clone()).await["compliant"],
        true
    );

    let path = format!("/v1/policies/{}", policy["id"].as_str().unwrap());
    let rules = json!([{"condition": "resource.public == true", "effect": "DENY", "message": "no public buckets"}]);
    let response = server.put(&path, &json!({"rules": rules})).await;
    assert_eq!(response.status(), 200);

    let evaluation = evaluate_bucket(&server, public).await;
    assert_eq!(evaluation["compliant"], false);
    assert_eq!(
        decisions_of(&evaluation)[0]["violations"],
        json!([{"rule_index": 0, "message": "no public buckets"}])
    );
    assert_eq!(evaluate_bucket(&server, json!({})).await["compliant"], true);
}

async fn a_deleted_policy_makes_no_decision(server: TestServer) {
    let policy = server.create_policy(&s3_policy()).await;
    assert_eq!(
        evaluate_bucket(&server, json!({})).await["compliant"],
        false
    );

    let path = format!("/v1/policies/{}", policy["id"].as_str().unwrap());
    assert_eq!(server.delete(&path).await.status(), 204);

    let evaluation = evaluate_bucket(&server, json!({})).await;
    assert_eq!(evaluation, json!({"compliant": true, "decisions": []}));
}

async fn a_policy_written_by_another_server_is_seen_by_the_next_evaluation(server: TestServer) {
    let other = server.sibling(Default::default()).await;
    // The first server builds and caches its engine before the other server writes.
    assert_eq!(evaluate_bucket(&server, json!({})).await["compliant"], true);

    let policy = other.create_policy(&s3_policy()).await;
    let evaluation = evaluate_bucket(&server, json!({})).await;
    assert_eq!(evaluation["compliant"], false);
    assert_eq!(decisions_of(&evaluation)[0]["policy_id"], policy["id"]);

    let path = format!("/v1/policies/{}", policy["id"].as_str().unwrap());
    assert_eq!(
        other.put(&path, &json!({"enabled": false})).await.status(),
        200
    );
    assert_eq!(evaluate_bucket(&server, json!({})).await["compliant"], true);

    assert_eq!(
        other.put(&path, &json!({"enabled": true})).await.status(),
        200
    );
    assert_eq!(
        evaluate_bucket(&server, json!({})).await["compliant"],
        false
    );

    assert_eq!(other.delete(&path).await.status(), 204);
    let evaluation = evaluate_bucket(&server, json!({})).await;
    assert_eq!(evaluation, json!({"compliant": true, "decisions": []}));
}

async fn a_batch_keeps_order_echoes_ids_and_counts_exactly(server: TestServer) {
    server.create_policy(&s3_policy()).await;
    server
        .create_policy(&named_policy("no-public-buckets"))
        .await;
    server.create_policy(&vpc_policy()).await;

    let answer = evaluate(
        &server,
        &json!({"resources": [
            {"id": "plain", "resource_type": BUCKET, "resource": {}},
            {"id": "good", "resource_type": BUCKET, "resource": {"encryption": {"enabled": true}}},
            {"id": "worst", "resource_type": BUCKET, "resource": {"public": true}},
            {"id": "vpc", "resource_type": "AWS::EC2::VPC", "resource": {"flow_logs": {"enabled": true}}},
            {"id": "lambda", "resource_type": "AWS::Lambda::Function", "resource": {}},
        ]}),
    )
    .await;

    let results = answer["results"].as_array().unwrap();
    let ids: Vec<&str> = results
        .iter()
        .map(|result| result["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["plain", "good", "worst", "vpc", "lambda"]);
    let compliant: Vec<bool> = results
        .iter()
        .map(|result| result["compliant"].as_bool().unwrap())
        .collect();
    assert_eq!(compliant, [false, true, false, true, true]);
    let decision_counts: Vec<usize> = results
        .iter()
        .map(|result| result["decisions"].as_array().unwrap().len())
        .collect();
    assert_eq!(decision_counts, [2, 2, 2, 1, 0]);
    assert_eq!(
        answer["summary"],
        json!({
            "resources": 5,
            "compliant": 3,
            "non_compliant": 2,
            "decisions": 7,
            "denied": 3,
            "violations": 3,
        })
    );
}

async fn a_batch_item_without_id_is_named_by_its_index(server: TestServer) {
    let answer = evaluate(
        &server,
        &json!({"resources": [
            {"id": "first", "resource_type": BUCKET, "resource": {}},
            {"resource_type": BUCKET, "resource": {}},
        ]}),
    )
    .await;

    assert_eq!(answer["results"][0]["id"], "first");
    assert_eq!(answer["results"][1]["id"], "1");
}

fn buckets(count: usize) -> Value {
    let items: Vec<Value> = (0..count)
        .map(|index| json!({"id": format!("b{index}"), "resource_type": BUCKET, "resource": {}}))
        .collect();
    json!({ "resources": items })
}

async fn an_empty_batch_is_400(server: TestServer) {
    let response = server.post("/v1/evaluations", &buckets(0)).await;

    let problem = assert_problem(response, 400, "invalid_input").await;
    assert_eq!(
        error_fields(&problem),
        [("resources".to_owned(), "invalid_length".to_owned())]
    );
}

async fn a_batch_of_1001_resources_is_400(server: TestServer) {
    let response = server.post("/v1/evaluations", &buckets(1001)).await;

    let problem = assert_problem(response, 400, "invalid_input").await;
    assert_eq!(
        error_fields(&problem),
        [("resources".to_owned(), "invalid_length".to_owned())]
    );
}

async fn a_batch_of_1000_resources_is_evaluated(server: TestServer) {
    server.create_policy(&s3_policy()).await;

    let answer = evaluate(&server, &buckets(1000)).await;

    let results = answer["results"].as_array().unwrap();
    assert_eq!(results.len(), 1000);
    assert_eq!(results[999]["id"], "b999");
    assert_eq!(answer["summary"]["resources"], 1000);
    assert_eq!(answer["summary"]["non_compliant"], 1000);
    assert_eq!(answer["summary"]["violations"], 1000);
}

async fn bad_batch_items_are_named_by_their_index(server: TestServer) {
    let response = server
        .post(
            "/v1/evaluations",
            &json!({"resources": [
                {"id": "fine", "resource_type": BUCKET, "resource": {}},
                {"id": "no-type", "resource": {}},
                {"id": 7, "resource_type": BUCKET, "resource": {}},
                {"id": "no-resource", "resource_type": BUCKET},
                "not an object",
                {"id": "extra", "resource_type": BUCKET, "resource": {}, "region": "eu"},
                {"id": "typed", "resource_type": 3, "resource": {}},
            ]}),
        )
        .await;

    let problem = assert_problem(response, 400, "invalid_input").await;
    let mut fields = error_fields(&problem);
    fields.sort();
    let expected: Vec<(String, String)> = [
        ("resources[1].resource_type", "required"),
        ("resources[2].id", "invalid_type"),
        ("resources[3].resource", "required"),
        ("resources[4]", "invalid_type"),
        ("resources[5].region", "unknown_field"),
        ("resources[6].resource_type", "invalid_type"),
    ]
    .iter()
    .map(|(field, code)| ((*field).to_owned(), (*code).to_owned()))
    .collect();
    assert_eq!(fields, expected);
}

async fn draft_policies_are_evaluated_instead_of_stored_ones(server: TestServer) {
    server.create_policy(&s3_policy()).await;
    let mut draft = named_policy("draft-no-public");
    draft["severity"] = json!("CRITICAL");

    let evaluation = evaluate(
        &server,
        &json!({"resource_type": BUCKET, "resource": {"public": true}, "policies": [draft]}),
    )
    .await;

    let decisions = decisions_of(&evaluation);
    assert_eq!(decisions.len(), 1, "{evaluation}");
    assert_eq!(decisions[0]["policy_name"], "draft-no-public");
    assert_eq!(decisions[0]["severity"], "CRITICAL");
    assert_eq!(decisions[0]["decision"], "DENY");
    assert_eq!(
        decisions[0]["violations"],
        json!([{"rule_index": 0, "message": "no public buckets"}])
    );
}

async fn draft_policies_are_not_stored(server: TestServer) {
    server.create_policy(&vpc_policy()).await;
    let before = policy_total(&server).await;

    evaluate(
        &server,
        &json!({"resource_type": BUCKET, "resource": {}, "policies": [s3_policy()]}),
    )
    .await;

    assert_eq!(policy_total(&server).await, before);
    // The stored policies are still the ones evaluated without drafts.
    let evaluation = evaluate_bucket(&server, json!({})).await;
    assert_eq!(evaluation, json!({"compliant": true, "decisions": []}));
}

async fn a_bad_draft_condition_is_400_naming_the_draft_rule(server: TestServer) {
    let mut draft = s3_policy();
    draft["rules"][0]["condition"] = json!("resource.encryption.enabled !=");

    let response = server
        .post(
            "/v1/evaluations",
            &json!({"resource_type": BUCKET, "resource": {}, "policies": [draft]}),
        )
        .await;

    let problem = assert_problem(response, 400, "invalid_input").await;
    assert_eq!(
        error_fields(&problem),
        [(
            "policies[0].rules[0].condition".to_owned(),
            "invalid_condition".to_owned()
        )]
    );
    assert_eq!(policy_total(&server).await, 0);
}

async fn draft_policies_work_in_the_batch_form(server: TestServer) {
    let answer = evaluate(
        &server,
        &json!({
            "resources": [
                {"id": "a", "resource_type": BUCKET, "resource": {}},
                {"id": "b", "resource_type": BUCKET, "resource": {"encryption": {"enabled": true}}},
            ],
            "policies": [s3_policy()],
        }),
    )
    .await;

    assert_eq!(answer["results"][0]["compliant"], false);
    assert_eq!(answer["results"][1]["compliant"], true);
    assert_eq!(answer["summary"]["denied"], 1);
    assert_eq!(policy_total(&server).await, 0);
}

async fn assert_invalid(server: &TestServer, body: &Value, expected: &[(&str, &str)]) {
    let response = server.post("/v1/evaluations", body).await;
    let problem = assert_problem(response, 400, "invalid_input").await;
    let mut fields = error_fields(&problem);
    fields.sort();
    let mut expected: Vec<(String, String)> = expected
        .iter()
        .map(|(field, code)| ((*field).to_owned(), (*code).to_owned()))
        .collect();
    expected.sort();
    assert_eq!(fields, expected, "{problem}");
}

async fn a_missing_resource_type_is_400(server: TestServer) {
    assert_invalid(
        &server,
        &json!({"resource": {}}),
        &[("resource_type", "required")],
    )
    .await;
}

async fn a_non_string_resource_type_is_400(server: TestServer) {
    assert_invalid(
        &server,
        &json!({"resource_type": 42, "resource": {}}),
        &[("resource_type", "invalid_type")],
    )
    .await;
    assert_invalid(
        &server,
        &json!({"resource_type": "", "resource": {}}),
        &[("resource_type", "invalid_type")],
    )
    .await;
}

async fn a_missing_resource_is_400(server: TestServer) {
    assert_invalid(
        &server,
        &json!({"resource_type": BUCKET}),
        &[("resource", "required")],
    )
    .await;
}

async fn both_forms_at_once_is_400(server: TestServer) {
    assert_invalid(
        &server,
        &json!({
            "resource_type": BUCKET,
            "resource": {},
            "resources": [{"id": "a", "resource_type": BUCKET, "resource": {}}],
        }),
        &[("resources", "conflicting_fields")],
    )
    .await;
}

async fn an_unknown_field_is_400(server: TestServer) {
    assert_invalid(
        &server,
        &json!({"resource_type": BUCKET, "resource": {}, "dry_run": true}),
        &[("dry_run", "unknown_field")],
    )
    .await;
}

async fn a_body_that_is_not_an_object_is_400(server: TestServer) {
    assert_invalid(
        &server,
        &json!([{"resource_type": BUCKET, "resource": {}}]),
        &[("body", "invalid_type")],
    )
    .await;
}

async fn a_deeply_nested_resource_is_400_and_the_server_keeps_answering(server: TestServer) {
    let depth = 5000;
    let body = format!(
        "{{\"resource_type\": \"{BUCKET}\", \"resource\": {}{}}}",
        "{\"a\":".repeat(depth) + "1",
        "}".repeat(depth)
    );
    let response = server
        .request(Method::POST, "/v1/evaluations")
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let problem = assert_problem(response, 400, "invalid_input").await;
    assert_eq!(
        error_fields(&problem),
        [("body".to_owned(), "malformed_json".to_owned())]
    );

    let nested_list = format!(
        "{{\"resource_type\": \"{BUCKET}\", \"resource\": {}{}}}",
        "[".repeat(depth),
        "]".repeat(depth)
    );
    let response = server
        .request(Method::POST, "/v1/evaluations")
        .header("content-type", "application/json")
        .body(nested_list)
        .send()
        .await
        .unwrap();
    assert_problem(response, 400, "invalid_input").await;

    let evaluation = evaluate_bucket(&server, json!({})).await;
    assert_eq!(evaluation["compliant"], true);
}

async fn a_body_that_is_not_json_is_415(server: TestServer) {
    let response = server
        .request(Method::POST, "/v1/evaluations")
        .header("content-type", "text/plain")
        .body(json!({"resource_type": BUCKET, "resource": {}}).to_string())
        .send()
        .await
        .unwrap();

    assert_problem(response, 415, "unsupported_media_type").await;
}

async fn a_key_without_evaluations_run_is_403(server: TestServer) {
    let reader = server.key_with(&["policies:read"]).await;
    let evaluator = server.key_with(&["evaluations:run"]).await;
    let body = json!({"resource_type": BUCKET, "resource": {}});

    let refused = server
        .request_as(&reader, Method::POST, "/v1/evaluations")
        .json(&body)
        .send()
        .await
        .unwrap();
    let allowed = server
        .request_as(&evaluator, Method::POST, "/v1/evaluations")
        .json(&body)
        .send()
        .await
        .unwrap();

    assert_problem(refused, 403, "forbidden").await;
    assert_eq!(allowed.status(), 200);
}

async fn a_missing_key_is_401(server: TestServer) {
    let response = server
        .client
        .post(format!("{}/v1/evaluations", server.base))
        .json(&json!({"resource_type": BUCKET, "resource": {}}))
        .send()
        .await
        .unwrap();

    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    assert_problem(response, 401, "unauthorized").await;
}

async fn another_organization_policies_do_not_apply(server: TestServer) {
    server.create_policy(&s3_policy()).await;
    let other = server.other_organization().await;

    let response = server
        .request_as(&other, Method::POST, "/v1/evaluations")
        .json(&json!({"resource_type": BUCKET, "resource": {}}))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 200);
    let evaluation: Value = response.json().await.unwrap();
    assert_eq!(evaluation, json!({"compliant": true, "decisions": []}));
    assert_eq!(
        evaluate_bucket(&server, json!({})).await["compliant"],
        false
    );
}

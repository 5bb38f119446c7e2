//! The Policies API over HTTP, against a real server, on every store: each endpoint and
//! status code of the reference.

mod support;

use reqwest::Method;
use serde_json::{json, Value};
use support::*;

both_stores!(
    the_reference_create_example_answers_201_with_the_whole_policy,
    a_created_policy_reads_back_by_id_with_its_etag,
    an_update_replaces_sent_fields_and_keeps_the_rest,
    a_delete_answers_204_then_404,
    an_unknown_id_is_404_whatever_its_shape,
    a_bad_condition_is_400_naming_the_rule_and_column,
    a_duplicate_name_is_409_and_stores_nothing,
    a_rejected_update_changes_nothing,
    list_filters_by_the_reference_query_parameters,
    data_survives_a_restart,
);

async fn the_reference_create_example_answers_201_with_the_whole_policy(server: TestServer) {
    let response = server.post("/v1/policies", &s3_policy()).await;

    assert_eq!(response.status(), 201);
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    let policy: Value = response.json().await.unwrap();
    assert!(policy["id"].as_str().unwrap().starts_with("pol_"));
    assert_eq!(policy["name"], "require-s3-encryption");
    assert_eq!(policy["severity"], "MEDIUM");
    assert_eq!(policy["enabled"], true);
    assert_eq!(policy["auto_remediation"], true);
    assert_eq!(policy["tags"], json!([]));
    assert_eq!(policy["compliance_frameworks"], json!([]));
    assert_eq!(policy["remediation_action"], Value::Null);
    assert_eq!(policy["created_at"], policy["updated_at"]);
    assert!(policy["created_at"].as_str().unwrap().ends_with('Z'));
    assert!(policy["created_by"].as_str().unwrap().starts_with("key_"));
    assert_eq!(etag, "\"1\"");
}

async fn a_created_policy_reads_back_by_id_with_its_etag(server: TestServer) {
    let created = server.create_policy(&vpc_policy()).await;
    let id = created["id"].as_str().unwrap();

    let response = server.get(&format!("/v1/policies/{id}")).await;

    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["etag"], "\"1\"");
    assert_eq!(response.json::<Value>().await.unwrap(), created);
}

async fn an_update_replaces_sent_fields_and_keeps_the_rest(server: TestServer) {
    let created = server.create_policy(&vpc_policy()).await;
    let path = format!("/v1/policies/{}", created["id"].as_str().unwrap());

    let response = server
        .put(
            &path,
            &json!({"severity": "CRITICAL", "auto_remediation": true}),
        )
        .await;

    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["etag"], "\"2\"");
    let updated: Value = response.json().await.unwrap();
    assert_eq!(updated["severity"], "CRITICAL");
    assert_eq!(updated["auto_remediation"], true);
    assert_eq!(updated["tags"], created["tags"]);
    assert_eq!(updated["rules"], created["rules"]);
    assert_eq!(updated["created_at"], created["created_at"]);
    assert!(updated["updated_at"].as_str().unwrap() > created["updated_at"].as_str().unwrap());
    assert_eq!(
        server.get(&path).await.json::<Value>().await.unwrap(),
        updated
    );
}

async fn a_delete_answers_204_then_404(server: TestServer) {
    let created = server.create_policy(&s3_policy()).await;
    let path = format!("/v1/policies/{}", created["id"].as_str().unwrap());

    let deleted = server.delete(&path).await;

    assert_eq!(deleted.status(), 204);
    assert!(deleted.text().await.unwrap().is_empty());
    assert_problem(server.get(&path).await, 404, "not_found").await;
    assert_problem(server.delete(&path).await, 404, "not_found").await;
}

async fn an_unknown_id_is_404_whatever_its_shape(server: TestServer) {
    for id in ["pol_abc123", "nothing", "pol_%F0%9F%92%A9", "1"] {
        let response = server.get(&format!("/v1/policies/{id}")).await;
        assert_problem(response, 404, "not_found").await;
    }
}

async fn a_bad_condition_is_400_naming_the_rule_and_column(server: TestServer) {
    let mut body = vpc_policy();
    body["rules"] = json!([
        {"condition": "resource.a == 1", "effect": "DENY", "message": "ok"},
        {"condition": "resource.a ==", "effect": "DENY", "message": "broken"}
    ]);

    let problem = assert_problem(
        server.post("/v1/policies", &body).await,
        400,
        "invalid_input",
    )
    .await;

    assert_eq!(
        error_fields(&problem),
        vec![("rules[1].condition".into(), "invalid_condition".into())]
    );
    assert_eq!(problem["errors"][0]["line"], 1);
    assert_eq!(problem["errors"][0]["column"], 14);
    let listed = server
        .get("/v1/policies")
        .await
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(listed["pagination"]["total"], 0);
}

async fn a_duplicate_name_is_409_and_stores_nothing(server: TestServer) {
    server.create_policy(&s3_policy()).await;

    assert_problem(
        server.post("/v1/policies", &s3_policy()).await,
        409,
        "conflict",
    )
    .await;

    let listed = server
        .get("/v1/policies")
        .await
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(listed["pagination"]["total"], 1);
}

async fn a_rejected_update_changes_nothing(server: TestServer) {
    let created = server.create_policy(&vpc_policy()).await;
    let path = format!("/v1/policies/{}", created["id"].as_str().unwrap());

    let response = server
        .put(&path, &json!({"severity": "CRITICAL", "rules": []}))
        .await;

    let problem = assert_problem(response, 400, "invalid_input").await;
    assert_eq!(
        error_fields(&problem),
        vec![("rules".into(), "too_short".into())]
    );
    assert_eq!(
        server.get(&path).await.json::<Value>().await.unwrap(),
        created
    );
}

async fn list_filters_by_the_reference_query_parameters(server: TestServer) {
    server.create_policy(&s3_policy()).await;
    server.create_policy(&vpc_policy()).await;

    let response = server
        .get("/v1/policies?limit=10&offset=0&resource_type=AWS::S3::Bucket")
        .await;

    assert_eq!(response.status(), 200);
    let page: Value = response.json().await.unwrap();
    assert_eq!(page["data"].as_array().unwrap().len(), 1);
    assert_eq!(page["data"][0]["name"], "require-s3-encryption");
    assert_eq!(
        page["pagination"],
        json!({"limit": 10, "offset": 0, "total": 1, "has_more": false, "next_cursor": null})
    );
}

async fn data_survives_a_restart(server: TestServer) {
    let created = server.create_policy(&vpc_policy()).await;
    let path = format!("/v1/policies/{}", created["id"].as_str().unwrap());

    let backing = server.stop().await;
    let restarted = TestServer::start(backing, Default::default()).await;

    assert_eq!(
        restarted.get(&path).await.json::<Value>().await.unwrap(),
        created
    );
    let response = restarted
        .request(Method::GET, "/v1/policies")
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.json::<Value>().await.unwrap()["pagination"]["total"],
        1
    );
}

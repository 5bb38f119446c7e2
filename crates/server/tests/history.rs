//! What writes leave behind and how they stay safe, over HTTP on every store: a version and
//! an audit event per change, `ETag`/`If-Match` against lost updates, and
//! `Idempotency-Key` against duplicate creates.

mod support;

use reqwest::Method;
use serde_json::{json, Value};
use support::*;

both_stores!(
    every_policy_change_writes_a_version_and_an_audit_event,
    versions_page_oldest_first_by_cursor_and_outlive_the_policy,
    key_changes_are_audited_with_actor_and_request_id,
    audit_events_filter_by_action_and_target_and_page_by_cursor,
    audit_events_need_audit_read,
    every_answer_with_a_policy_carries_its_etag,
    a_stale_if_match_is_412_and_changes_nothing,
    a_matching_if_match_succeeds,
    two_concurrent_puts_with_the_same_if_match_make_one_200_and_one_412,
    an_idempotent_retry_returns_the_first_answer_and_creates_nothing,
    an_idempotency_key_reused_with_another_body_is_422,
    a_rejected_create_leaves_its_idempotency_key_free_for_a_corrected_retry,
    concurrent_retries_with_one_idempotency_key_all_get_the_first_answer,
    idempotency_keys_belong_to_one_organization,
);

both_backings!(a_retry_after_the_retention_is_a_new_request,);

/// `method path` with the admin key, `X-Request-Id: request_id` and an optional body.
async fn send_with_id(
    server: &TestServer,
    method: Method,
    path: &str,
    request_id: &str,
    body: Option<&Value>,
) -> reqwest::Response {
    let mut request = server
        .request(method, path)
        .header("x-request-id", request_id);
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().await.unwrap();
    assert!(
        response.status().is_success(),
        "{path}: {}",
        response.status()
    );
    assert_eq!(response.headers()["x-request-id"], request_id);
    response
}

/// The audit events of `target_id`, oldest first.
async fn audit_of(server: &TestServer, target_id: &str) -> Vec<Value> {
    let page: Value = server
        .get(&format!("/v1/audit-events?target_id={target_id}&limit=100"))
        .await
        .json()
        .await
        .unwrap();
    page["data"].as_array().unwrap().clone()
}

/// The id part of the admin key's principal, such as `key_…`.
async fn admin_actor(server: &TestServer) -> String {
    let stored = server
        .store
        .find_api_key(&policycortex_server::keys::hash(ADMIN_KEY))
        .await
        .unwrap()
        .unwrap();
    stored.principal()
}

async fn every_policy_change_writes_a_version_and_an_audit_event(server: TestServer) {
    let actor = admin_actor(&server).await;
    let created: Value = send_with_id(
        &server,
        Method::POST,
        "/v1/policies",
        "req-create",
        Some(&vpc_policy()),
    )
    .await
    .json()
    .await
    .unwrap();
    let id = created["id"].as_str().unwrap();
    let path = format!("/v1/policies/{id}");
    send_with_id(
        &server,
        Method::PUT,
        &path,
        "req-update",
        Some(&json!({"severity": "CRITICAL"})),
    )
    .await;
    send_with_id(&server, Method::DELETE, &path, "req-delete", None).await;

    let events = audit_of(&server, id).await;
    let summary: Vec<(&str, &str, &str)> = events
        .iter()
        .map(|event| {
            (
                event["action"].as_str().unwrap(),
                event["request_id"].as_str().unwrap(),
                event["target_type"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("policy.created", "req-create", "policy"),
            ("policy.updated", "req-update", "policy"),
            ("policy.deleted", "req-delete", "policy"),
        ]
    );
    for event in &events {
        assert_eq!(event["actor"], actor.as_str(), "{event}");
        assert_eq!(event["target_id"], id);
        assert!(event["id"].as_str().unwrap().starts_with("evt_"));
    }
    assert_eq!(events[0]["changes"]["name"], "require-vpc-flow-logs");
    assert_eq!(
        events[1]["changes"],
        json!({"severity": {"from": "HIGH", "to": "CRITICAL"}})
    );

    let versions: Value = server
        .get(&format!("{path}/versions"))
        .await
        .json()
        .await
        .unwrap();
    let versions = versions["data"].as_array().unwrap();
    let summary: Vec<(i64, &str, &str)> = versions
        .iter()
        .map(|version| {
            (
                version["version"].as_i64().unwrap(),
                version["action"].as_str().unwrap(),
                version["request_id"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (1, "policy.created", "req-create"),
            (2, "policy.updated", "req-update"),
            (3, "policy.deleted", "req-delete"),
        ]
    );
    assert_eq!(versions[0]["policy"]["severity"], "HIGH");
    assert_eq!(versions[1]["policy"]["severity"], "CRITICAL");
    assert!(versions
        .iter()
        .all(|version| version["actor"] == actor.as_str() && version["policy_id"] == id));
}

async fn versions_page_oldest_first_by_cursor_and_outlive_the_policy(server: TestServer) {
    let created = server.create_policy(&s3_policy()).await;
    let path = format!("/v1/policies/{}", created["id"].as_str().unwrap());
    for severity in ["LOW", "HIGH", "CRITICAL", "MEDIUM"] {
        assert_eq!(
            server
                .put(&path, &json!({"severity": severity}))
                .await
                .status(),
            200
        );
    }
    assert_eq!(server.delete(&path).await.status(), 204);
    assert_problem(server.get(&path).await, 404, "not_found").await;

    let mut seen = Vec::new();
    let mut page_path = format!("{path}/versions?limit=2");
    let mut pages = 0;
    loop {
        let response = server.get(&page_path).await;
        assert_eq!(response.status(), 200);
        let page: Value = response.json().await.unwrap();
        pages += 1;
        assert!(page["data"].as_array().unwrap().len() <= 2);
        for version in page["data"].as_array().unwrap() {
            seen.push(version["version"].as_i64().unwrap());
        }
        match page["pagination"]["next_cursor"].as_str() {
            Some(cursor) => {
                assert_eq!(page["pagination"]["has_more"], true);
                page_path = format!("{path}/versions?limit=2&cursor={cursor}");
            }
            None => break,
        }
    }
    assert_eq!(seen, [1, 2, 3, 4, 5, 6]);
    assert_eq!(pages, 3);

    assert_problem(
        server.get("/v1/policies/pol_never_existed/versions").await,
        404,
        "not_found",
    )
    .await;
    assert_problem(
        server.get(&format!("{path}/versions?limit=0")).await,
        400,
        "invalid_input",
    )
    .await;
}

async fn key_changes_are_audited_with_actor_and_request_id(server: TestServer) {
    let actor = admin_actor(&server).await;
    let created: Value = send_with_id(
        &server,
        Method::POST,
        "/v1/api-keys",
        "req-key-create",
        Some(&json!({"name": "ci", "scopes": ["policies:read"]})),
    )
    .await
    .json()
    .await
    .unwrap();
    let id = created["id"].as_str().unwrap();
    send_with_id(
        &server,
        Method::DELETE,
        &format!("/v1/api-keys/{id}"),
        "req-key-revoke",
        None,
    )
    .await;

    let events = audit_of(&server, id).await;
    let summary: Vec<(&str, &str, &str)> = events
        .iter()
        .map(|event| {
            (
                event["action"].as_str().unwrap(),
                event["request_id"].as_str().unwrap(),
                event["target_type"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("api_key.created", "req-key-create", "api_key"),
            ("api_key.revoked", "req-key-revoke", "api_key"),
        ]
    );
    assert!(events.iter().all(|event| event["actor"] == actor.as_str()));
    assert_eq!(
        events[0]["changes"],
        json!({"name": "ci", "scopes": ["policies:read"]})
    );
    let text = serde_json::to_string(&events).unwrap();
    assert!(!text.contains(created["key"].as_str().unwrap()));
}

async fn audit_events_filter_by_action_and_target_and_page_by_cursor(server: TestServer) {
    let mut ids = Vec::new();
    for index in 0..5 {
        let created = server
            .create_policy(&named_policy(&format!("p{index}")))
            .await;
        ids.push(created["id"].as_str().unwrap().to_owned());
    }
    let first = format!("/v1/policies/{}", ids[0]);
    server.put(&first, &json!({"enabled": false})).await;

    let updated: Value = server
        .get("/v1/audit-events?action=policy.updated")
        .await
        .json()
        .await
        .unwrap();
    let updated = updated["data"].as_array().unwrap();
    assert_eq!(updated.len(), 1);
    assert_eq!(updated[0]["target_id"], ids[0].as_str());

    let both: Value = server
        .get(&format!(
            "/v1/audit-events?action=policy.created&target_id={}",
            ids[0]
        ))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(both["data"].as_array().unwrap().len(), 1);

    let mut walked = Vec::new();
    let mut path = "/v1/audit-events?action=policy.created&limit=2".to_owned();
    loop {
        let page: Value = server.get(&path).await.json().await.unwrap();
        for event in page["data"].as_array().unwrap() {
            assert_eq!(event["action"], "policy.created");
            walked.push(event["target_id"].as_str().unwrap().to_owned());
        }
        match page["pagination"]["next_cursor"].as_str() {
            Some(cursor) => {
                path = format!("/v1/audit-events?action=policy.created&limit=2&cursor={cursor}")
            }
            None => break,
        }
    }
    assert_eq!(walked, ids, "oldest first, each once");

    assert_problem(
        server.get("/v1/audit-events?cursor=garbage").await,
        400,
        "invalid_input",
    )
    .await;
    assert_problem(
        server.get("/v1/audit-events?unknown=1").await,
        400,
        "invalid_input",
    )
    .await;
}

async fn audit_events_need_audit_read(server: TestServer) {
    let writer = server.key_with(&["policies:read", "policies:write"]).await;
    let denied = server
        .request_as(&writer, Method::GET, "/v1/audit-events")
        .send()
        .await
        .unwrap();
    assert_problem(denied, 403, "forbidden").await;

    let auditor = server.key_with(&["audit:read"]).await;
    let allowed = server
        .request_as(&auditor, Method::GET, "/v1/audit-events")
        .send()
        .await
        .unwrap();
    assert_eq!(allowed.status(), 200);
    let page: Value = allowed.json().await.unwrap();
    assert!(page["data"]
        .as_array()
        .unwrap()
        .iter()
        .any(|event| event["action"] == "api_key.created"));
}

async fn every_answer_with_a_policy_carries_its_etag(server: TestServer) {
    let created = server.post("/v1/policies", &s3_policy()).await;
    assert_eq!(created.headers()["etag"], "\"1\"");
    let policy: Value = created.json().await.unwrap();
    let path = format!("/v1/policies/{}", policy["id"].as_str().unwrap());

    assert_eq!(server.get(&path).await.headers()["etag"], "\"1\"");
    let updated = server.put(&path, &json!({"enabled": false})).await;
    assert_eq!(updated.headers()["etag"], "\"2\"");
    let body: Value = updated.json().await.unwrap();
    assert_eq!(body["version"], 2);
    assert_eq!(server.get(&path).await.headers()["etag"], "\"2\"");
}

async fn a_stale_if_match_is_412_and_changes_nothing(server: TestServer) {
    let created = server.create_policy(&s3_policy()).await;
    let path = format!("/v1/policies/{}", created["id"].as_str().unwrap());
    server.put(&path, &json!({"severity": "LOW"})).await;
    let current: Value = server.get(&path).await.json().await.unwrap();

    let put = server
        .request(Method::PUT, &path)
        .header("if-match", "\"1\"")
        .json(&json!({"severity": "CRITICAL"}))
        .send()
        .await
        .unwrap();
    assert_problem(put, 412, "precondition_failed").await;
    let delete = server
        .request(Method::DELETE, &path)
        .header("if-match", "\"1\"")
        .send()
        .await
        .unwrap();
    assert_problem(delete, 412, "precondition_failed").await;

    assert_eq!(
        server.get(&path).await.json::<Value>().await.unwrap(),
        current
    );
    let bad = server
        .request(Method::PUT, &path)
        .header("if-match", "W/\"2\"")
        .json(&json!({"severity": "CRITICAL"}))
        .send()
        .await
        .unwrap();
    assert_problem(bad, 400, "invalid_input").await;
    let versions: Value = server
        .get(&format!("{path}/versions"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(versions["data"].as_array().unwrap().len(), 2);
}

async fn a_matching_if_match_succeeds(server: TestServer) {
    let created = server.create_policy(&s3_policy()).await;
    let path = format!("/v1/policies/{}", created["id"].as_str().unwrap());

    let put = server
        .request(Method::PUT, &path)
        .header("if-match", "\"1\"")
        .json(&json!({"severity": "CRITICAL"}))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200);
    assert_eq!(put.headers()["etag"], "\"2\"");

    let delete = server
        .request(Method::DELETE, &path)
        .header("if-match", "\"2\"")
        .send()
        .await
        .unwrap();
    assert_eq!(delete.status(), 204);
    assert_problem(server.get(&path).await, 404, "not_found").await;
}

async fn two_concurrent_puts_with_the_same_if_match_make_one_200_and_one_412(server: TestServer) {
    // Repeated rounds, so that the race is exercised rather than won by luck.
    for round in 0..5 {
        let created = server
            .create_policy(&named_policy(&format!("race-{round}")))
            .await;
        let path = format!("/v1/policies/{}", created["id"].as_str().unwrap());
        let send = |severity: &'static str| {
            server
                .request(Method::PUT, &path)
                .header("if-match", "\"1\"")
                .json(&json!({"severity": severity}))
                .send()
        };

        let (first, second) = tokio::join!(send("LOW"), send("CRITICAL"));

        let mut statuses = [
            first.unwrap().status().as_u16(),
            second.unwrap().status().as_u16(),
        ];
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 412], "round {round}");
        let stored: Value = server.get(&path).await.json().await.unwrap();
        assert_eq!(stored["version"], 2);
        let versions: Value = server
            .get(&format!("{path}/versions"))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(versions["data"].as_array().unwrap().len(), 2);
    }
}

async fn an_idempotent_retry_returns_the_first_answer_and_creates_nothing(server: TestServer) {
    let send = || {
        server
            .request(Method::POST, "/v1/policies")
            .header("idempotency-key", "create-s3-once")
            .json(&s3_policy())
            .send()
    };

    let first = send().await.unwrap();
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    let retry = send().await.unwrap();

    assert_eq!(retry.status(), 201);
    assert_eq!(retry.headers()["idempotent-replayed"], "true");
    assert_eq!(retry.headers()["etag"], "\"1\"");
    assert_eq!(
        retry.headers()["location"],
        format!("/v1/policies/{}", first["id"].as_str().unwrap()).as_str()
    );
    assert_eq!(retry.json::<Value>().await.unwrap(), first);
    let listed: Value = server.get("/v1/policies").await.json().await.unwrap();
    assert_eq!(listed["pagination"]["total"], 1);
    let created: Value = server
        .get("/v1/audit-events?action=policy.created")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(created["data"].as_array().unwrap().len(), 1);
}

async fn an_idempotency_key_reused_with_another_body_is_422(server: TestServer) {
    let first = server
        .request(Method::POST, "/v1/policies")
        .header("idempotency-key", "reused")
        .json(&s3_policy())
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), 201);

    let other = server
        .request(Method::POST, "/v1/policies")
        .header("idempotency-key", "reused")
        .json(&vpc_policy())
        .send()
        .await
        .unwrap();

    assert_problem(other, 422, "idempotency_key_reused").await;
    let listed: Value = server.get("/v1/policies").await.json().await.unwrap();
    assert_eq!(listed["pagination"]["total"], 1);
}

async fn a_rejected_create_leaves_its_idempotency_key_free_for_a_corrected_retry(
    server: TestServer,
) {
    let mut broken = s3_policy();
    broken["rules"][0]["condition"] = json!("resource.encryption.enabled ==");
    let rejected = server
        .request(Method::POST, "/v1/policies")
        .header("idempotency-key", "fix-and-retry")
        .json(&broken)
        .send()
        .await
        .unwrap();
    assert_problem(rejected, 400, "invalid_input").await;

    let corrected = server
        .request(Method::POST, "/v1/policies")
        .header("idempotency-key", "fix-and-retry")
        .json(&s3_policy())
        .send()
        .await
        .unwrap();

    assert_eq!(corrected.status(), 201);
    assert!(corrected.headers().get("idempotent-replayed").is_none());
    let listed: Value = server.get("/v1/policies").await.json().await.unwrap();
    assert_eq!(listed["pagination"]["total"], 1);
}

async fn idempotency_keys_belong_to_one_organization(server: TestServer) {
    let other = server.other_organization().await;
    let ours = server
        .request(Method::POST, "/v1/policies")
        .header("idempotency-key", "shared-key")
        .json(&s3_policy())
        .send()
        .await
        .unwrap();
    assert_eq!(ours.status(), 201);
    let ours: Value = ours.json().await.unwrap();

    let theirs = server
        .request_as(&other, Method::POST, "/v1/policies")
        .header("idempotency-key", "shared-key")
        .json(&s3_policy())
        .send()
        .await
        .unwrap();

    assert_eq!(theirs.status(), 201);
    assert!(theirs.headers().get("idempotent-replayed").is_none());
    let theirs: Value = theirs.json().await.unwrap();
    assert_ne!(theirs["id"], ours["id"]);
    let listed: Value = server
        .request_as(&other, Method::GET, "/v1/policies")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["pagination"]["total"], 1);
}

async fn concurrent_retries_with_one_idempotency_key_all_get_the_first_answer(server: TestServer) {
    for round in 0..3 {
        let key = format!("concurrent-{round}");
        let body = named_policy(&format!("concurrent-{round}"));
        let send = || {
            server
                .request(Method::POST, "/v1/policies")
                .header("idempotency-key", &key)
                .json(&body)
                .send()
        };

        let (first, second, third) = tokio::join!(send(), send(), send());

        let mut ids = Vec::new();
        for response in [first, second, third] {
            let response = response.unwrap();
            let status = response.status();
            let answer: Value = response.json().await.unwrap();
            assert_eq!(status, 201, "round {round}: {answer}");
            ids.push(answer["id"].as_str().unwrap().to_owned());
        }
        ids.dedup();
        assert_eq!(ids.len(), 1, "round {round}: {ids:?}");
    }
    let listed: Value = server.get("/v1/policies").await.json().await.unwrap();
    assert_eq!(listed["pagination"]["total"], 3);
}

/// A server whose idempotent answers are replayed for 300 milliseconds only.
async fn forgetful_server(backing: Backing) -> TestServer {
    let config = policycortex_server::ServerConfig {
        idempotency: policycortex_store::IdempotencyLifetimes {
            answered: std::time::Duration::from_millis(300),
            ..Default::default()
        },
        ..Default::default()
    };
    TestServer::start(backing, config).await
}

async fn a_retry_after_the_retention_is_a_new_request(backing: Backing) {
    let server = forgetful_server(backing).await;
    let send = || {
        server
            .request(Method::POST, "/v1/policies")
            .header("idempotency-key", "short-lived")
            .json(&s3_policy())
            .send()
    };
    assert_eq!(send().await.unwrap().status(), 201);
    assert_eq!(
        send().await.unwrap().status(),
        201,
        "replayed within the retention"
    );

    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    let late = send().await.unwrap();

    assert!(late.headers().get("idempotent-replayed").is_none());
    assert_problem(late, 409, "conflict").await;
}

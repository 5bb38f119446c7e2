//! The security model over HTTP, against a real server, on every store: organizations and
//! scoped keys, broken authentication, isolation between organizations (BOLA), mass
//! assignment, function-level authorization, resource limits, and keys kept out of logs.

mod support;

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use chrono::Utc;
use policycortex_server::ServerConfig;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use support::*;

both_stores!(
    an_operator_creates_an_organization_with_a_working_admin_key,
    creating_an_organization_is_audited_in_both_organizations,
    a_created_key_has_the_published_shape_and_only_its_hash_is_stored,
    listing_keys_never_shows_a_secret_or_a_hash,
    a_revoked_key_is_401_on_its_next_request,
    an_expired_key_is_401_once_its_expiry_passes,
    malformed_unknown_revoked_and_expired_keys_are_401_with_www_authenticate,
    another_organizations_key_cannot_be_revoked,
    another_organizations_policy_is_404_on_every_route_and_stays_unchanged,
    another_organizations_policies_never_show_in_lists_cursors_evaluations_or_audit,
    read_only_fields_are_400_and_change_nothing,
    an_admin_without_operator_cannot_create_organizations_or_grant_operator,
    each_scope_reaches_only_its_routes,
    oversized_and_overdeep_input_is_refused,
    a_key_sent_in_the_query_string_never_reaches_the_log,
);

both_backings!(
    the_policy_quota_of_an_organization_is_409_when_full,
    an_address_that_keeps_failing_authentication_is_refused_before_any_lookup,
);

/// The published pattern of generated keys, anchored.
fn key_pattern() -> regex::Regex {
    regex::Regex::new(&format!("^{}$", policycortex_server::keys::KEY_PATTERN)).unwrap()
}

/// Creates a key through the API with the admin key; answers the whole 201 body.
async fn create_key(server: &TestServer, body: &Value) -> Value {
    let response = server.post("/v1/api-keys", body).await;
    assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
    response.json().await.unwrap()
}

/// `GET /v1/policies` with `key`: its status.
async fn policies_status(server: &TestServer, key: &str) -> StatusCode {
    server
        .request_as(key, Method::GET, "/v1/policies")
        .send()
        .await
        .unwrap()
        .status()
}

/// Asserts a 401 problem that asks for a bearer key.
async fn assert_unauthorized(response: reqwest::Response) {
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    assert_problem(response, 401, "unauthorized").await;
}

async fn an_operator_creates_an_organization_with_a_working_admin_key(server: TestServer) {
    let response = server
        .post("/v1/organizations", &json!({"name": "acme"}))
        .await;

    assert_eq!(response.status(), 201);
    let created: Value = response.json().await.unwrap();
    assert_eq!(created["organization"]["name"], "acme");
    assert!(created["organization"]["id"].is_string(), "{created}");
    let key = created["api_key"]["key"].as_str().unwrap();
    assert!(key_pattern().is_match(key), "{key}");
    assert!(created["api_key"]["id"]
        .as_str()
        .unwrap()
        .starts_with("key_"));
    assert_eq!(created["api_key"]["scopes"], json!(["admin"]));

    let listed: Value = server
        .request_as(key, Method::GET, "/v1/policies")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["pagination"]["total"], 0);
}

async fn creating_an_organization_is_audited_in_both_organizations(server: TestServer) {
    let response = server
        .request(Method::POST, "/v1/organizations")
        .header("x-request-id", "make-acme")
        .json(&json!({"name": "acme"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let created: Value = response.json().await.unwrap();
    let organization_id = created["organization"]["id"].as_str().unwrap();
    let key = created["api_key"]["key"].as_str().unwrap();

    let ours: Value = server
        .get("/v1/audit-events?action=organization.created")
        .await
        .json()
        .await
        .unwrap();
    let theirs: Value = server
        .request_as(key, Method::GET, "/v1/audit-events")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    let event = &ours["data"][0];
    assert_eq!(ours["data"].as_array().unwrap().len(), 1, "{ours}");
    assert_eq!(event["target_type"], "organization");
    assert_eq!(event["target_id"], organization_id);
    assert_eq!(event["request_id"], "make-acme");
    assert_eq!(event["changes"]["name"], "acme");
    assert_eq!(event["changes"]["api_key_id"], created["api_key"]["id"]);
    let actions: Vec<&str> = theirs["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| event["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["api_key.created"]);
    assert_eq!(theirs["data"][0]["actor"], event["actor"]);
}

async fn a_created_key_has_the_published_shape_and_only_its_hash_is_stored(server: TestServer) {
    let created = create_key(
        &server,
        &json!({"name": "ci", "scopes": ["policies:read", "evaluations:run"]}),
    )
    .await;

    let mut fields: Vec<&str> = created
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        ["created_at", "expires_at", "id", "key", "name", "scopes"]
    );
    assert!(created["id"].as_str().unwrap().starts_with("key_"));
    assert_eq!(created["name"], "ci");
    assert_eq!(
        created["scopes"],
        json!(["policies:read", "evaluations:run"])
    );
    assert_eq!(created["expires_at"], Value::Null);
    let secret = created["key"].as_str().unwrap();
    assert!(secret.starts_with("pc_"));
    assert!(key_pattern().is_match(secret), "{secret}");

    let hash = policycortex_server::keys::hash(secret);
    assert_eq!(hash.len(), 64);
    let stored = server.store.find_api_key(&hash).await.unwrap().unwrap();
    assert_eq!(stored.id, created["id"].as_str().unwrap());
    assert_eq!(stored.key_hash, hash);
    assert!(!format!("{stored:?}").contains(secret), "{stored:?}");
    assert!(secret.starts_with(&stored.prefix));
    assert!(stored.prefix.len() < 10);
    assert_eq!(policies_status(&server, secret).await, 200);
}

async fn listing_keys_never_shows_a_secret_or_a_hash(server: TestServer) {
    let created = create_key(&server, &json!({"name": "ci", "scopes": ["audit:read"]})).await;
    let secret = created["key"].as_str().unwrap();

    let response = server.get("/v1/api-keys").await;

    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    assert!(!text.contains(secret));
    assert!(!text.contains(&policycortex_server::keys::hash(secret)));
    assert!(!text.contains(&policycortex_server::keys::hash(ADMIN_KEY)));
    let listed: Value = serde_json::from_str(&text).unwrap();
    let keys = listed["data"].as_array().unwrap();
    assert_eq!(keys.len(), 2, "{listed}");
    for key in keys {
        assert!(key.get("key").is_none(), "{key}");
        assert!(key.get("key_hash").is_none(), "{key}");
        assert!(key["id"].as_str().unwrap().starts_with("key_"));
    }
    assert!(keys.iter().any(|key| key["id"] == created["id"]));
}

async fn a_revoked_key_is_401_on_its_next_request(server: TestServer) {
    let created = create_key(&server, &json!({"name": "ci", "scopes": ["policies:read"]})).await;
    let secret = created["key"].as_str().unwrap();
    assert_eq!(policies_status(&server, secret).await, 200);

    let revoked = server
        .delete(&format!("/v1/api-keys/{}", created["id"].as_str().unwrap()))
        .await;

    assert_eq!(revoked.status(), 204);
    let response = server
        .request_as(secret, Method::GET, "/v1/policies")
        .send()
        .await
        .unwrap();
    assert_unauthorized(response).await;
    let listed: Value = server.get("/v1/api-keys").await.json().await.unwrap();
    let entry = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|key| key["id"] == created["id"])
        .unwrap()
        .clone();
    assert!(entry["revoked_at"].is_string(), "{entry}");
    let again = server
        .delete(&format!("/v1/api-keys/{}", created["id"].as_str().unwrap()))
        .await;
    assert_problem(again, 404, "not_found").await;
}

async fn an_expired_key_is_401_once_its_expiry_passes(server: TestServer) {
    let expires_at = (Utc::now() + chrono::Duration::seconds(2)).to_rfc3339();
    let created = create_key(
        &server,
        &json!({"name": "short", "scopes": ["policies:read"], "expires_at": expires_at}),
    )
    .await;
    let secret = created["key"].as_str().unwrap();
    assert!(created["expires_at"].is_string());

    // The key works until its expiry and never after; poll, bounded, for the switch.
    let mut status = policies_status(&server, secret).await;
    for _ in 0..300 {
        if status == 401 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        status = policies_status(&server, secret).await;
    }
    assert_eq!(status, 401);
    assert!(Utc::now() >= chrono::DateTime::parse_from_rfc3339(&expires_at).unwrap());
    let response = server
        .request_as(secret, Method::GET, "/v1/policies")
        .send()
        .await
        .unwrap();
    assert_unauthorized(response).await;

    let past = (Utc::now() - chrono::Duration::seconds(5)).to_rfc3339();
    let refused = server
        .post(
            "/v1/api-keys",
            &json!({"name": "old", "scopes": ["policies:read"], "expires_at": past}),
        )
        .await;
    let problem = assert_problem(refused, 400, "invalid_input").await;
    assert_eq!(
        error_fields(&problem),
        [("expires_at".to_owned(), "invalid_value".to_owned())]
    );
}

async fn malformed_unknown_revoked_and_expired_keys_are_401_with_www_authenticate(
    server: TestServer,
) {
    let url = format!("{}/v1/policies", server.base);
    let missing = server.client.get(&url).send().await.unwrap();
    assert_unauthorized(missing).await;
    let basic = server
        .client
        .get(&url)
        .header("authorization", "Basic dXNlcjpwYXNz")
        .send()
        .await
        .unwrap();
    assert_unauthorized(basic).await;

    let lowercase_scheme = server
        .client
        .get(&url)
        .header("authorization", format!("bearer {ADMIN_KEY}"))
        .send()
        .await
        .unwrap();
    assert_eq!(lowercase_scheme.status(), 200);

    let generated = policycortex_server::keys::generate();
    let mut wrong_checksum = generated.clone();
    let last = wrong_checksum.pop().unwrap();
    wrong_checksum.push(if last == 'A' { 'B' } else { 'A' });
    for key in [
        "short",
        "pc_tooshort_abcdef",
        "has spaces in it but is long enough to pass",
        wrong_checksum.as_str(),
        generated.as_str(),
        "a-well-formed-bootstrap-style-key-nobody-holds",
    ] {
        let response = server
            .request_as(key, Method::GET, "/v1/policies")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "{key}");
        assert_unauthorized(response).await;
    }

    // Revoked and expired: the rows exist, yet the key is refused.
    let created = create_key(&server, &json!({"name": "gone", "scopes": ["admin"]})).await;
    server
        .delete(&format!("/v1/api-keys/{}", created["id"].as_str().unwrap()))
        .await;
    let revoked = server
        .request_as(
            created["key"].as_str().unwrap(),
            Method::GET,
            "/v1/api-keys",
        )
        .send()
        .await
        .unwrap();
    assert_unauthorized(revoked).await;
}

async fn another_organizations_key_cannot_be_revoked(server: TestServer) {
    let other = server.other_organization().await;
    let theirs: Value = server
        .request_as(&other, Method::POST, "/v1/api-keys")
        .json(&json!({"name": "theirs", "scopes": ["policies:read"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let their_id = theirs["id"].as_str().unwrap();

    let response = server.delete(&format!("/v1/api-keys/{their_id}")).await;

    assert_problem(response, 404, "not_found").await;
    assert_eq!(
        policies_status(&server, theirs["key"].as_str().unwrap()).await,
        200
    );
    let ours: Value = server.get("/v1/api-keys").await.json().await.unwrap();
    assert!(ours["data"]
        .as_array()
        .unwrap()
        .iter()
        .all(|key| key["id"] != their_id));
}

async fn another_organizations_policy_is_404_on_every_route_and_stays_unchanged(
    server: TestServer,
) {
    let other = server.other_organization().await;
    let theirs: Value = server
        .request_as(&other, Method::POST, "/v1/policies")
        .json(&s3_policy())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let path = format!("/v1/policies/{}", theirs["id"].as_str().unwrap());

    assert_problem(server.get(&path).await, 404, "not_found").await;
    assert_problem(
        server.put(&path, &json!({"severity": "LOW"})).await,
        404,
        "not_found",
    )
    .await;
    let with_if_match = server
        .request(Method::PUT, &path)
        .header("if-match", "\"1\"")
        .json(&json!({"enabled": false}))
        .send()
        .await
        .unwrap();
    assert_problem(with_if_match, 404, "not_found").await;
    assert_problem(server.delete(&path).await, 404, "not_found").await;
    assert_problem(
        server.get(&format!("{path}/versions")).await,
        404,
        "not_found",
    )
    .await;

    let still: Value = server
        .request_as(&other, Method::GET, &path)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(still, theirs);
    let versions: Value = server
        .request_as(&other, Method::GET, &format!("{path}/versions"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(versions["data"].as_array().unwrap().len(), 1);
}

async fn another_organizations_policies_never_show_in_lists_cursors_evaluations_or_audit(
    server: TestServer,
) {
    let other = server.other_organization().await;
    let mut their_ids = Vec::new();
    for index in 0..3 {
        let theirs: Value = server
            .request_as(&other, Method::POST, "/v1/policies")
            .json(&named_policy(&format!("theirs-{index}")))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        their_ids.push(theirs["id"].as_str().unwrap().to_owned());
    }
    let mut our_ids = Vec::new();
    for index in 0..3 {
        let ours = server
            .create_policy(&json!({
                "name": format!("ours-{index}"),
                "resource_type": "AWS::S3::Bucket",
                "rules": [{"condition": "resource.size > 10", "effect": "DENY", "message": "too big"}]
            }))
            .await;
        our_ids.push(ours["id"].as_str().unwrap().to_owned());
    }

    let listed: Value = server
        .get("/v1/policies?limit=100")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["pagination"]["total"], 3);
    let mut walked = Vec::new();
    let mut path = "/v1/policies?limit=1&sort_by=name&order=asc".to_owned();
    loop {
        let page: Value = server.get(&path).await.json().await.unwrap();
        for policy in page["data"].as_array().unwrap() {
            walked.push(policy["id"].as_str().unwrap().to_owned());
        }
        match page["pagination"]["next_cursor"].as_str() {
            Some(cursor) => {
                path = format!("/v1/policies?limit=1&sort_by=name&order=asc&cursor={cursor}")
            }
            None => break,
        }
    }
    walked.sort();
    our_ids.sort();
    assert_eq!(walked, our_ids);

    // Their policies deny public buckets; ours only big ones. A public small bucket is
    // compliant for us: their policies do not decide.
    let evaluation: Value = server
        .post(
            "/v1/evaluations",
            &json!({"resource_type": "AWS::S3::Bucket", "resource": {"public": true, "size": 1}}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(evaluation["compliant"], true, "{evaluation}");
    let deciders: Vec<&str> = evaluation["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|decision| decision["policy_id"].as_str().unwrap())
        .collect();
    assert_eq!(deciders.len(), 3);
    assert!(deciders
        .iter()
        .all(|id| !their_ids.iter().any(|theirs| theirs == id)));

    let audit = server
        .get("/v1/audit-events?limit=100")
        .await
        .text()
        .await
        .unwrap();
    for id in &their_ids {
        assert!(!audit.contains(id.as_str()), "{id} in {audit}");
        let filtered: Value = server
            .get(&format!("/v1/audit-events?target_id={id}"))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(filtered["data"], json!([]));
    }
}

async fn read_only_fields_are_400_and_change_nothing(server: TestServer) {
    let created = server.create_policy(&vpc_policy()).await;
    let path = format!("/v1/policies/{}", created["id"].as_str().unwrap());
    let values = [
        ("id", json!("pol_chosen")),
        ("version", json!(7)),
        ("created_at", json!("2020-01-01T00:00:00Z")),
        ("updated_at", json!("2020-01-01T00:00:00Z")),
        ("created_by", json!("someone-else")),
    ];

    for (field, value) in values {
        let mut body = named_policy(&format!("with-{field}"));
        body[field] = value.clone();
        let response = server.post("/v1/policies", &body).await;
        let problem = assert_problem(response, 400, "invalid_input").await;
        assert!(
            error_fields(&problem).contains(&(field.to_owned(), "read_only".to_owned())),
            "{problem}"
        );

        let response = server
            .put(&path, &json!({"severity": "LOW", field: value}))
            .await;
        let problem = assert_problem(response, 400, "invalid_input").await;
        assert!(
            error_fields(&problem).contains(&(field.to_owned(), "read_only".to_owned())),
            "{problem}"
        );
    }

    let listed: Value = server.get("/v1/policies").await.json().await.unwrap();
    assert_eq!(listed["pagination"]["total"], 1);
    assert_eq!(
        server.get(&path).await.json::<Value>().await.unwrap(),
        created
    );
}

async fn an_admin_without_operator_cannot_create_organizations_or_grant_operator(
    server: TestServer,
) {
    let admin = server.key_with(&["admin"]).await;

    let organization = server
        .request_as(&admin, Method::POST, "/v1/organizations")
        .json(&json!({"name": "sneaky"}))
        .send()
        .await
        .unwrap();
    assert_problem(organization, 403, "forbidden").await;

    let grant = server
        .request_as(&admin, Method::POST, "/v1/api-keys")
        .json(&json!({"name": "escalate", "scopes": ["policies:read", "operator"]}))
        .send()
        .await
        .unwrap();
    let problem = assert_problem(grant, 400, "invalid_input").await;
    assert_eq!(
        error_fields(&problem),
        [("scopes[1]".to_owned(), "not_grantable".to_owned())]
    );

    // A narrower key cannot grant what it lacks either, and nothing was made.
    let listed: Value = server.get("/v1/api-keys").await.json().await.unwrap();
    assert_eq!(listed["data"].as_array().unwrap().len(), 2);
    let unknown = server
        .post(
            "/v1/api-keys",
            &json!({"name": "x", "scopes": ["superuser"]}),
        )
        .await;
    let problem = assert_problem(unknown, 400, "invalid_input").await;
    assert_eq!(
        error_fields(&problem),
        [("scopes[0]".to_owned(), "invalid_value".to_owned())]
    );
    let extra_field = server
        .post(
            "/v1/api-keys",
            &json!({"name": "x", "scopes": ["admin"], "organization_id": "org_other"}),
        )
        .await;
    assert_problem(extra_field, 400, "invalid_input").await;
}

/// Which scope each route needs; `None` for operator-only.
fn route_matrix(policy_id: &str) -> Vec<(Method, String, Option<Value>, &'static str)> {
    let policy = format!("/v1/policies/{policy_id}");
    vec![
        (Method::GET, "/v1/policies".into(), None, "policies:read"),
        (Method::GET, policy.clone(), None, "policies:read"),
        (
            Method::GET,
            format!("{policy}/versions"),
            None,
            "policies:read",
        ),
        // Invalid bodies and unknown ids: an authorized request fails after the scope
        // check and changes nothing.
        (
            Method::POST,
            "/v1/policies".into(),
            Some(json!({})),
            "policies:write",
        ),
        (
            Method::PUT,
            "/v1/policies/pol_unknown".into(),
            Some(json!({"severity": "LOW"})),
            "policies:write",
        ),
        (
            Method::DELETE,
            "/v1/policies/pol_unknown".into(),
            None,
            "policies:write",
        ),
        (
            Method::POST,
            "/v1/evaluations".into(),
            Some(json!({"resource_type": "AWS::S3::Bucket", "resource": {}})),
            "evaluations:run",
        ),
        (Method::GET, "/v1/audit-events".into(), None, "audit:read"),
        (Method::GET, "/v1/api-keys".into(), None, "admin"),
        (
            Method::POST,
            "/v1/api-keys".into(),
            Some(json!({})),
            "admin",
        ),
        (
            Method::DELETE,
            "/v1/api-keys/key_unknown".into(),
            None,
            "admin",
        ),
        (
            Method::POST,
            "/v1/organizations".into(),
            Some(json!({})),
            "operator",
        ),
    ]
}

async fn each_scope_reaches_only_its_routes(server: TestServer) {
    let created = server.create_policy(&s3_policy()).await;
    let policy_id = created["id"].as_str().unwrap();

    for scope in [
        "policies:read",
        "policies:write",
        "evaluations:run",
        "audit:read",
        "admin",
    ] {
        let key = server.key_with(&[scope]).await;
        for (method, path, body, needed) in route_matrix(policy_id) {
            let mut request = server.request_as(&key, method.clone(), &path);
            if let Some(body) = &body {
                request = request.json(body);
            }
            let response = request.send().await.unwrap();
            let status = response.status();
            let allowed = scope == needed || (scope == "admin" && needed != "operator");
            if allowed {
                assert!(
                    status != 403 && status != 401,
                    "{scope} on {method} {path}: {status}"
                );
            } else {
                assert_eq!(status, 403, "{scope} on {method} {path}");
                let problem = assert_problem(response, 403, "forbidden").await;
                assert!(
                    problem["detail"].as_str().unwrap().contains(needed),
                    "{problem}"
                );
            }
        }
    }

    // Nothing the matrix sent changed the policy or made anything.
    assert_eq!(
        server
            .get(&format!("/v1/policies/{policy_id}"))
            .await
            .json::<Value>()
            .await
            .unwrap(),
        created
    );
    let listed: Value = server.get("/v1/policies").await.json().await.unwrap();
    assert_eq!(listed["pagination"]["total"], 1);
}

/// `depth` nested JSON arrays around a zero.
fn nested_document(depth: usize) -> String {
    format!("{}0{}", "[".repeat(depth), "]".repeat(depth))
}

async fn oversized_and_overdeep_input_is_refused(server: TestServer) {
    let huge = json!({"name": "huge", "description": "x".repeat(1024 * 1024 + 1)});
    assert_problem(
        server.post("/v1/policies", &huge).await,
        413,
        "payload_too_large",
    )
    .await;

    assert_problem(
        server.get("/v1/policies?limit=101").await,
        400,
        "invalid_input",
    )
    .await;
    assert_problem(
        server.get("/v1/audit-events?limit=101").await,
        400,
        "invalid_input",
    )
    .await;

    let long_condition = format!("resource.a == \"{}\"", "x".repeat(4096));
    let mut body = named_policy("long-condition");
    body["rules"][0]["condition"] = json!(long_condition);
    let problem = assert_problem(
        server.post("/v1/policies", &body).await,
        400,
        "invalid_input",
    )
    .await;
    assert_eq!(error_fields(&problem)[0].0, "rules[0].condition");

    let deep_condition = format!("{}true", "!".repeat(65));
    body = named_policy("deep-condition");
    body["rules"][0]["condition"] = json!(deep_condition);
    let problem = assert_problem(
        server.post("/v1/policies", &body).await,
        400,
        "invalid_input",
    )
    .await;
    assert_eq!(error_fields(&problem)[0].0, "rules[0].condition");

    body = named_policy("many-rules");
    body["rules"] = json!(vec![body["rules"][0].clone(); 51]);
    assert_problem(
        server.post("/v1/policies", &body).await,
        400,
        "invalid_input",
    )
    .await;

    let resources: Vec<Value> = (0..1001)
        .map(|index| json!({"id": format!("r{index}"), "resource_type": "AWS::S3::Bucket", "resource": {}}))
        .collect();
    assert_problem(
        server
            .post("/v1/evaluations", &json!({"resources": resources}))
            .await,
        400,
        "invalid_input",
    )
    .await;

    for path in ["/v1/evaluations", "/v1/policies"] {
        let deep = format!(
            "{{\"resource_type\": \"AWS::S3::Bucket\", \"resource\": {}}}",
            nested_document(5000)
        );
        let response = server
            .request(Method::POST, path)
            .header("content-type", "application/json")
            .body(deep)
            .send()
            .await
            .unwrap();
        assert_problem(response, 400, "invalid_input").await;
    }

    let listed: Value = server.get("/v1/policies").await.json().await.unwrap();
    assert_eq!(listed["pagination"]["total"], 0);
}

async fn the_policy_quota_of_an_organization_is_409_when_full(backing: Backing) {
    let server = TestServer::start(
        backing,
        ServerConfig {
            max_policies_per_organization: 3,
            ..Default::default()
        },
    )
    .await;
    for index in 0..3 {
        server
            .create_policy(&named_policy(&format!("p{index}")))
            .await;
    }

    let fourth = server.post("/v1/policies", &named_policy("p3")).await;

    assert_problem(fourth, 409, "conflict").await;
    let listed: Value = server.get("/v1/policies").await.json().await.unwrap();
    assert_eq!(listed["pagination"]["total"], 3);
    // The quota is per organization: another one still has room.
    let other = server.other_organization().await;
    let theirs = server
        .request_as(&other, Method::POST, "/v1/policies")
        .json(&named_policy("p0"))
        .send()
        .await
        .unwrap();
    assert_eq!(theirs.status(), 201);
}

/// A server that lets a client address fail authentication 3 times a minute.
async fn strict_server(backing: Backing) -> TestServer {
    let config = ServerConfig {
        auth_failures_per_minute: 3,
        ..Default::default()
    };
    TestServer::start(backing, config).await
}

const GUESSED_KEY: &str = "guessed_key_guessed_key_guessed_key_0001";

async fn an_address_that_keeps_failing_authentication_is_refused_before_any_lookup(
    backing: Backing,
) {
    let server = strict_server(backing).await;
    let key_in_use = server.key_with(&["policies:read"]).await;
    assert_eq!(
        server
            .request_as(&key_in_use, Method::GET, "/v1/policies")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let unused_key = server.key_with(&["policies:read"]).await;
    let guess = || {
        server
            .request_as(GUESSED_KEY, Method::GET, "/v1/policies")
            .send()
    };

    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(guess().await.unwrap().status().as_u16());
    }
    let refused = guess().await.unwrap();
    let no_key = server
        .client
        .get(format!("{}/v1/policies", server.base))
        .send()
        .await
        .unwrap();
    let first_use = server
        .request_as(&unused_key, Method::GET, "/v1/policies")
        .send()
        .await
        .unwrap();
    let in_use = server
        .request_as(&key_in_use, Method::GET, "/v1/policies")
        .send()
        .await
        .unwrap();

    assert_eq!(statuses, [401, 401, 401, 429]);
    assert!(refused.headers().contains_key("retry-after"));
    let problem = assert_problem(refused, 429, "rate_limited").await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("failed authentications"),
        "{problem}"
    );
    assert_eq!(no_key.status(), 429, "a missing key is a failure too");
    assert_eq!(
        first_use.status(),
        429,
        "an unknown key waits for the budget"
    );
    assert_eq!(in_use.status(), 200, "a key that worked here keeps working");
}

/// Every log line of this test process, as written by [`CapturingSubscriber`].
fn captured_log() -> &'static Arc<Mutex<String>> {
    static LOG: OnceLock<Arc<Mutex<String>>> = OnceLock::new();
    LOG.get_or_init(|| {
        let log = Arc::new(Mutex::new(String::new()));
        let subscriber = CapturingSubscriber { log: log.clone() };
        // Another test of this process may have installed it first; either way the
        // server's events from now on land in `log`.
        let _ = tracing::subscriber::set_global_default(subscriber);
        log
    })
}

/// A minimal subscriber that writes each event's fields as one line into a buffer.
struct CapturingSubscriber {
    log: Arc<Mutex<String>>,
}

struct LineWriter<'a>(&'a mut String);

impl tracing::field::Visit for LineWriter<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.push_str(&format!(" {}={value:?}", field.name()));
    }
}

impl tracing::Subscriber for CapturingSubscriber {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        let mut line = format!("span {}", span.metadata().name());
        span.record(&mut LineWriter(&mut line));
        line.push('\n');
        self.log.lock().unwrap().push_str(&line);
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, values: &tracing::span::Record<'_>) {
        let mut line = "record".to_owned();
        values.record(&mut LineWriter(&mut line));
        line.push('\n');
        self.log.lock().unwrap().push_str(&line);
    }
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut line = format!("event {}", event.metadata().target());
        event.record(&mut LineWriter(&mut line));
        line.push('\n');
        self.log.lock().unwrap().push_str(&line);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

async fn a_key_sent_in_the_query_string_never_reaches_the_log(server: TestServer) {
    let log = captured_log();
    let created = create_key(
        &server,
        &json!({"name": "leaky", "scopes": ["policies:read"]}),
    )
    .await;
    let secret = created["key"].as_str().unwrap();
    let request_id = format!(
        "leak-check-{}",
        &policycortex_server::keys::generate()[3..15]
    );

    for path in [
        format!("/v1/policies?api_key={secret}"),
        format!("/v1/policies?limit=5&cursor={secret}"),
        format!("/v1/policies/{secret}"),
        format!("/v1/no-such-route?key={secret}"),
    ] {
        let response = server
            .request_as(secret, Method::GET, &path)
            .header("x-request-id", &request_id)
            .send()
            .await
            .unwrap();
        assert!(response.status().is_client_error(), "{path}");
        assert_eq!(response.headers()["x-request-id"], request_id.as_str());
    }

    let text = log.lock().unwrap().clone();
    let lines: Vec<&str> = text
        .lines()
        .filter(|line| line.contains(&request_id))
        .collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert!(
        lines
            .iter()
            .any(|line| line.contains("http.route=/v1/policies/{id}")),
        "{lines:?}"
    );
    assert!(lines
        .iter()
        .any(|line| line.contains("http.route=unmatched")));
    assert!(!text.contains(secret), "the key reached the log");
    assert!(!text.contains(ADMIN_KEY), "the admin key reached the log");
}

//! Two servers over one PostgreSQL database, as behind a load balancer: every write made
//! through one is seen by the next request to the other, cursors and ETags mean the same
//! on both, races between them are settled by the database, and rate limits are kept by
//! each server for its own share of the traffic.
//!
//! PostgreSQL only: each test is skipped, with a note, when
//! `POLICYCORTEX_TEST_DATABASE_URL` is not set.

mod support;

use std::collections::HashSet;

use policycortex_server::{Bootstrap, ServerConfig};
use policycortex_store::StoreOptions;
use reqwest::{Method, Response};
use serde_json::{json, Value};
use support::*;

/// Two servers with `config` on a fresh PostgreSQL database, or `None` when none is
/// configured.
async fn two_instances(config: ServerConfig) -> Option<(TestServer, TestServer)> {
    let backing = Backing::postgres().await?;
    let a = TestServer::start(backing, config.clone()).await;
    let b = a.sibling(config).await;
    Some((a, b))
}

/// `PUT path` with `If-Match: "version"`.
async fn put_if_match(server: &TestServer, path: &str, version: i64, body: &Value) -> Response {
    server
        .request(Method::PUT, path)
        .header("if-match", format!("\"{version}\""))
        .json(body)
        .send()
        .await
        .unwrap()
}

/// Evaluates an unencrypted S3 bucket; answers the evaluation.
async fn evaluate_unencrypted_bucket(server: &TestServer) -> Value {
    let response = server
        .post(
            "/v1/evaluations",
            &json!({
                "resource_type": "AWS::S3::Bucket",
                "resource": {"encryption": {"enabled": false}}
            }),
        )
        .await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_on_one_instance_is_read_on_the_other() {
    let Some((a, b)) = two_instances(ServerConfig::default()).await else {
        return;
    };

    let created = a.create_policy(&vpc_policy()).await;
    let path = format!("/v1/policies/{}", created["id"].as_str().unwrap());
    let read = b.get(&path).await;
    assert_eq!(read.status(), 200);
    assert_eq!(read.headers()["etag"], "\"1\"");
    assert_eq!(read.json::<Value>().await.unwrap(), created);

    let updated = b.put(&path, &json!({"severity": "CRITICAL"})).await;
    assert_eq!(updated.status(), 200);
    let updated: Value = updated.json().await.unwrap();
    let read = a.get(&path).await;
    assert_eq!(read.headers()["etag"], "\"2\"");
    assert_eq!(read.json::<Value>().await.unwrap(), updated);
    assert_eq!(updated["severity"], "CRITICAL");

    assert_eq!(a.delete(&path).await.status(), 204);
    assert_problem(b.get(&path).await, 404, "not_found").await;
    assert_problem(b.delete(&path).await, 404, "not_found").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cursor_from_one_instance_pages_on_the_other() {
    let Some((a, b)) = two_instances(ServerConfig::default()).await else {
        return;
    };
    let mut created = HashSet::new();
    for index in 0..7 {
        let policy = a
            .create_policy(&named_policy(&format!("policy-{index}")))
            .await;
        created.insert(policy["id"].as_str().unwrap().to_owned());
    }

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for page_number in 0.. {
        let server = if page_number % 2 == 0 { &a } else { &b };
        let path = match &cursor {
            Some(cursor) => format!("/v1/policies?limit=2&sort_by=name&cursor={cursor}"),
            None => "/v1/policies?limit=2&sort_by=name".to_owned(),
        };
        let response = server.get(&path).await;
        assert_eq!(response.status(), 200);
        let page: Value = response.json().await.unwrap();
        for policy in page["data"].as_array().unwrap() {
            seen.push(policy["id"].as_str().unwrap().to_owned());
        }
        match page["pagination"]["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
        assert!(page_number < 10, "paging does not end");
    }

    assert_eq!(seen.len(), 7, "{seen:?}");
    assert_eq!(seen.iter().cloned().collect::<HashSet<_>>(), created);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_other_instance_evaluates_with_policy_writes_at_once() {
    let Some((a, b)) = two_instances(ServerConfig::default()).await else {
        return;
    };
    // B compiles and caches its (empty) set before A writes anything.
    assert_eq!(evaluate_unencrypted_bucket(&b).await["compliant"], true);

    let created = a.create_policy(&s3_policy()).await;
    let evaluation = evaluate_unencrypted_bucket(&b).await;
    assert_eq!(evaluation["compliant"], false, "{evaluation}");
    assert_eq!(evaluation["decisions"][0]["policy_id"], created["id"]);

    let path = format!("/v1/policies/{}", created["id"].as_str().unwrap());
    assert_eq!(a.put(&path, &json!({"enabled": false})).await.status(), 200);
    let evaluation = evaluate_unencrypted_bucket(&b).await;
    assert_eq!(evaluation["compliant"], true, "{evaluation}");

    assert_eq!(a.put(&path, &json!({"enabled": true})).await.status(), 200);
    assert_eq!(evaluate_unencrypted_bucket(&b).await["compliant"], false);
    assert_eq!(a.delete(&path).await.status(), 204);
    assert_eq!(evaluate_unencrypted_bucket(&b).await["compliant"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_creates_of_one_name_on_both_instances_make_one_policy() {
    let Some((a, b)) = two_instances(ServerConfig::default()).await else {
        return;
    };

    for round in 0..10 {
        let body = named_policy(&format!("raced-{round}"));
        let (from_a, from_b) =
            tokio::join!(a.post("/v1/policies", &body), b.post("/v1/policies", &body));

        let mut statuses = [from_a.status().as_u16(), from_b.status().as_u16()];
        statuses.sort_unstable();
        assert_eq!(statuses, [201, 409], "round {round}");
        let loser = if from_a.status() == 409 {
            from_a
        } else {
            from_b
        };
        assert_problem(loser, 409, "conflict").await;
    }

    let listed: Value = a
        .get("/v1/policies?limit=100&sort_by=name")
        .await
        .json()
        .await
        .unwrap();
    let mut names: Vec<&str> = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|policy| policy["name"].as_str().unwrap())
        .collect();
    names.sort_unstable();
    let mut expected: Vec<String> = (0..10).map(|round| format!("raced-{round}")).collect();
    expected.sort_unstable();
    assert_eq!(names, expected);
    assert_eq!(listed["pagination"]["total"], 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_updates_with_one_if_match_on_both_instances_let_one_win() {
    let Some((a, b)) = two_instances(ServerConfig::default()).await else {
        return;
    };
    let created = a.create_policy(&vpc_policy()).await;
    let path = format!("/v1/policies/{}", created["id"].as_str().unwrap());

    for version in 1..=5 {
        let (body_a, body_b) = (
            json!({"description": "from a"}),
            json!({"description": "from b"}),
        );
        let (from_a, from_b) = tokio::join!(
            put_if_match(&a, &path, version, &body_a),
            put_if_match(&b, &path, version, &body_b),
        );

        let mut statuses = [from_a.status().as_u16(), from_b.status().as_u16()];
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 412], "version {version}");
        let (winner, loser, description) = if from_a.status() == 200 {
            (from_a, from_b, "from a")
        } else {
            (from_b, from_a, "from b")
        };
        assert_eq!(winner.headers()["etag"], format!("\"{}\"", version + 1));
        assert_problem(loser, 412, "precondition_failed").await;
        let stored: Value = b.get(&path).await.json().await.unwrap();
        assert_eq!(stored["version"], version + 1);
        assert_eq!(stored["description"], description);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idempotent_retry_on_the_other_instance_replays_the_first_answer() {
    let Some((a, b)) = two_instances(ServerConfig::default()).await else {
        return;
    };
    let send = |server: &TestServer| {
        server
            .request(Method::POST, "/v1/policies")
            .header("idempotency-key", "create-s3-once")
            .json(&s3_policy())
            .send()
    };

    let first = send(&a).await.unwrap();
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    let retried = send(&b).await.unwrap();

    assert_eq!(retried.status(), 201);
    assert_eq!(retried.headers()["idempotent-replayed"], "true");
    assert_eq!(retried.json::<Value>().await.unwrap(), first);
    let listed: Value = b.get("/v1/policies").await.json().await.unwrap();
    assert_eq!(listed["pagination"]["total"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_revoked_on_one_instance_is_refused_by_the_other() {
    let Some((a, b)) = two_instances(ServerConfig::default()).await else {
        return;
    };
    let response = a
        .post(
            "/v1/api-keys",
            &json!({"name": "short-lived", "scopes": ["policies:read"]}),
        )
        .await;
    assert_eq!(response.status(), 201);
    let created: Value = response.json().await.unwrap();
    let key = created["key"].as_str().unwrap();
    let listed = b.request_as(key, Method::GET, "/v1/policies").send().await;
    assert_eq!(listed.unwrap().status(), 200);

    let revoked = a
        .delete(&format!("/v1/api-keys/{}", created["id"].as_str().unwrap()))
        .await;
    assert_eq!(revoked.status(), 204);

    let refused = b.request_as(key, Method::GET, "/v1/policies").send().await;
    assert_problem(refused.unwrap(), 401, "unauthorized").await;
}

/// Each instance keeps its own buckets, so a key may spend the burst once per instance.
/// The rate is low enough (one request every 30 s) that no token comes back during the
/// test, however slow the machine.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_are_kept_per_instance() {
    let config = ServerConfig {
        rate_limit_per_minute: 2,
        rate_limit_burst: 2,
        ..ServerConfig::default()
    };
    let Some((a, b)) = two_instances(config).await else {
        return;
    };
    let key = a.key_with(&["policies:read"]).await;
    let list = |server: &TestServer| server.request_as(&key, Method::GET, "/v1/policies").send();

    for server in [&a, &a, &b, &b] {
        let response = list(server).await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["ratelimit-policy"],
            "\"per-key\";q=2;w=60;burst=2"
        );
    }
    for server in [&a, &b] {
        let refused = list(server).await.unwrap();
        assert!(refused.headers().contains_key("retry-after"));
        assert_problem(refused, 429, "rate_limited").await;
    }
}

/// Migrations run under PostgreSQL's advisory lock: servers opening one empty database at
/// the same moment all succeed, and find the same, fully migrated schema.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_starting_at_once_on_an_empty_database_both_open_it() {
    let Some(backing) = Backing::postgres().await else {
        return;
    };
    let options = StoreOptions::default();

    let (a, b) = tokio::join!(
        policycortex_store::open(backing.url(), &options),
        policycortex_store::open(backing.url(), &options),
    );

    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.count_api_keys().await.unwrap(), 0);
    policycortex_server::bootstrap(&a, Some(ADMIN_KEY))
        .await
        .unwrap();
    assert_eq!(b.count_api_keys().await.unwrap(), 1);
    assert_eq!(
        policycortex_server::bootstrap(&b, Some(ADMIN_KEY))
            .await
            .unwrap(),
        Bootstrap::KeysExist
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_idempotency_key_sent_to_both_instances_at_once_creates_one_policy() {
    let Some((a, b)) = two_instances(ServerConfig::default()).await else {
        return;
    };
    for round in 0..5 {
        let key = format!("create-once-{round}");
        let mut body = s3_policy();
        body["name"] = format!("encrypt-{round}").into();
        let send = |server: &TestServer| {
            server
                .request(Method::POST, "/v1/policies")
                .header("idempotency-key", key.as_str())
                .json(&body)
                .send()
        };

        let (on_a, on_b) = tokio::join!(send(&a), send(&b));

        let (on_a, on_b) = (on_a.unwrap(), on_b.unwrap());
        assert_eq!((on_a.status().as_u16(), on_b.status().as_u16()), (201, 201));
        let (on_a, on_b): (Value, Value) = (on_a.json().await.unwrap(), on_b.json().await.unwrap());
        assert_eq!(on_a["id"], on_b["id"]);
    }
    let listed: Value = a.get("/v1/policies").await.json().await.unwrap();
    assert_eq!(listed["pagination"]["total"], 5);
}

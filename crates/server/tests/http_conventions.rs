//! The conventions every route shares, over HTTP against a real server: authentication,
//! the open routes and the OpenAPI document, content types and body limits, problem
//! answers for unknown routes and methods, request ids, rate limits and graceful shutdown.

mod support;

use std::collections::{BTreeMap, BTreeSet};

use policycortex_server::ServerConfig;
use reqwest::Method;
use serde_json::{json, Value};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

both_stores!(
    a_request_without_a_usable_key_is_401_with_a_bearer_challenge,
    health_and_the_openapi_document_need_no_key,
    a_body_that_is_not_declared_json_is_415,
    a_body_over_one_mebibyte_is_413,
    an_unknown_route_is_a_problem_404,
    a_wrong_method_is_a_problem_405,
    a_sent_request_id_is_echoed_and_a_missing_one_is_generated,
);

/// A server that lets a key make 3 requests at once and 60 a minute.
async fn rate_limited_server() -> TestServer {
    let config = ServerConfig {
        rate_limit_per_minute: 60,
        rate_limit_burst: 3,
        ..Default::default()
    };
    TestServer::start(Backing::sqlite(), config).await
}

async fn a_request_without_a_usable_key_is_401_with_a_bearer_challenge(server: TestServer) {
    let url = format!("{}/v1/policies", server.base);
    let unknown = "unknown-key-0123456789abcdefghijklmnop";
    let requests = [
        ("no header", server.client.get(&url)),
        (
            "basic scheme",
            server.client.get(&url).basic_auth("admin", Some(ADMIN_KEY)),
        ),
        (
            "no scheme",
            server.client.get(&url).header("authorization", ADMIN_KEY),
        ),
        (
            "malformed key",
            server.client.get(&url).bearer_auth("short"),
        ),
        ("unknown key", server.client.get(&url).bearer_auth(unknown)),
    ];

    for (case, request) in requests {
        let response = request.send().await.unwrap();

        assert_eq!(response.headers()["www-authenticate"], "Bearer", "{case}");
        let problem = assert_problem(response, 401, "unauthorized").await;
        assert!(
            !problem["detail"].as_str().unwrap().contains(unknown),
            "{case}"
        );
    }
}

async fn health_and_the_openapi_document_need_no_key(server: TestServer) {
    for path in ["/healthz", "/readyz", "/v1/openapi.json"] {
        let response = server
            .client
            .get(format!("{}{path}", server.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
    }

    let health: Value = server
        .client
        .get(format!("{}/readyz", server.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ready");
}

/// The routes of `src/routes/mod.rs` and their methods, read from the source.
fn declared_routes() -> BTreeMap<String, BTreeSet<String>> {
    let source =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/routes/mod.rs")).unwrap();
    let path = regex::Regex::new(r#"^\s*"([^"]+)""#).unwrap();
    let method = regex::Regex::new(r"\b(get|post|put|delete|patch)\(").unwrap();
    let mut routes = BTreeMap::new();
    for declaration in source.split(".route(").skip(1) {
        let declaration = declaration.split([';']).next().unwrap();
        let declaration = declaration.split(".route_layer").next().unwrap();
        let path = &path.captures(declaration).unwrap()[1];
        let methods = method
            .captures_iter(declaration)
            .map(|m| m[1].to_owned())
            .collect();
        routes.insert(path.to_owned(), methods);
    }
    routes
}

#[tokio::test]
async fn the_openapi_document_is_3_1_and_lists_every_route_with_its_methods() {
    let server = TestServer::sqlite().await;
    let document: Value = server
        .client
        .get(format!("{}/v1/openapi.json", server.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    assert!(
        document["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        document["openapi"]
    );
    let declared = declared_routes();
    assert!(
        declared.len() >= 10,
        "the route table was not read: {declared:?}"
    );
    let documented: BTreeMap<String, BTreeSet<String>> = document["paths"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(path, item)| {
            let methods = item
                .as_object()
                .unwrap()
                .keys()
                .filter(|key| ["get", "post", "put", "delete", "patch"].contains(&key.as_str()))
                .cloned()
                .collect();
            (path.clone(), methods)
        })
        .collect();
    assert_eq!(documented, declared);
    assert!(document["components"]["securitySchemes"]["bearer"].is_object());
}

async fn a_body_that_is_not_declared_json_is_415(server: TestServer) {
    let policy = server.create_policy(&s3_policy()).await;
    let item = format!("/v1/policies/{}", policy["id"].as_str().unwrap());
    let body = s3_policy().to_string();

    for (method, path) in [
        (Method::POST, "/v1/policies"),
        (Method::PUT, item.as_str()),
        (Method::POST, "/v1/evaluations"),
    ] {
        let plain = server
            .request(method.clone(), path)
            .header("content-type", "text/plain")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_problem(plain, 415, "unsupported_media_type").await;

        let none = server
            .request(method, path)
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_problem(none, 415, "unsupported_media_type").await;
    }
    let read = server.get(&item).await.json::<Value>().await.unwrap();
    assert_eq!(read, policy);
}

async fn a_body_over_one_mebibyte_is_413(server: TestServer) {
    let mut body = s3_policy();
    body["description"] = json!("x".repeat(1024 * 1024));

    for path in ["/v1/policies", "/v1/evaluations"] {
        let response = server.post(path, &body).await;
        let problem = assert_problem(response, 413, "payload_too_large").await;
        assert!(problem["detail"].as_str().unwrap().contains("1 MiB"));
    }
    let listed = server
        .get("/v1/policies")
        .await
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(listed["pagination"]["total"], 0);
}

async fn an_unknown_route_is_a_problem_404(server: TestServer) {
    for path in [
        "/v1/nothing",
        "/",
        "/v2/policies",
        "/v1/policies/pol_1/nothing",
    ] {
        assert_problem(server.get(path).await, 404, "not_found").await;
    }
    let anonymous = server
        .client
        .get(format!("{}/v1/nothing", server.base))
        .send()
        .await
        .unwrap();
    assert_problem(anonymous, 404, "not_found").await;
}

async fn a_wrong_method_is_a_problem_405(server: TestServer) {
    for (method, path) in [
        (Method::DELETE, "/v1/policies"),
        (Method::PATCH, "/v1/policies/pol_1"),
        (Method::GET, "/v1/evaluations"),
        (Method::POST, "/healthz"),
    ] {
        let response = server.request(method, path).send().await.unwrap();

        assert!(response.headers().contains_key("allow"), "{path}");
        assert_problem(response, 405, "method_not_allowed").await;
    }
}

async fn a_sent_request_id_is_echoed_and_a_missing_one_is_generated(server: TestServer) {
    let sent = server
        .request(Method::GET, "/v1/policies/pol_missing")
        .header("x-request-id", "trace-42")
        .send()
        .await
        .unwrap();
    assert_eq!(sent.headers()["x-request-id"], "trace-42");
    let problem = assert_problem(sent, 404, "not_found").await;
    assert_eq!(problem["request_id"], "trace-42");

    let generated = server.get("/v1/policies/pol_missing").await;
    let id = generated.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(id.starts_with("req_") && id.len() > 10, "{id}");
    let problem = assert_problem(generated, 404, "not_found").await;
    assert_eq!(problem["request_id"], id.as_str());

    let success = server.get("/healthz").await;
    assert!(success.headers().contains_key("x-request-id"));
    let other = server.get("/healthz").await;
    assert_ne!(
        success.headers()["x-request-id"],
        other.headers()["x-request-id"]
    );
}

#[tokio::test]
async fn a_key_past_its_burst_is_429_with_retry_after() {
    let server = rate_limited_server().await;

    for spent in 1..=3 {
        let response = server.get("/v1/policies").await;
        assert_eq!(response.status(), 200, "request {spent}");
        let policy = response.headers()["ratelimit-policy"].to_str().unwrap();
        assert!(
            policy.contains("q=60") && policy.contains("w=60"),
            "{policy}"
        );
        assert!(response.headers().contains_key("ratelimit"));
    }
    // A token comes back each second; on a slow machine one may have, so allow a few more.
    let refused = first_refusal(&server, ADMIN_KEY).await;

    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after));
    assert!(refused.headers().contains_key("ratelimit"));
    assert!(refused.headers().contains_key("ratelimit-policy"));
    assert_problem(refused, 429, "rate_limited").await;
}

/// Sends requests with `key` until one is refused; answers that one.
async fn first_refusal(server: &TestServer, key: &str) -> reqwest::Response {
    for _ in 0..10 {
        let response = server
            .request_as(key, Method::GET, "/v1/policies")
            .send()
            .await
            .unwrap();
        if response.status() == 429 {
            return response;
        }
        assert_eq!(response.status(), 200);
    }
    panic!("the key was never limited");
}

#[tokio::test]
async fn health_routes_are_never_limited_and_each_key_has_its_own_budget() {
    let server = rate_limited_server().await;
    let second = server.key_with(&["policies:read"]).await;

    first_refusal(&server, &second).await;

    for _ in 0..10 {
        for path in ["/healthz", "/readyz"] {
            let response = server.get(path).await;
            assert_eq!(response.status(), 200, "{path}");
            assert!(!response.headers().contains_key("ratelimit"));
        }
    }
    let admin = server.get("/v1/policies").await;
    assert_eq!(admin.status(), 200, "the admin key's budget is its own");
}

/// Sends a batch evaluation head with `Expect: 100-continue`, waits for the server's
/// `100 Continue` (so the request is being handled), and answers the open connection.
async fn start_evaluation(server: &TestServer, body: &[u8]) -> TcpStream {
    let address = server.base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).await.unwrap();
    let head = format!(
        "POST /v1/evaluations HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {ADMIN_KEY}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nExpect: 100-continue\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();

    let mut seen = Vec::new();
    while !seen.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        assert_eq!(
            stream.read(&mut byte).await.unwrap(),
            1,
            "connection closed"
        );
        seen.push(byte[0]);
    }
    let interim = String::from_utf8(seen).unwrap();
    assert!(interim.starts_with("HTTP/1.1 100"), "{interim}");
    stream
}

#[tokio::test]
async fn a_request_in_flight_at_shutdown_still_completes() {
    let server = TestServer::sqlite().await;
    server.create_policy(&s3_policy()).await;
    let resources: Vec<Value> = (0..500)
        .map(|index| {
            json!({"id": format!("bucket-{index}"), "resource_type": "AWS::S3::Bucket",
                   "resource": {"encryption": {"enabled": index % 2 == 0}}})
        })
        .collect();
    let body = serde_json::to_vec(&json!({ "resources": resources })).unwrap();
    let address = server.base.trim_start_matches("http://").to_owned();

    let mut stream = start_evaluation(&server, &body).await;
    let stopping = tokio::spawn(server.stop());
    // Shutdown has begun once the listener refuses new connections.
    for attempt in 0.. {
        if TcpStream::connect(&address).await.is_err() {
            break;
        }
        assert!(attempt < 1000, "the server never stopped listening");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    stream.write_all(&body).await.unwrap();

    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8(answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer:.300}");
    let json_start = answer.find("\r\n\r\n").unwrap() + 4;
    let evaluation: Value =
        serde_json::from_str(decode_body(&answer[json_start..]).trim()).unwrap();
    assert_eq!(evaluation["results"].as_array().unwrap().len(), 500);
    stopping.await.unwrap();
}

/// The body of an HTTP/1.1 answer, which may come chunked or whole.
fn decode_body(raw: &str) -> String {
    if raw.trim_start().starts_with('{') {
        return raw.to_owned();
    }
    let mut body = String::new();
    let mut rest = raw;
    while let Some((size, after)) = rest.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap();
        if size == 0 {
            break;
        }
        body.push_str(&after[..size]);
        rest = &after[size + 2..];
    }
    body
}

//! A real PolicyCortex server on an ephemeral port, over a real store, for HTTP tests.
//!
//! `TestServer::sqlite()` runs on a fresh SQLite file; `TestServer::postgres()` on a fresh
//! PostgreSQL database when `POLICYCORTEX_TEST_DATABASE_URL` is set (and `None`, with a
//! note, otherwise). [`both_stores!`] declares a test for each; [`both_backings!`] does the
//! same for tests that start their own servers.

#![allow(
    dead_code,
    reason = "each test file uses a different part of the harness"
)]

use std::sync::Arc;

use policycortex_server::{AppState, ServerConfig};
use policycortex_store::testing::PostgresDatabase;
use policycortex_store::{SharedStore, StoreOptions};
use reqwest::{Method, RequestBuilder, Response};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The first admin key of every test server.
pub const ADMIN_KEY: &str = "test-bootstrap-key-0123456789abcdefghij";

/// Where a test server keeps its data, kept alive as long as the server.
pub enum Backing {
    /// A temporary directory holding the SQLite file.
    Sqlite(Arc<tempfile::TempDir>, String),
    /// A scratch PostgreSQL database.
    Postgres(Arc<PostgresDatabase>),
}

impl Backing {
    /// A new SQLite file.
    pub fn sqlite() -> Self {
        let directory = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", directory.path().join("test.db").display());
        Self::Sqlite(Arc::new(directory), url)
    }

    /// A new PostgreSQL database, when a test server is configured.
    pub async fn postgres() -> Option<Self> {
        PostgresDatabase::create()
            .await
            .unwrap()
            .map(|database| Self::Postgres(Arc::new(database)))
    }

    /// The database URL.
    pub fn url(&self) -> &str {
        match self {
            Self::Sqlite(_, url) => url,
            Self::Postgres(database) => &database.url,
        }
    }

    fn share(&self) -> Self {
        match self {
            Self::Sqlite(directory, url) => Self::Sqlite(directory.clone(), url.clone()),
            Self::Postgres(database) => Self::Postgres(database.clone()),
        }
    }
}

/// A running server.
pub struct TestServer {
    /// Such as `http://127.0.0.1:41234`.
    pub base: String,
    /// The store behind the server, for checking stored rows directly.
    pub store: SharedStore,
    /// The client tests send with.
    pub client: reqwest::Client,
    backing: Backing,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl TestServer {
    /// A server on a new SQLite file.
    pub async fn sqlite() -> Self {
        Self::start(Backing::sqlite(), ServerConfig::default()).await
    }

    /// A server on a new PostgreSQL database, or `None` when none is configured.
    pub async fn postgres() -> Option<Self> {
        Some(Self::start(Backing::postgres().await?, ServerConfig::default()).await)
    }

    /// A second server over the same database as this one.
    pub async fn sibling(&self, config: ServerConfig) -> Self {
        Self::start(self.backing.share(), config).await
    }

    /// A server over `backing` with `config`, bootstrapped with [`ADMIN_KEY`].
    pub async fn start(backing: Backing, config: ServerConfig) -> Self {
        Self::start_with_store_options(backing, config, &StoreOptions::default()).await
    }

    /// Stops the server, letting requests in flight finish, and waits for it.
    pub async fn stop(mut self) -> Backing {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
        self.backing.share()
    }

    /// A request to `path` with the admin key.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(ADMIN_KEY)
    }

    /// A request to `path` with `key`.
    pub fn request_as(&self, key: &str, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(key)
    }

    /// `GET path` with the admin key.
    pub async fn get(&self, path: &str) -> Response {
        self.request(Method::GET, path).send().await.unwrap()
    }

    /// `POST path` with a JSON body and the admin key.
    pub async fn post(&self, path: &str, body: &Value) -> Response {
        self.request(Method::POST, path)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// `PUT path` with a JSON body and the admin key.
    pub async fn put(&self, path: &str, body: &Value) -> Response {
        self.request(Method::PUT, path)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// `DELETE path` with the admin key.
    pub async fn delete(&self, path: &str) -> Response {
        self.request(Method::DELETE, path).send().await.unwrap()
    }

    /// Creates a policy and answers its JSON.
    pub async fn create_policy(&self, body: &Value) -> Value {
        let response = self.post("/v1/policies", body).await;
        assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
        response.json().await.unwrap()
    }

    /// Creates a key with `scopes` in the admin's organization; answers the secret.
    pub async fn key_with(&self, scopes: &[&str]) -> String {
        let response = self
            .post("/v1/api-keys", &json!({"name": "test", "scopes": scopes}))
            .await;
        assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
        let created: Value = response.json().await.unwrap();
        created["key"].as_str().unwrap().to_owned()
    }

    /// Creates another organization; answers its admin key.
    pub async fn other_organization(&self) -> String {
        let response = self
            .post("/v1/organizations", &json!({"name": "other"}))
            .await;
        assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
        let created: Value = response.json().await.unwrap();
        created["api_key"]["key"].as_str().unwrap().to_owned()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

/// The reference's first example: require S3 encryption.
pub fn s3_policy() -> Value {
    json!({
        "name": "require-s3-encryption",
        "description": "Ensure all S3 buckets have encryption enabled",
        "resource_type": "AWS::S3::Bucket",
        "rules": [{
            "condition": "resource.encryption.enabled != true",
            "effect": "DENY",
            "message": "S3 bucket must have encryption enabled"
        }],
        "auto_remediation": true
    })
}

/// The reference's second example: require VPC flow logs.
pub fn vpc_policy() -> Value {
    json!({
        "name": "require-vpc-flow-logs",
        "description": "Ensure VPC Flow Logs are enabled",
        "resource_type": "AWS::EC2::VPC",
        "severity": "HIGH",
        "rules": [{
            "condition": "resource.flow_logs.enabled != true",
            "effect": "DENY",
            "message": "VPC must have flow logs enabled"
        }],
        "compliance_frameworks": ["SOC2", "HIPAA"],
        "auto_remediation": false,
        "tags": ["security", "networking"]
    })
}

/// A policy named `name` with one harmless rule.
pub fn named_policy(name: &str) -> Value {
    json!({
        "name": name,
        "resource_type": "AWS::S3::Bucket",
        "rules": [{"condition": "resource.public == true", "effect": "DENY", "message": "no public buckets"}]
    })
}

/// Asserts a problem+json answer with `status` and `code`; answers its body.
pub async fn assert_problem(response: Response, status: u16, code: &str) -> Value {
    assert_eq!(response.status(), status);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(content_type, "application/problem+json");
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], status);
    assert_eq!(body["request_id"], request_id.as_str());
    assert!(
        body["type"].is_string() && body["title"].is_string() && body["detail"].is_string(),
        "{body}"
    );
    body
}

/// The `field` and `code` of each entry of a problem's `errors`.
pub fn error_fields(problem: &Value) -> Vec<(String, String)> {
    problem["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|error| {
                    (
                        error["field"].as_str().unwrap_or("").to_owned(),
                        error["code"].as_str().unwrap_or("").to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Declares one test per store for each listed `async fn name(server: TestServer)`.
#[macro_export]
macro_rules! both_stores {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::support::TestServer::sqlite().await).await })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let Some(server) = super::support::TestServer::postgres().await else { return };
                super::$name(server).await
            })*
        }
    };
}

/// Declares, for each `async fn NAME(backing: Backing)` given, a test on a SQLite
/// backing and one on a PostgreSQL backing, for tests that start their own servers.
#[macro_export]
macro_rules! both_backings {
    ($($name:ident),* $(,)?) => {
        mod sqlite_backing {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::support::Backing::sqlite()).await })*
        }
        mod postgres_backing {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let Some(backing) = super::support::Backing::postgres().await else { return };
                super::$name(backing).await
            })*
        }
    };
}

impl Backing {
    /// A database at `url` that a test runs itself, such as a private PostgreSQL server,
    /// whose files live in `directory`. (The variant only holds the directory and the URL.)
    pub fn at(directory: Arc<tempfile::TempDir>, url: String) -> Self {
        Self::Sqlite(directory, url)
    }
}

impl TestServer {
    /// Like [`TestServer::start`], with the store opened with `options`.
    pub async fn start_with_store_options(
        backing: Backing,
        config: ServerConfig,
        options: &StoreOptions,
    ) -> Self {
        let store = policycortex_store::open(backing.url(), options)
            .await
            .unwrap();
        policycortex_server::bootstrap(&store, Some(ADMIN_KEY))
            .await
            .unwrap();

        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (shutdown, stop) = oneshot::channel();
        let state = AppState::new(store.clone(), config);
        let task = tokio::spawn(policycortex_server::serve(listener, state, async {
            let _ = stop.await;
        }));

        Self {
            base,
            store,
            client: reqwest::Client::new(),
            backing,
            shutdown: Some(shutdown),
            task: Some(task),
        }
    }
}

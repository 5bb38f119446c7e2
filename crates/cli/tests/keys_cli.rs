//! `policycortex keys` with the real binary on a temporary SQLite file: a created key is
//! printed once and works against a server on the same file; `list` never shows secrets;
//! `revoke` stops the key; bad input exits 2 and a broken store exits 3.

use std::process::{Command, Output};

use policycortex_server::{AppState, ServerConfig};
use policycortex_store::StoreOptions;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The URL of a new SQLite database in `directory`.
fn database_url(directory: &tempfile::TempDir) -> String {
    format!("sqlite://{}", directory.path().join("keys.db").display())
}

/// Runs `policycortex keys ARGS --database-url URL`.
fn keys(url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_policycortex"))
        .arg("keys")
        .args(["--database-url", url])
        .args(args)
        .env_remove("POLICYCORTEX_DATABASE_URL")
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

/// `keys create --format json`: answers the organization id and the created key.
fn create(url: &str, extra: &[&str]) -> (String, Value) {
    let mut args = vec!["create", "--format", "json"];
    args.extend_from_slice(extra);
    let output = keys(url, &args);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let printed: Value = serde_json::from_str(&stdout(&output)).unwrap();
    (
        printed["organization_id"].as_str().unwrap().to_owned(),
        printed["api_key"].clone(),
    )
}

/// A server on `url`, answering the status of one request at a time.
struct Server {
    address: std::net::SocketAddr,
    _task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Server {
    async fn start(url: &str) -> Self {
        let store = policycortex_store::open(url, &StoreOptions::default())
            .await
            .unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let state = AppState::new(store, ServerConfig::default());
        let task = tokio::spawn(policycortex_server::serve(
            listener,
            state,
            std::future::pending(),
        ));
        Self {
            address,
            _task: task,
        }
    }

    /// The status code of `GET path` with `key`.
    async fn status(&self, key: &str, path: &str) -> u16 {
        let mut stream = TcpStream::connect(self.address).await.unwrap();
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {key}\r\nConnection: close\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap();
        answer
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("not an HTTP answer: {answer}"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_created_key_is_printed_once_and_works_against_a_server_on_the_same_file() {
    let scratch = tempfile::tempdir().unwrap();
    let url = database_url(&scratch);

    let output = keys(
        &url,
        &[
            "create",
            "--name",
            "ci",
            "--scopes",
            "policies:read,evaluations:run",
        ],
    );

    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let printed = stdout(&output);
    let pattern = regex_lite(&printed);
    let key = pattern.unwrap_or_else(|| panic!("no key in {printed}"));
    assert_eq!(printed.matches(&key).count(), 1);

    let server = Server::start(&url).await;
    assert_eq!(server.status(&key, "/v1/policies").await, 200);
    assert_eq!(server.status(&key, "/v1/audit-events").await, 403);
    assert_eq!(server.status(&key, "/v1/api-keys").await, 403);
    assert_eq!(
        server
            .status("pc_0000000000000000000000000000000_000000", "/v1/policies")
            .await,
        401
    );
}

/// The first word of `text` that has the shape of a generated key.
fn regex_lite(text: &str) -> Option<String> {
    text.split_whitespace()
        .find(|word| {
            word.len() == 42
                && word.starts_with("pc_")
                && policycortex_server::keys::is_well_formed(word)
        })
        .map(str::to_owned)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_shows_no_secret_and_a_revoked_key_stops_working() {
    let scratch = tempfile::tempdir().unwrap();
    let url = database_url(&scratch);
    let (organization, created) = create(&url, &["--name", "ops", "--scopes", "admin"]);
    let id = created["id"].as_str().unwrap();
    let secret = created["key"].as_str().unwrap();
    let (_, second) = create(
        &url,
        &[
            "--name",
            "reader",
            "--scopes",
            "policies:read",
            "--organization",
            &organization,
        ],
    );
    let server = Server::start(&url).await;
    assert_eq!(server.status(secret, "/v1/api-keys").await, 200);

    let listed = keys(&url, &["list", "--organization", &organization]);
    assert_eq!(listed.status.code(), Some(0), "{}", stderr(&listed));
    let text = stdout(&listed);
    assert!(text.contains(id) && text.contains(second["id"].as_str().unwrap()));
    assert!(!text.contains(secret) && !text.contains(second["key"].as_str().unwrap()));
    assert_eq!(text.matches("active").count(), 2, "{text}");
    let json = keys(
        &url,
        &["list", "--organization", &organization, "--format", "json"],
    );
    let json_text = stdout(&json);
    assert!(!json_text.contains(secret));
    assert!(!json_text.contains(&policycortex_server::keys::hash(secret)));
    let parsed: Value = serde_json::from_str(&json_text).unwrap();
    assert_eq!(parsed["data"].as_array().unwrap().len(), 2);

    let revoked = keys(&url, &["revoke", id, "--organization", &organization]);

    assert_eq!(revoked.status.code(), Some(0), "{}", stderr(&revoked));
    assert!(stdout(&revoked).contains(id));
    assert_eq!(server.status(secret, "/v1/api-keys").await, 401);
    let text = stdout(&keys(&url, &["list", "--organization", &organization]));
    let line = text.lines().find(|line| line.contains(id)).unwrap();
    assert!(line.ends_with("revoked"), "{line}");
    assert_eq!(
        server
            .status(second["key"].as_str().unwrap(), "/v1/policies")
            .await,
        200
    );

    let again = keys(&url, &["revoke", id, "--organization", &organization]);
    assert_eq!(again.status.code(), Some(2));
    assert!(stderr(&again).contains(id));
    let elsewhere = keys(
        &url,
        &[
            "revoke",
            second["id"].as_str().unwrap(),
            "--organization",
            "org_other",
        ],
    );
    assert_eq!(elsewhere.status.code(), Some(2));
    assert_eq!(
        server
            .status(second["key"].as_str().unwrap(), "/v1/policies")
            .await,
        200
    );
}

#[test]
fn bad_input_exits_2_and_a_broken_store_exits_3() {
    let scratch = tempfile::tempdir().unwrap();
    let url = database_url(&scratch);

    let unknown_scope = keys(&url, &["create", "--name", "x", "--scopes", "root"]);
    assert_eq!(unknown_scope.status.code(), Some(2));
    assert!(stderr(&unknown_scope).contains("`root`"));

    let past = keys(
        &url,
        &[
            "create",
            "--name",
            "x",
            "--scopes",
            "admin",
            "--expires-at",
            "2001-01-01T00:00:00Z",
        ],
    );
    assert_eq!(past.status.code(), Some(2), "{}", stderr(&past));

    let no_such_organization = keys(
        &url,
        &[
            "create",
            "--name",
            "x",
            "--scopes",
            "admin",
            "--organization",
            "org_nope",
        ],
    );
    assert_eq!(
        no_such_organization.status.code(),
        Some(2),
        "{}",
        stderr(&no_such_organization)
    );

    let usage = keys(&url, &["create", "--name", "x"]);
    assert_eq!(usage.status.code(), Some(2));

    let broken = keys(
        "postgres://nobody@127.0.0.1:1/none",
        &["list", "--organization", "org_x"],
    );
    assert_eq!(broken.status.code(), Some(3), "{}", stderr(&broken));
}

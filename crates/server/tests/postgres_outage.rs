//! The server while its PostgreSQL goes away and comes back: requests answer 503 with a
//! clean problem, readiness fails while liveness holds, and once the database returns the
//! same server serves again, with every row written before the outage.
//!
//! These tests run a private PostgreSQL server of their own (`initdb` and `pg_ctl` from
//! `/usr/lib/postgresql/*/bin` or `/usr/local/bin`, as the `postgres` user when run as
//! root), so that stopping it disturbs nobody. They are skipped, with a note, where those
//! programs are missing or cannot be run.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use policycortex_server::ServerConfig;
use policycortex_store::StoreOptions;
use reqwest::{Method, Response};
use serde_json::{json, Value};
use support::*;

/// A PostgreSQL server of this test's own, on a free port, stopped and deleted on drop.
struct PrivateCluster {
    /// Where `initdb`, `pg_ctl` and `psql` are.
    bin: PathBuf,
    /// Holds the data directory (`data`), the socket and the log; removed last.
    directory: Arc<tempfile::TempDir>,
    /// Runs the programs as the `postgres` user (when the test runs as root).
    as_postgres: bool,
    port: u16,
}

impl PrivateCluster {
    /// Creates and starts a cluster, or prints why it cannot and answers `None`.
    async fn start() -> Option<Self> {
        let Some(bin) = postgres_bin() else {
            eprintln!("skipped: `initdb`, `pg_ctl` and `postgres` were not found");
            return None;
        };
        let as_postgres = is_root();
        if as_postgres && !can_run_as_postgres() {
            eprintln!("skipped: running as root, and `runuser -u postgres` does not work");
            return None;
        }
        let directory = Arc::new(tempfile::tempdir().unwrap());
        if as_postgres {
            let chown = Command::new("chown")
                .arg("postgres")
                .arg(directory.path())
                .status()
                .unwrap();
            assert!(chown.success(), "chown failed");
        }
        let port = free_port();
        let cluster = Self {
            bin,
            directory,
            as_postgres,
            port,
        };

        let data = cluster.data();
        let mut initdb = cluster.run(
            "initdb",
            &["-D", &data, "-A", "trust", "-U", "postgres", "-N"],
        );
        let output = tokio::task::spawn_blocking(move || initdb.stdout(Stdio::null()).output())
            .await
            .unwrap()
            .unwrap();
        assert!(
            output.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        cluster.resume().await;
        Some(cluster)
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres`.
    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn data(&self) -> String {
        self.directory.path().join("data").display().to_string()
    }

    /// A command running `program` of the cluster's binaries, as its owner.
    fn run(&self, program: &str, args: &[&str]) -> Command {
        let program = self.bin.join(program);
        let mut command = if self.as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        };
        command.args(args).stdin(Stdio::null());
        command
    }

    /// Starts the server and waits until it accepts connections.
    async fn resume(&self) {
        let server_options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1",
            self.port,
            self.directory.path().display()
        );
        let log = self.directory.path().join("log").display().to_string();
        let data = self.data();
        // The log file keeps the server's output away from pipes this test would wait on.
        let mut start = self.run(
            "pg_ctl",
            &[
                "-D",
                &data,
                "-o",
                &server_options,
                "-l",
                &log,
                "-w",
                "start",
            ],
        );
        let status = blocking(move || start.stdout(Stdio::null()).status()).await;
        assert!(
            status.success(),
            "pg_ctl start failed: {}",
            std::fs::read_to_string(self.directory.path().join("log")).unwrap_or_default()
        );
    }

    /// Stops the server at once, as a crash would: no shutdown checkpoint, connections cut.
    async fn kill(&self) {
        let mut stop = self.stop_command();
        let status = blocking(move || stop.status()).await;
        assert!(status.success(), "pg_ctl stop failed");
    }

    fn stop_command(&self) -> Command {
        let mut stop = self.run(
            "pg_ctl",
            &["-D", &self.data(), "-m", "immediate", "-w", "stop"],
        );
        stop.stdout(Stdio::null()).stderr(Stdio::null());
        stop
    }

    /// The one value `sql` answers, through `psql`.
    fn query(&self, sql: &str) -> String {
        let port = self.port.to_string();
        let output = self
            .run(
                "psql",
                &[
                    "-h",
                    "127.0.0.1",
                    "-p",
                    &port,
                    "-U",
                    "postgres",
                    "-Atc",
                    sql,
                ],
            )
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "psql failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        // Stopping a stopped server fails; that is fine here.
        let _ = self.stop_command().status();
    }
}

/// Runs a blocking command off the runtime's threads.
async fn blocking(
    run: impl FnOnce() -> std::io::Result<std::process::ExitStatus> + Send + 'static,
) -> std::process::ExitStatus {
    tokio::task::spawn_blocking(run).await.unwrap().unwrap()
}

/// The first directory holding `initdb`, `pg_ctl`, `postgres` and `psql`.
fn postgres_bin() -> Option<PathBuf> {
    let mut candidates: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path().join("bin"))
        .collect();
    candidates.sort();
    candidates.reverse();
    candidates.push(PathBuf::from("/usr/local/bin"));
    candidates.into_iter().find(|directory| {
        ["initdb", "pg_ctl", "postgres", "psql"]
            .iter()
            .all(|program| Path::new(directory).join(program).is_file())
    })
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|output| String::from_utf8_lossy(&output.stdout).trim() == "0")
}

fn can_run_as_postgres() -> bool {
    Command::new("runuser")
        .args(["-u", "postgres", "--", "true"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// A port nobody listens on right now.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Short waits, so that an outage shows quickly.
fn short_timeouts(max_connections: u32) -> StoreOptions {
    StoreOptions {
        max_connections,
        acquire_timeout: Duration::from_secs(2),
        statement_timeout: Duration::from_secs(5),
    }
}

/// A server over `cluster` whose store uses `options`.
async fn server_on(cluster: &PrivateCluster, options: &StoreOptions) -> TestServer {
    let backing = Backing::at(cluster.directory.clone(), cluster.url());
    TestServer::start_with_store_options(backing, ServerConfig::default(), options).await
}

/// Sends `request`, failing the test if no answer comes within a minute: whatever the
/// database does, the server answers in bounded time.
async fn bounded(request: reqwest::RequestBuilder) -> Response {
    request
        .timeout(Duration::from_secs(60))
        .send()
        .await
        .expect("the server answers within a minute")
}

/// Asserts a 503 `service_unavailable` problem that says nothing about the database.
async fn assert_unavailable(response: Response, port: u16) {
    let problem = assert_problem(response, 503, "service_unavailable").await;
    assert_eq!(
        problem["detail"],
        "the service is temporarily unavailable; retry later"
    );
    let text = problem.to_string().to_lowercase();
    for internal in [
        &port.to_string(),
        "127.0.0.1",
        "sqlx",
        "pool",
        "refused",
        "connection",
    ] {
        assert!(!text.contains(internal), "`{internal}` in {problem}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_answers_503_and_the_server_recovers_when_postgresql_returns() {
    let Some(cluster) = PrivateCluster::start().await else {
        return;
    };
    let server = server_on(&cluster, &short_timeouts(4)).await;
    let created = server.create_policy(&s3_policy()).await;
    let path = format!("/v1/policies/{}", created["id"].as_str().unwrap());
    assert_eq!(server.get(&path).await.status(), 200);

    cluster.kill().await;

    let read = bounded(server.request(Method::GET, &path)).await;
    assert_unavailable(read, cluster.port).await;
    let write = bounded(
        server
            .request(Method::POST, "/v1/policies")
            .json(&vpc_policy()),
    )
    .await;
    assert_unavailable(write, cluster.port).await;
    let evaluation = bounded(
        server
            .request(Method::POST, "/v1/evaluations")
            .json(&json!({
                "resource_type": "AWS::S3::Bucket",
                "resource": {"encryption": {"enabled": false}}
            })),
    )
    .await;
    assert_unavailable(evaluation, cluster.port).await;
    let ready = bounded(server.client.get(format!("{}/readyz", server.base))).await;
    assert_unavailable(ready, cluster.port).await;
    let live = bounded(server.client.get(format!("{}/healthz", server.base))).await;
    assert_eq!(live.status(), 200);

    cluster.resume().await;

    // The pool reconnects on the next request that needs a connection; allow a few tries
    // for connections the outage broke to be noticed and replaced.
    let mut ready = false;
    for _ in 0..30 {
        let answer = bounded(server.client.get(format!("{}/readyz", server.base))).await;
        if answer.status() == 200 {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(ready, "the server did not become ready again");
    let read = bounded(server.request(Method::GET, &path)).await;
    assert_eq!(read.status(), 200);
    assert_eq!(read.json::<Value>().await.unwrap(), created);
    let written = bounded(
        server
            .request(Method::POST, "/v1/policies")
            .json(&vpc_policy()),
    )
    .await;
    assert_eq!(written.status(), 201);
    let listed: Value = server.get("/v1/policies").await.json().await.unwrap();
    assert_eq!(listed["pagination"]["total"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pool_never_opens_more_connections_than_configured() {
    let Some(cluster) = PrivateCluster::start().await else {
        return;
    };
    let server = server_on(&cluster, &short_timeouts(2)).await;
    server.create_policy(&s3_policy()).await;

    let mut requests = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let request = server.request(Method::GET, "/v1/policies");
        requests.spawn(async move { request.send().await.unwrap().status() });
    }
    let statuses = requests.join_all().await;

    assert!(statuses.iter().all(|status| *status == 200), "{statuses:?}");
    let connections: u32 = cluster
        .query("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'policycortex'")
        .parse()
        .unwrap();
    assert!((1..=2).contains(&connections), "{connections} connections");
}

//! `policycortex serve` as an operator runs it: the real binary, configured only through
//! its `POLICYCORTEX_*` variables, on a temporary SQLite file. It says where it listens,
//! serves the API with the bootstrap key, stops cleanly on SIGTERM and keeps every
//! acknowledged write across a restart; started with no key and no bootstrap key, it
//! prints a generated admin key once.

#![cfg(unix)]

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const BOOTSTRAP_KEY: &str = "pc_servecli_bootstrap_key_0123456789abcdef";
const STARTUP_WAIT: Duration = Duration::from_secs(60);

/// The URL of a new SQLite database in `directory`.
fn database_url(directory: &tempfile::TempDir) -> String {
    format!("sqlite://{}", directory.path().join("serve.db").display())
}

/// A running `policycortex serve` and the lines it has written to stderr.
struct Served {
    child: Child,
    address: String,
    stdout: String,
    log: Receiver<String>,
}

impl Served {
    /// Starts the binary on `database_url`, with `bootstrap_key` if given, on a free port,
    /// and waits for its "serving" log line.
    fn start(database_url: &str, bootstrap_key: Option<&str>) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_policycortex"));
        command
            .arg("serve")
            .env("POLICYCORTEX_LISTEN", "127.0.0.1:0")
            .env("POLICYCORTEX_DATABASE_URL", database_url)
            .env("POLICYCORTEX_LOG_FORMAT", "json")
            .env("POLICYCORTEX_ACQUIRE_TIMEOUT_MS", "2000")
            .env_remove("POLICYCORTEX_BOOTSTRAP_KEY")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(key) = bootstrap_key {
            command.env("POLICYCORTEX_BOOTSTRAP_KEY", key);
        }
        let mut child = command.spawn().unwrap();

        let log = forward_lines(child.stderr.take().unwrap());
        let address = wait_for_address(&log);
        let mut stdout = String::new();
        if bootstrap_key.is_none() {
            // The announcement is written before the server starts listening.
            let mut pipe = child.stdout.take().unwrap();
            let mut buffer = [0_u8; 4096];
            let read = pipe.read(&mut buffer).unwrap();
            stdout = String::from_utf8_lossy(&buffer[..read]).into_owned();
        }
        Self {
            child,
            address,
            stdout,
            log,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// Sends SIGTERM and waits for the process to exit.
    fn terminate(mut self) -> (ExitStatus, Vec<String>) {
        let signal = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(signal.success());
        let status = self.child.wait().unwrap();
        let lines = self.log.try_iter().collect();
        (status, lines)
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Forwards every line of `pipe` to the returned channel, from a thread of its own.
fn forward_lines(pipe: impl Read + Send + 'static) -> Receiver<String> {
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    receiver
}

/// The address of the "serving" log line.
fn wait_for_address(log: &Receiver<String>) -> String {
    let deadline = Instant::now() + STARTUP_WAIT;
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        let Ok(line) = log.recv_timeout(Duration::from_millis(200)) else {
            continue;
        };
        if let Ok(event) = serde_json::from_str::<Value>(&line) {
            if event["message"] == "serving" {
                return event["listen"].as_str().unwrap().to_owned();
            }
        }
        seen.push(line);
    }
    panic!("the server never said it was serving; it logged: {seen:#?}");
}

fn policy() -> Value {
    json!({
        "name": "require-s3-encryption",
        "resource_type": "AWS::S3::Bucket",
        "rules": [{
            "condition": "resource.encryption.enabled != true",
            "effect": "DENY",
            "message": "S3 bucket must have encryption enabled"
        }]
    })
}

#[tokio::test]
async fn the_binary_serves_stops_on_sigterm_and_keeps_its_data_across_a_restart() {
    let scratch = tempfile::tempdir().unwrap();
    let client = reqwest::Client::new();
    let served = Served::start(&database_url(&scratch), Some(BOOTSTRAP_KEY));

    let created = client
        .post(served.url("/v1/policies"))
        .bearer_auth(BOOTSTRAP_KEY)
        .json(&policy())
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    let path = format!("/v1/policies/{}", created["id"].as_str().unwrap());
    let (status, log) = served.terminate();

    assert!(status.success(), "exit status {status}; log: {log:#?}");
    assert!(
        log.iter().any(|line| line.contains("\"stopped\"")),
        "{log:#?}"
    );
    let restarted = Served::start(&database_url(&scratch), Some(BOOTSTRAP_KEY));
    let read = client
        .get(restarted.url(&path))
        .bearer_auth(BOOTSTRAP_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 200);
    assert_eq!(read.json::<Value>().await.unwrap(), created);
}

#[tokio::test]
async fn a_first_start_without_a_bootstrap_key_prints_a_working_admin_key_once() {
    let scratch = tempfile::tempdir().unwrap();
    let client = reqwest::Client::new();
    let served = Served::start(&database_url(&scratch), None);

    let key = served
        .stdout
        .split_whitespace()
        .find(|word| word.starts_with("pc_"))
        .unwrap_or_else(|| panic!("no key on stdout: {:?}", served.stdout))
        .to_owned();
    let listed = client
        .get(served.url("/v1/policies"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), 200);
    let (status, log) = served.terminate();
    assert!(status.success());
    assert!(
        log.iter().all(|line| !line.contains(&key)),
        "the key was logged"
    );

    let restarted = Served::start(&database_url(&scratch), Some(BOOTSTRAP_KEY));
    let refused = client
        .get(restarted.url("/v1/policies"))
        .bearer_auth(BOOTSTRAP_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(
        refused.status(),
        401,
        "a bootstrap key after the first start is ignored"
    );
}

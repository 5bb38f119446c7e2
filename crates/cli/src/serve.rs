//! `policycortex serve`: the HTTP service on the embedded store or PostgreSQL.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args, ValueEnum};
use policycortex_engine::Limits;
use policycortex_server::{bootstrap, AppState, Bootstrap, ServerConfig};
use policycortex_store::{IdempotencyLifetimes, StoreOptions};
use tokio::net::TcpListener;

use crate::{EXIT_BAD_INPUT, EXIT_FAILURE, EXIT_OK};

/// Flags of `serve`; each has a `POLICYCORTEX_*` environment variable.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "POLICYCORTEX_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// `sqlite://PATH` (the embedded store) or `postgres://USER@HOST:PORT/DB`.
    #[arg(
        long,
        env = "POLICYCORTEX_DATABASE_URL",
        default_value = "sqlite://./policycortex.db"
    )]
    pub database_url: String,
    /// Requests each API key may make a minute.
    #[arg(
        long,
        env = "POLICYCORTEX_RATE_LIMIT_PER_MINUTE",
        default_value_t = 600
    )]
    rate_limit_per_minute: u32,
    /// Requests each API key may make at once, before the per-minute rate applies.
    #[arg(long, env = "POLICYCORTEX_RATE_LIMIT_BURST", default_value_t = 100)]
    rate_limit_burst: u32,
    /// Failed authentications a client address may make a minute (as many at once) before
    /// keys it has not used successfully are refused with 429 unread; 0 turns it off.
    #[arg(
        long,
        env = "POLICYCORTEX_AUTH_FAILURES_PER_MINUTE",
        default_value_t = 60
    )]
    auth_failures_per_minute: u32,
    /// Most database connections.
    #[arg(long, env = "POLICYCORTEX_MAX_CONNECTIONS", default_value_t = 16)]
    max_connections: u32,
    /// Longest a database statement may run, in milliseconds.
    #[arg(
        long,
        env = "POLICYCORTEX_STATEMENT_TIMEOUT_MS",
        default_value_t = 10_000
    )]
    statement_timeout_ms: u64,
    /// Longest a request waits for a free database connection, in milliseconds (then 503).
    #[arg(long, env = "POLICYCORTEX_ACQUIRE_TIMEOUT_MS", default_value_t = 5_000)]
    acquire_timeout_ms: u64,
    /// Most policies one organization may hold.
    #[arg(
        long,
        env = "POLICYCORTEX_MAX_POLICIES_PER_ORGANIZATION",
        default_value_t = 10_000
    )]
    max_policies_per_organization: u64,
    /// Largest accepted request body, in bytes (413 above).
    #[arg(long, env = "POLICYCORTEX_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    max_body_bytes: usize,
    /// Most resources in one batch evaluation.
    #[arg(long, env = "POLICYCORTEX_MAX_BATCH_RESOURCES", default_value_t = 1000)]
    max_batch_resources: usize,
    /// Most rules in one policy.
    #[arg(long, env = "POLICYCORTEX_MAX_RULES_PER_POLICY", default_value_t = 50)]
    max_rules_per_policy: usize,
    /// How long the answer to a create with an `Idempotency-Key` is replayed, in hours.
    #[arg(
        long,
        env = "POLICYCORTEX_IDEMPOTENCY_RETENTION_HOURS",
        default_value_t = 24,
        value_parser = clap::value_parser!(u64).range(1..=8760)
    )]
    idempotency_retention_hours: u64,
    /// Log format.
    #[arg(long, env = "POLICYCORTEX_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

/// How log lines look.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object a line.
    Json,
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("POLICYCORTEX_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}

/// Runs the service until SIGINT or SIGTERM.
pub fn run(args: ServeArgs) -> u8 {
    init_logging(args.log_format);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            tracing::error!(%error, "could not start the runtime");
            return EXIT_FAILURE;
        }
    };
    runtime.block_on(serve(args))
}

async fn serve(args: ServeArgs) -> u8 {
    let options = StoreOptions {
        max_connections: args.max_connections,
        statement_timeout: Duration::from_millis(args.statement_timeout_ms),
        acquire_timeout: Duration::from_millis(args.acquire_timeout_ms),
    };
    let store = match policycortex_store::open(&args.database_url, &options).await {
        Ok(store) => store,
        Err(error) => {
            tracing::error!(%error, "could not open the store");
            return EXIT_FAILURE;
        }
    };

    let bootstrap_key = std::env::var("POLICYCORTEX_BOOTSTRAP_KEY").ok();
    match bootstrap(&store, bootstrap_key.as_deref()).await {
        Ok(outcome) => announce(outcome),
        Err(error) => {
            tracing::error!(%error, "could not bootstrap");
            return EXIT_BAD_INPUT;
        }
    }

    let config = ServerConfig {
        rate_limit_per_minute: args.rate_limit_per_minute,
        rate_limit_burst: args.rate_limit_burst,
        auth_failures_per_minute: args.auth_failures_per_minute,
        max_policies_per_organization: args.max_policies_per_organization,
        max_body_bytes: args.max_body_bytes,
        max_batch_resources: args.max_batch_resources,
        policy_limits: Limits {
            max_rules: args.max_rules_per_policy,
            ..Limits::default()
        },
        idempotency: IdempotencyLifetimes {
            answered: Duration::from_secs(args.idempotency_retention_hours * 60 * 60),
            ..IdempotencyLifetimes::default()
        },
    };
    let listener = match TcpListener::bind(args.listen).await {
        Ok(listener) => listener,
        Err(error) => {
            tracing::error!(%error, listen = %args.listen, "could not listen");
            return EXIT_FAILURE;
        }
    };
    let listen = listener.local_addr().unwrap_or(args.listen);
    tracing::info!(%listen, "serving");

    match policycortex_server::serve(listener, AppState::new(store, config), shutdown_signal())
        .await
    {
        Ok(()) => {
            tracing::info!("stopped");
            EXIT_OK
        }
        Err(error) => {
            tracing::error!(%error, "the server failed");
            EXIT_FAILURE
        }
    }
}

/// Tells the operator how the first start went. A generated key goes to standard output,
/// once, and never through the log.
fn announce(outcome: Bootstrap) {
    match outcome {
        Bootstrap::Generated(key) => {
            println!("No API key existed, so an admin key was created.");
            println!("It is shown only this once:\n\n    {key}\n");
        }
        Bootstrap::FromEnvironment => {
            tracing::info!("POLICYCORTEX_BOOTSTRAP_KEY became the first admin key");
        }
        Bootstrap::KeysExist => {}
    }
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(_) => {
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
    tracing::info!("shutting down; letting requests in flight finish");
}

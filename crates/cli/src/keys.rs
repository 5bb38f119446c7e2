//! `policycortex keys`: API keys managed against the database directly, for the first key
//! of a new deployment and for operators locked out of the API.

use chrono::{DateTime, Utc};
use clap::{Args, Subcommand, ValueEnum};
use policycortex_server::error::ApiError;
use policycortex_server::routes::keys::{issue_key, KeySummary};
use policycortex_store::{Scope, SharedStore, StoreOptions, WriteContext};

use crate::{EXIT_BAD_INPUT, EXIT_FAILURE, EXIT_OK};

/// Flags of `keys`.
#[derive(Debug, Args)]
pub struct KeysArgs {
    /// The database to work on.
    #[arg(
        long,
        env = "POLICYCORTEX_DATABASE_URL",
        default_value = "sqlite://./policycortex.db"
    )]
    database_url: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human, global = true)]
    format: Format,
    #[command(subcommand)]
    command: KeysCommand,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Human,
    Json,
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Create a key; prints its secret once.
    Create {
        /// A label for the key.
        #[arg(long)]
        name: String,
        /// Comma-separated scopes: policies:read, policies:write, evaluations:run,
        /// audit:read, admin, operator.
        #[arg(long, value_delimiter = ',', required = true)]
        scopes: Vec<String>,
        /// The organization the key acts for; a new organization when left out.
        #[arg(long)]
        organization: Option<String>,
        /// When the key stops working (RFC 3339).
        #[arg(long)]
        expires_at: Option<DateTime<Utc>>,
    },
    /// List the keys of an organization, without secrets.
    List {
        /// The organization.
        #[arg(long)]
        organization: String,
    },
    /// Revoke a key.
    Revoke {
        /// The key id, such as `key_…`.
        id: String,
        /// The organization the key belongs to.
        #[arg(long)]
        organization: String,
    },
}

/// Runs `keys`; returns the exit code.
pub fn run(args: KeysArgs) -> u8 {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: could not start the runtime: {error}");
            return EXIT_FAILURE;
        }
    };
    runtime.block_on(async {
        let store =
            match policycortex_store::open(&args.database_url, &StoreOptions::default()).await {
                Ok(store) => store,
                Err(error) => {
                    eprintln!("error: could not open the store: {error}");
                    return EXIT_FAILURE;
                }
            };
        match execute(&store, args.command, args.format).await {
            Ok(()) => EXIT_OK,
            Err((code, message)) => {
                eprintln!("error: {message}");
                code
            }
        }
    })
}

async fn execute(
    store: &SharedStore,
    command: KeysCommand,
    format: Format,
) -> Result<(), (u8, String)> {
    let failed = |error: &dyn std::fmt::Display| (EXIT_FAILURE, error.to_string());
    match command {
        KeysCommand::Create {
            name,
            scopes,
            organization,
            expires_at,
        } => {
            let scopes = scopes
                .iter()
                .map(|name| {
                    Scope::parse(name.trim())
                        .ok_or((EXIT_BAD_INPUT, format!("unknown scope `{name}`")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            if expires_at.is_some_and(|expiry| expiry <= Utc::now()) {
                return Err((
                    EXIT_BAD_INPUT,
                    "`--expires-at` must be in the future".to_owned(),
                ));
            }
            let organization_id = match organization {
                Some(id) => {
                    // The store has no organization lookup; every organization made by
                    // the service or this command holds at least one key.
                    let held = store.list_api_keys(&id).await.map_err(|e| failed(&e))?;
                    if held.is_empty() {
                        return Err((
                            EXIT_BAD_INPUT,
                            format!("no organization `{id}` with keys; leave out `--organization` to make a new one"),
                        ));
                    }
                    id
                }
                None => {
                    store
                        .create_organization("default")
                        .await
                        .map_err(|e| failed(&e))?
                        .id
                }
            };
            let ctx = WriteContext {
                organization_id,
                actor: "cli".into(),
                request_id: "cli".into(),
            };
            let created = issue_key(store, &ctx, name, scopes, expires_at, None)
                .await
                .map_err(|error| match error {
                    // The operator runs this command: show what the service would only log.
                    ApiError::Internal(detail) | ApiError::Unavailable(detail) => {
                        (EXIT_FAILURE, detail)
                    }
                    other => failed(&other),
                })?;
            match format {
                Format::Json => println!(
                    "{}",
                    serde_json::json!({"organization_id": ctx.organization_id, "api_key": created})
                ),
                Format::Human => println!(
                    "Created {} in {}. The key is shown only this once:\n\n    {}\n",
                    created.id, ctx.organization_id, created.key
                ),
            }
        }
        KeysCommand::List { organization } => {
            let keys = store
                .list_api_keys(&organization)
                .await
                .map_err(|e| failed(&e))?;
            let keys: Vec<KeySummary> = keys.into_iter().map(KeySummary::from).collect();
            match format {
                Format::Json => println!("{}", serde_json::json!({ "data": keys })),
                Format::Human => {
                    for key in keys {
                        let state = if key.revoked_at.is_some() {
                            "revoked"
                        } else {
                            "active"
                        };
                        println!(
                            "{}  {}…  {}  [{}]  {state}",
                            key.id,
                            key.prefix,
                            key.name,
                            key.scopes.join(",")
                        );
                    }
                }
            }
        }
        KeysCommand::Revoke { id, organization } => {
            let ctx = WriteContext {
                organization_id: organization,
                actor: "cli".into(),
                request_id: "cli".into(),
            };
            store
                .revoke_api_key(&ctx, &id)
                .await
                .map_err(|error| match error {
                    policycortex_store::StoreError::NotFound => (
                        EXIT_BAD_INPUT,
                        format!("no active key `{id}` in that organization"),
                    ),
                    other => failed(&other),
                })?;
            if format == Format::Human {
                println!("Revoked {id}.");
            }
        }
    }
    Ok(())
}

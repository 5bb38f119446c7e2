//! `/v1/organizations` and `/v1/api-keys`: tenants and the keys that act for them.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::{Extension, Json};
use chrono::{DateTime, Utc};
use policycortex_engine::FieldError;
use policycortex_store::{ApiKey, NewApiKey, Organization, Scope, SharedStore, WriteContext};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, Problem};
use crate::keys;
use crate::routes::json_body;
use crate::state::AppState;

/// The name of a scope, as keys carry them.
#[derive(Debug, Serialize, ToSchema)]
pub enum ScopeName {
    /// Read policies and their versions.
    #[serde(rename = "policies:read")]
    PoliciesRead,
    /// Create, change and delete policies.
    #[serde(rename = "policies:write")]
    PoliciesWrite,
    /// Evaluate resources.
    #[serde(rename = "evaluations:run")]
    EvaluationsRun,
    /// Read the audit trail.
    #[serde(rename = "audit:read")]
    AuditRead,
    /// Every scope of the organization, and its keys.
    #[serde(rename = "admin")]
    Admin,
    /// Create organizations; only an operator key may grant it.
    #[serde(rename = "operator")]
    Operator,
}

/// The body of `POST /v1/organizations`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrganizationCreate {
    /// A display name, 1 to 128 characters, not blank.
    #[schema(min_length = 1, max_length = 128)]
    pub name: String,
}

/// A new organization and its first admin key.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrganizationCreated {
    /// The organization.
    #[schema(value_type = Object)]
    pub organization: Organization,
    /// Its first admin key; the secret is shown this once.
    pub api_key: CreatedKey,
}

/// The body of `POST /v1/api-keys`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyCreate {
    /// A label, 1 to 128 characters, not blank.
    #[schema(min_length = 1, max_length = 128)]
    pub name: String,
    /// At least one scope, each held by the calling key.
    #[schema(value_type = Vec<ScopeName>, min_items = 1)]
    pub scopes: Vec<String>,
    /// When the key stops working (RFC 3339, in the future); never when left out.
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
}

/// A key just made, with its secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedKey {
    /// Such as `key_…`.
    pub id: String,
    /// The secret, shown only in this answer.
    pub key: String,
    /// The label.
    pub name: String,
    /// What the key may do.
    #[schema(value_type = Vec<ScopeName>)]
    pub scopes: Vec<String>,
    /// When the key stops working.
    pub expires_at: Option<DateTime<Utc>>,
    /// When it was made.
    pub created_at: DateTime<Utc>,
}

impl CreatedKey {
    /// The answer for `stored`, whose secret is `secret`.
    fn shown_once(stored: ApiKey, secret: String) -> Self {
        Self {
            id: stored.id,
            key: secret,
            name: stored.name,
            scopes: scope_names(&stored.scopes),
            expires_at: stored.expires_at,
            created_at: stored.created_at,
        }
    }
}

/// A key as lists show it: never the secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeySummary {
    /// Such as `key_…`.
    pub id: String,
    /// The label.
    pub name: String,
    /// The first characters of the secret.
    pub prefix: String,
    /// What the key may do.
    #[schema(value_type = Vec<ScopeName>)]
    pub scopes: Vec<String>,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When the key stops working.
    pub expires_at: Option<DateTime<Utc>>,
    /// When it was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// The keys of an organization.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyList {
    /// Newest first.
    pub data: Vec<KeySummary>,
}

fn scope_names(scopes: &[Scope]) -> Vec<String> {
    scopes
        .iter()
        .map(|scope| scope.as_str().to_owned())
        .collect()
}

impl From<ApiKey> for KeySummary {
    fn from(key: ApiKey) -> Self {
        Self {
            scopes: scope_names(&key.scopes),
            id: key.id,
            name: key.name,
            prefix: key.prefix,
            created_at: key.created_at,
            expires_at: key.expires_at,
            revoked_at: key.revoked_at,
        }
    }
}

/// Parses a JSON body into `T`, naming the field of the first mismatch.
fn typed_body<T: serde::de::DeserializeOwned>(headers: &HeaderMap, body: &[u8]) -> ApiResult<T> {
    let body = json_body(headers, body)?;
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let field = if path == "." { "body".to_owned() } else { path };
        ApiError::InvalidInput(vec![FieldError::new(
            field,
            "invalid_value",
            error.into_inner().to_string(),
        )])
    })
}

fn check_label(field: &str, name: &str) -> ApiResult<()> {
    if name.trim().is_empty() || name.chars().count() > 128 {
        return Err(ApiError::invalid(
            field,
            "invalid_length",
            "must be 1 to 128 characters",
        ));
    }
    Ok(())
}

/// Makes a key, stores its hash, and returns it with its secret.
pub async fn issue_key(
    store: &SharedStore,
    ctx: &WriteContext,
    name: String,
    scopes: Vec<Scope>,
    expires_at: Option<DateTime<Utc>>,
    secret: Option<String>,
) -> ApiResult<CreatedKey> {
    let secret = secret.unwrap_or_else(keys::generate);
    let new_key = NewApiKey {
        organization_id: ctx.organization_id.clone(),
        name,
        scopes,
        key_hash: keys::hash(&secret),
        prefix: keys::display_prefix(&secret),
        expires_at,
    };
    let stored = store.create_api_key(ctx, new_key).await?;
    Ok(CreatedKey::shown_once(stored, secret))
}

/// Create an organization and its first admin key (operator scope).
#[utoipa::path(post, path = "/v1/organizations", operation_id = "create_organization", tag = "organizations", request_body = OrganizationCreate,
    responses(
        (status = 201, description = "The organization and its first admin key", body = OrganizationCreated),
        (status = 400, description = "Invalid input", body = Problem),
        (status = 403, description = "The key lacks `operator`", body = Problem),
    ),
    security(("bearer" = [])))]
pub async fn create_organization(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<OrganizationCreated>)> {
    caller.require(Scope::Operator)?;
    let request: OrganizationCreate = typed_body(&headers, &body)?;
    check_label("name", &request.name)?;

    let secret = keys::generate();
    let first_key = NewApiKey {
        organization_id: String::new(),
        name: "admin".into(),
        scopes: vec![Scope::Admin],
        key_hash: keys::hash(&secret),
        prefix: keys::display_prefix(&secret),
        expires_at: None,
    };
    let (organization, stored) = state
        .store
        .create_organization_with_key(&caller.write_context(), &request.name, first_key)
        .await?;
    let api_key = CreatedKey::shown_once(stored, secret);
    Ok((
        StatusCode::CREATED,
        Json(OrganizationCreated {
            organization,
            api_key,
        }),
    ))
}

/// Create an API key in the caller's organization (admin scope).
#[utoipa::path(post, path = "/v1/api-keys", operation_id = "create_api_key", tag = "api-keys", request_body = KeyCreate,
    responses(
        (status = 201, description = "The key, with its secret shown once", body = CreatedKey),
        (status = 400, description = "Invalid input", body = Problem),
        (status = 403, description = "The key lacks `admin`", body = Problem),
    ),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<CreatedKey>)> {
    caller.require(Scope::Admin)?;
    let request: KeyCreate = typed_body(&headers, &body)?;
    check_label("name", &request.name)?;
    let scopes = parse_scopes(&request.scopes, &caller)?;
    if request
        .expires_at
        .is_some_and(|expiry| expiry <= Utc::now())
    {
        return Err(ApiError::invalid(
            "expires_at",
            "invalid_value",
            "must be in the future",
        ));
    }

    let created = issue_key(
        &state.store,
        &caller.write_context(),
        request.name,
        scopes,
        request.expires_at,
        None,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// Known scopes, at least one, and none the caller lacks (`operator` only from an
/// operator).
fn parse_scopes(names: &[String], caller: &Caller) -> ApiResult<Vec<Scope>> {
    if names.is_empty() {
        return Err(ApiError::invalid(
            "scopes",
            "too_short",
            "must hold at least one scope",
        ));
    }
    let mut scopes = Vec::new();
    let mut errors = Vec::new();
    for (index, name) in names.iter().enumerate() {
        match Scope::parse(name) {
            Some(scope) if caller.require(scope).is_err() => errors.push(FieldError::new(
                format!("scopes[{index}]"),
                "not_grantable",
                format!("a key may only grant scopes it holds; `{name}` is not one of them"),
            )),
            Some(scope) if !scopes.contains(&scope) => scopes.push(scope),
            Some(_) => {}
            None => errors.push(FieldError::new(
                format!("scopes[{index}]"),
                "invalid_value",
                format!("unknown scope `{name}`; use policies:read, policies:write, evaluations:run, audit:read or admin"),
            )),
        }
    }
    if errors.is_empty() {
        Ok(scopes)
    } else {
        Err(ApiError::InvalidInput(errors))
    }
}

/// List the keys of the caller's organization, without secrets (admin scope).
#[utoipa::path(get, path = "/v1/api-keys", operation_id = "list_api_keys", tag = "api-keys",
    responses(
        (status = 200, description = "The keys", body = KeyList),
        (status = 403, description = "The key lacks `admin`", body = Problem),
    ),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Json<KeyList>> {
    caller.require(Scope::Admin)?;
    let keys = state.store.list_api_keys(caller.organization_id()).await?;
    Ok(Json(KeyList {
        data: keys.into_iter().map(KeySummary::from).collect(),
    }))
}

/// Revoke a key of the caller's organization; it stops working at once (admin scope).
#[utoipa::path(delete, path = "/v1/api-keys/{id}", operation_id = "revoke_api_key", tag = "api-keys",
    params(("id" = String, Path, description = "The key id, such as `key_…`")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 403, description = "The key lacks `admin`", body = Problem),
        (status = 404, description = "No such active key in this organization", body = Problem),
    ),
    security(("bearer" = [])))]
pub async fn revoke(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    caller.require(Scope::Admin)?;
    state
        .store
        .revoke_api_key(&caller.write_context(), &id)
        .await
        .map_err(|error| match error {
            policycortex_store::StoreError::NotFound => {
                ApiError::NotFound(format!("no active key `{id}` in this organization"))
            }
            other => other.into(),
        })?;
    Ok(StatusCode::NO_CONTENT)
}

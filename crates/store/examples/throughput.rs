//! Create, get and list throughput of a store, with 16 concurrent tasks.
//!
//! ```sh
//! cargo run --release -p policycortex-store --example throughput -- sqlite
//! cargo run --release -p policycortex-store --example throughput -- postgres://postgres@127.0.0.1:5432/postgres
//! ```
//!
//! `sqlite` uses a fresh file in a temporary directory; a PostgreSQL URL names a server on
//! which a fresh scratch database is created (and dropped afterwards). Prints one line per
//! operation: operations a second and the median and 99th percentile latency.

use std::sync::Arc;
use std::time::{Duration, Instant};

use policycortex_engine::{Effect, PolicySpec, Rule, Severity};
use policycortex_store::testing::PostgresDatabase;
use policycortex_store::{
    PageStart, PolicyQuery, SharedStore, SortField, SortOrder, StoreOptions, WriteContext,
};

const TASKS: usize = 16;
const CREATES: usize = 2_000;
const GETS: usize = 20_000;
const LISTS: usize = 4_000;

fn spec(index: usize) -> PolicySpec {
    let kinds = [
        "AWS::S3::Bucket",
        "AWS::EC2::VPC",
        "AWS::IAM::Role",
        "AWS::RDS::DBInstance",
    ];
    PolicySpec {
        name: format!("policy-{index:05}"),
        description: Some("a policy of the throughput benchmark".into()),
        resource_type: kinds[index % kinds.len()].into(),
        severity: Severity::ALL[index % 4],
        enabled: true,
        rules: vec![Rule {
            condition: "resource.encryption.enabled != true".into(),
            effect: Effect::Deny,
            message: "must be encrypted".into(),
        }],
        compliance_frameworks: vec!["SOC2".into()],
        auto_remediation: false,
        remediation_action: None,
        tags: vec!["security".into(), format!("team-{}", index % 10)],
    }
}

/// Runs `count` operations over `TASKS` tasks; prints throughput and latency.
async fn measure<F, Fut>(label: &str, count: usize, operation: F)
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let operation = Arc::new(operation);
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for task in 0..TASKS {
        let operation = operation.clone();
        tasks.spawn(async move {
            let mut latencies = Vec::new();
            for index in (task..count).step_by(TASKS) {
                let begun = Instant::now();
                operation(index).await;
                latencies.push(begun.elapsed());
            }
            latencies
        });
    }
    let mut latencies: Vec<Duration> = tasks.join_all().await.into_iter().flatten().collect();
    let elapsed = started.elapsed();

    latencies.sort();
    let percentile =
        |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    println!(
        "{label:<7} {count:>6} ops  {:>9.0} ops/s  p50 {:>8.3} ms  p99 {:>8.3} ms",
        count as f64 / elapsed.as_secs_f64(),
        percentile(0.50).as_secs_f64() * 1000.0,
        percentile(0.99).as_secs_f64() * 1000.0,
    );
}

#[tokio::main]
async fn main() {
    let target = std::env::args().nth(1).unwrap_or_else(|| "sqlite".into());
    let directory = tempfile::tempdir().expect("a temporary directory");
    let mut scratch = None;
    let url = if target == "sqlite" {
        format!(
            "sqlite://{}",
            directory.path().join("throughput.db").display()
        )
    } else {
        std::env::set_var("POLICYCORTEX_TEST_DATABASE_URL", &target);
        let database = PostgresDatabase::create()
            .await
            .expect("a scratch database")
            .expect("a url");
        let url = database.url.clone();
        scratch = Some(database);
        url
    };
    let options = StoreOptions {
        max_connections: TASKS as u32,
        ..StoreOptions::default()
    };
    let store: SharedStore = policycortex_store::open(&url, &options)
        .await
        .expect("the store");
    let organization = store
        .create_organization("bench")
        .await
        .expect("an organization");
    let ctx = Arc::new(WriteContext {
        organization_id: organization.id.clone(),
        actor: "bench".into(),
        request_id: "bench".into(),
    });
    println!(
        "store: {}",
        if scratch.is_some() {
            "postgres"
        } else {
            "sqlite"
        }
    );

    let (writer, context) = (store.clone(), ctx.clone());
    let ids = Arc::new(std::sync::Mutex::new(Vec::new()));
    let created = ids.clone();
    measure("create", CREATES, move |index| {
        let (store, ctx, created) = (writer.clone(), context.clone(), created.clone());
        async move {
            let policy = store
                .create_policy(&ctx, &spec(index))
                .await
                .expect("a create");
            created.lock().expect("the id list").push(policy.id);
        }
    })
    .await;

    let ids: Arc<Vec<String>> = Arc::new(ids.lock().expect("the id list").clone());
    let (reader, organization_id) = (store.clone(), Arc::new(organization.id.clone()));
    let org = organization_id.clone();
    measure("get", GETS, move |index| {
        let (store, ids, org) = (reader.clone(), ids.clone(), org.clone());
        async move {
            let id = &ids[index.wrapping_mul(7919) % ids.len()];
            store
                .get_policy(&org, id)
                .await
                .expect("a get")
                .expect("the policy");
        }
    })
    .await;

    let lister = store.clone();
    measure("list", LISTS, move |index| {
        let (store, org) = (lister.clone(), organization_id.clone());
        async move {
            let query = PolicyQuery {
                resource_type: Some("AWS::S3::Bucket".into()),
                severity: None,
                enabled: None,
                tags: vec![format!("team-{}", index % 10)],
                sort_by: SortField::CreatedAt,
                order: SortOrder::Desc,
                limit: 20,
                start: PageStart::Offset(0),
            };
            store.list_policies(&org, &query).await.expect("a list");
        }
    })
    .await;
    drop(store);
    drop(scratch);
}

//! Benchmarks of the evaluation engine over the corpus of `examples/corpus.rs`: 200
//! policies over 5 resource types (about 80 applicable rules per resource) and resources
//! of about 2 KB.
//!
//! Run with `cargo bench -p policycortex-engine --bench evaluate`; `docs/benchmarks.md`
//! explains each group and records the figures. Before the criterion groups, the bench
//! prints the approximate memory of the compiled policy set, measured as the growth of
//! the process's resident set while many copies of the set are built and kept (a counting
//! global allocator would need `unsafe`, which the workspace forbids).

#![expect(
    missing_docs,
    reason = "`criterion_group!` declares an undocumented function"
)]

use std::hint::black_box;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};
use policycortex_engine::validate::{create_from_object, Limits};
use policycortex_engine::{Policy, PolicySet};
use policycortex_lang::Program;
use serde::Deserialize;
use serde_json::Value;

#[expect(
    dead_code,
    reason = "the bench uses the generator's functions, not its `main`"
)]
#[path = "../examples/corpus.rs"]
mod corpus;

/// Resources the per-resource groups cycle through: 400 of each type.
const SAMPLE_RESOURCES: usize = 2_000;

/// One line of `resources.jsonl`.
#[derive(Deserialize)]
struct Line {
    #[expect(
        dead_code,
        reason = "read from the corpus line, not used by the benches"
    )]
    id: String,
    resource_type: String,
    resource: Value,
}

/// Checks policy bodies exactly as the API and `policycortex eval` do.
fn load(bodies: Vec<Value>) -> Vec<Policy> {
    let at = Utc.timestamp_opt(0, 0).single().unwrap_or_default();
    bodies
        .into_iter()
        .enumerate()
        .map(|(index, body)| {
            let Value::Object(object) = body else {
                panic!("policy {index} is not an object");
            };
            let spec = create_from_object(object, &Limits::default())
                .unwrap_or_else(|errors| panic!("policy {index} is invalid: {errors:?}"));
            Policy::from_spec(format!("pol_{index:03}"), spec, at, "bench".into())
        })
        .collect()
}

fn all_policies() -> Vec<Policy> {
    load(corpus::policies())
}

fn lines() -> Vec<String> {
    (0..SAMPLE_RESOURCES).map(corpus::resource_line).collect()
}

fn parsed(lines: &[String]) -> Vec<Line> {
    lines
        .iter()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// One resource at a time on the bench thread: parse + evaluate, evaluate only, the
/// conditions only (no decisions built), parse only. Each iteration takes the next resource of the sample, all types mixed.
fn per_resource(c: &mut Criterion) {
    let policies = all_policies();
    let set = PolicySet::build(&policies).unwrap();
    let lines = lines();
    let parsed = parsed(&lines);
    let mut group = c.benchmark_group("per_resource");
    group.throughput(Throughput::Elements(1));

    let mut next = 0;
    group.bench_function("parse_and_evaluate", |b| {
        b.iter(|| {
            next = (next + 1) % lines.len();
            let line: Line = serde_json::from_str(black_box(&lines[next])).unwrap();
            set.evaluate(&line.resource_type, &line.resource)
        })
    });
    group.bench_function("evaluate", |b| {
        b.iter(|| {
            next = (next + 1) % parsed.len();
            let line = &parsed[next];
            set.evaluate(black_box(&line.resource_type), black_box(&line.resource))
        })
    });

    // The conditions alone, without building decisions: what the language costs.
    let programs: Vec<(&str, Vec<Program>)> = corpus::RESOURCE_TYPES
        .iter()
        .map(|kind| {
            let rules = policies
                .iter()
                .filter(|policy| policy.resource_type == *kind)
                .flat_map(|policy| &policy.rules)
                .map(|rule| policycortex_lang::compile(&rule.condition).unwrap())
                .collect();
            (*kind, rules)
        })
        .collect();
    group.bench_function("conditions_only", |b| {
        b.iter(|| {
            next = (next + 1) % parsed.len();
            let line = &parsed[next];
            let (_, rules) = programs
                .iter()
                .find(|(kind, _)| *kind == line.resource_type)
                .unwrap();
            let resource = black_box(&line.resource);
            rules.iter().filter(|rule| rule.holds(resource)).count()
        })
    });
    group.bench_function("parse", |b| {
        b.iter(|| {
            next = (next + 1) % lines.len();
            serde_json::from_str::<Line>(black_box(&lines[next])).unwrap()
        })
    });
    group.finish();
}

/// Building the set of all 200 policies: every condition lexed, parsed, checked and
/// compiled, regexes included.
fn compile(c: &mut Criterion) {
    let policies = all_policies();
    c.bench_function("compile/200_policies", |b| {
        b.iter(|| PolicySet::build(black_box(&policies)).unwrap())
    });
}

/// The same resources of one type against its 40 policies alone, and against those 40
/// plus the 160 policies of the other types: the cost should not change.
fn isolation(c: &mut Criterion) {
    let all = all_policies();
    let own: Vec<Policy> = all
        .iter()
        .filter(|policy| policy.resource_type == corpus::RESOURCE_TYPES[0])
        .cloned()
        .collect();
    let sets = [
        ("40_applicable", PolicySet::build(&own).unwrap()),
        (
            "40_applicable_plus_160_other",
            PolicySet::build(&all).unwrap(),
        ),
    ];
    let lines = lines();
    let resources: Vec<Line> = parsed(&lines)
        .into_iter()
        .filter(|line| line.resource_type == corpus::RESOURCE_TYPES[0])
        .collect();

    let mut group = c.benchmark_group("isolation");
    group.throughput(Throughput::Elements(1));
    for (name, set) in &sets {
        let mut next = 0;
        group.bench_function(*name, |b| {
            b.iter(|| {
                next = (next + 1) % resources.len();
                let line = &resources[next];
                set.evaluate(black_box(&line.resource_type), black_box(&line.resource))
            })
        });
    }
    group.finish();
}

/// `PolicySet::evaluate_batch` over the 2,000 sample resources (pre-parsed) on rayon
/// pools of 1 and 2 threads.
fn batch(c: &mut Criterion) {
    let set = PolicySet::build(&all_policies()).unwrap();
    let lines = lines();
    let parsed = parsed(&lines);
    let batch: Vec<(&str, &Value)> = parsed
        .iter()
        .map(|line| (line.resource_type.as_str(), &line.resource))
        .collect();

    let mut group = c.benchmark_group("batch_2000");
    group.throughput(Throughput::Elements(batch.len() as u64));
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(10));
    for threads in [1, 2] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        group.bench_with_input(BenchmarkId::new("threads", threads), &batch, |b, batch| {
            b.iter(|| pool.install(|| set.evaluate_batch(black_box(batch))))
        });
    }
    group.finish();
}

/// The resident set size of this process, in bytes (Linux only; 0 elsewhere).
fn resident_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|field| field.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// Prints the approximate memory of the compiled set of 200 policies: the growth of the
/// resident set while `COPIES` independent sets are built and kept, divided by `COPIES`.
fn report_memory() {
    const COPIES: usize = 50;
    let policies = all_policies();
    let source_bytes: usize = policies
        .iter()
        .flat_map(|policy| &policy.rules)
        .map(|rule| rule.condition.len() + rule.message.len())
        .sum();

    let before = resident_bytes();
    let sets: Vec<PolicySet> = (0..COPIES)
        .map(|_| PolicySet::build(&policies).unwrap())
        .collect();
    let after = resident_bytes();
    black_box(&sets);

    let rules: usize = policies.iter().map(|policy| policy.rules.len()).sum();
    println!(
        "memory: compiled set of {} policies ({rules} rules, {source_bytes} bytes of \
         conditions and messages) ≈ {} KiB resident (growth of {COPIES} copies / {COPIES})",
        sets[0].len(),
        (after.saturating_sub(before)) / COPIES / 1024,
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(2));
    targets = per_resource, compile, isolation, batch
}

fn main() {
    report_memory();
    benches();
    Criterion::default().configure_from_args().final_summary();
}

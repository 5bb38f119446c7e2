//! Rough timing of evaluation: 80 typical rules against a 2 KB resource.
//!
//! Run with `cargo run --release -p policycortex-lang --example timing`.

use std::time::Instant;

use policycortex_lang::{compile, CompileError, Program};
use serde_json::{json, Value};

/// A resource of about 2 KB, shaped like a cloud inventory entry.
fn resource() -> Value {
    let rules: Vec<Value> = (0..8)
        .map(|i| json!({"port": 20 + i * 100, "protocol": "tcp", "cidr": format!("10.{i}.0.0/16")}))
        .collect();
    json!({
        "id": "arn:aws:s3:::logs-prod-eu-west-1",
        "type": "aws_s3_bucket",
        "name": "logs-prod-eu-west-1",
        "region": "eu-west-1",
        "public": false,
        "versioning": {"enabled": true, "mfa_delete": false},
        "encryption": {"enabled": true, "algorithm": "aws:kms", "key_id": "arn:aws:kms:key/1234"},
        "logging": {"enabled": true, "target": "audit-logs"},
        "tags": {"env": "prod", "team": "platform", "cost-center": "cc-42", "Owner": "Ops"},
        "ingress": rules,
        "lifecycle": [{"days": 30, "action": "transition"}, {"days": 365, "action": "expire"}],
        "acl": {"grants": [{"grantee": "owner", "permission": "FULL_CONTROL"}]},
        "size_bytes": 123_456_789,
        "objects": 4242,
        "created": "2024-01-01T00:00:00Z",
        "notes": "x".repeat(600),
    })
}

/// Sixteen rule shapes, five variants each.
fn rules() -> Result<Vec<Program>, CompileError> {
    let shapes = [
        "resource.encryption.enabled != true",
        "resource.public == true",
        "resource.versioning.enabled != true || resource.versioning.mfa_delete == true",
        "!has(resource.logging.target)",
        "resource.tags.env in ['prod', 'staging', 'dev']",
        "resource.region.startsWith('us-')",
        "resource.name.matches('^[a-z0-9-]+$') == false",
        "resource.ingress.exists(r, r.cidr == '0.0.0.0/0' && r.port == 22)",
        "resource.lifecycle.all(l, l.days < 10)",
        "size(resource.tags) < 3",
        "resource.tags.Owner.lowerAscii() != 'ops'",
        "resource.size_bytes > 1e12",
        "resource.acl.grants.exists(g, g.grantee == 'AllUsers')",
        "!('cost-center' in resource.tags)",
        "resource.encryption.algorithm != 'aws:kms' && resource.type == 'aws_s3_bucket'",
        "resource.objects >= 100000 && resource.tags['team'] == 'platform'",
    ];
    let mut programs = Vec::new();
    for variant in 0..5 {
        for shape in shapes {
            programs.push(compile(&format!("{shape} && {variant} >= 0"))?);
        }
    }
    Ok(programs)
}

/// The fastest of several batches, in nanoseconds per call: on a shared machine the
/// minimum is a steadier estimate than the mean.
fn fastest(batches: u32, rounds: u32, mut work: impl FnMut()) -> f64 {
    (0..batches)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..rounds {
                work();
            }
            start.elapsed().as_nanos() as f64 / f64::from(rounds)
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() -> Result<(), CompileError> {
    let doc = resource();
    let programs = rules()?;

    let per_resource = fastest(20, 1000, || {
        let held = programs
            .iter()
            .filter(|p| p.holds(std::hint::black_box(&doc)))
            .count();
        std::hint::black_box(held);
    });
    println!("resource: {} bytes", doc.to_string().len());
    println!(
        "{} rules: {:.1} µs per resource, {:.0} ns per rule",
        programs.len(),
        per_resource / 1000.0,
        per_resource / programs.len() as f64
    );

    // Per shape, to see where the time goes.
    for program in programs.iter().take(16) {
        let ns = fastest(20, 2000, || {
            std::hint::black_box(program.holds(std::hint::black_box(&doc)));
        });
        println!("{ns:>6.0} ns  {}", program.source());
    }
    Ok(())
}

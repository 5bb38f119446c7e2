//! The benchmark corpus: 200 policies over 5 resource types and 100,000 resources of
//! about 2 KB each, generated from a fixed seed so every run produces the same bytes.
//!
//! Run with `cargo run --release -p policycortex-engine --example corpus -- [DIR]
//! [--resources N]`; it writes `DIR/policies.json` (a JSON array of policy bodies, as
//! `policycortex eval --policies` and `POST /v1/policies` take them) and
//! `DIR/resources.jsonl` (one `{"id", "resource_type", "resource"}` a line). `DIR`
//! defaults to `bench-data`.
//!
//! Each resource type gets 40 policies of 1 to 3 rules (79 rules per type), so a resource
//! meets about 80 applicable rules. The conditions use every kind of expression of the
//! language: comparisons, arithmetic, `in` over lists and objects, `has()`, `size()`,
//! the string functions, `matches`, the three macros (nested too), the logical operators
//! and fields that some resources lack. The benchmarks in `benches/evaluate.rs` include
//! this file to build the same corpus in memory.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

use serde_json::{json, Map, Value};

/// The resource types of the corpus.
pub const RESOURCE_TYPES: [&str; 5] = [
    "AWS::S3::Bucket",
    "AWS::EC2::Instance",
    "AWS::EC2::SecurityGroup",
    "AWS::IAM::Role",
    "AWS::RDS::DBInstance",
];

/// Policies per resource type.
pub const POLICIES_PER_TYPE: usize = 40;

/// Resources written by default.
pub const DEFAULT_RESOURCES: usize = 100_000;

/// The seed of every generated resource; resource `i` uses `SEED ^ i`.
const SEED: u64 = 0x5eed_c0de_2024_0001;

/// A xorshift64* generator: small, fast and good enough for test data.
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed`; a zero seed is moved off zero.
    pub fn new(seed: u64) -> Self {
        let mut rng = Self(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        rng.next_u64();
        rng
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// True with a chance of `percent` in 100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// One of `items`.
    pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }

    /// A lowercase hex string of `digits` digits.
    pub fn hex(&mut self, digits: usize) -> String {
        (0..digits)
            .map(|_| char::from_digit(self.below(16) as u32, 16).unwrap_or('0'))
            .collect()
    }
}

const REGIONS: [&str; 8] = [
    "us-east-1",
    "us-east-2",
    "us-west-2",
    "eu-west-1",
    "eu-central-1",
    "ap-southeast-1",
    "ap-northeast-1",
    "sa-east-1",
];
const ENVS: [&str; 5] = ["prod", "staging", "dev", "test", "Prod"];
const TEAMS: [&str; 6] = [
    "platform", "Payments", "data", "ml-infra", "security", "web",
];
const WORDS: [&str; 12] = [
    "alpha", "orders", "billing", "logs", "legacy", "temp", "search", "archive", "events", "users",
    "metrics", "cache",
];

/// Inserts `value` under `key` with a chance of `percent` in 100: missing fields.
fn maybe(
    object: &mut Map<String, Value>,
    rng: &mut Rng,
    percent: u64,
    key: &str,
    value: impl FnOnce(&mut Rng) -> Value,
) {
    if rng.chance(percent) {
        let value = value(rng);
        object.insert(key.to_owned(), value);
    }
}

/// The fields every resource type shares.
fn common(rng: &mut Rng, index: usize, kind: &str) -> Map<String, Value> {
    let word = rng.pick(&WORDS);
    let env = rng.pick(&ENVS);
    let name = if rng.chance(90) {
        format!("{word}-{env}-{index}").to_ascii_lowercase()
    } else {
        format!("{}_{word}_{index}", rng.pick(&TEAMS)).to_ascii_uppercase()
    };

    let mut tags = Map::new();
    tags.insert("env".into(), json!(env));
    maybe(&mut tags, rng, 85, "team", |rng| json!(rng.pick(&TEAMS)));
    maybe(&mut tags, rng, 80, "owner", |rng| {
        json!(format!("{}@example.com", rng.pick(&WORDS)))
    });
    maybe(&mut tags, rng, 75, "cost-center", |rng| {
        json!(format!("cc-{}", rng.below(100)))
    });
    maybe(&mut tags, rng, 60, "project", |rng| json!(rng.pick(&WORDS)));
    maybe(&mut tags, rng, 30, "data-classification", |rng| {
        json!(rng.pick(&["public", "internal", "confidential"]))
    });
    maybe(&mut tags, rng, 20, "compliance", |rng| {
        json!(rng.pick(&["pci", "hipaa", "sox"]))
    });

    let labels: Vec<Value> = (0..rng.below(5)).map(|_| json!(rng.pick(&WORDS))).collect();
    let mut object = Map::new();
    object.insert(
        "arn".into(),
        json!(format!(
            "arn:aws:{kind}:{}:{}:{name}",
            rng.pick(&REGIONS),
            100_000_000_000 + rng.below(900_000_000_000)
        )),
    );
    object.insert("name".into(), json!(name));
    object.insert(
        "account_id".into(),
        json!(format!("{:012}", rng.below(1_000_000_000_000))),
    );
    object.insert("region".into(), json!(rng.pick(&REGIONS)));
    object.insert(
        "created_at".into(),
        json!(format!(
            "20{:02}-{:02}-{:02}T{:02}:00:00Z",
            18 + rng.below(7),
            1 + rng.below(12),
            1 + rng.below(28),
            rng.below(24)
        )),
    );
    object.insert("tags".into(), Value::Object(tags));
    object.insert("labels".into(), Value::Array(labels));
    let description: Vec<&str> = (0..8 + rng.below(12)).map(|_| rng.pick(&WORDS)).collect();
    object.insert("description".into(), json!(description.join(" ")));
    object
}

fn bucket(rng: &mut Rng, object: &mut Map<String, Value>) {
    maybe(object, rng, 85, "encryption", |rng| {
        json!({
            "enabled": rng.chance(80),
            "algorithm": rng.pick(&["aws:kms", "AES256", "aws:kms:dsse"]),
            "kms_key_id": format!("arn:aws:kms:key/{}", rng.hex(32)),
        })
    });
    object.insert(
        "versioning".into(),
        json!({"enabled": rng.chance(70), "mfa_delete": rng.chance(30)}),
    );
    maybe(
        object,
        rng,
        70,
        "logging",
        |rng| json!({"enabled": rng.chance(80), "target_bucket": format!("{}-access-logs", rng.pick(&WORDS))}),
    );
    object.insert(
        "public_access_block".into(),
        json!({
            "block_public_acls": rng.chance(85),
            "block_public_policy": rng.chance(85),
            "ignore_public_acls": rng.chance(85),
            "restrict_public_buckets": rng.chance(85),
        }),
    );
    let grants: Vec<Value> = (0..1 + rng.below(4))
        .map(|_| json!({
            "grantee": rng.pick(&["owner", "owner", "log-delivery", "AllUsers", "AuthenticatedUsers"]),
            "permission": rng.pick(&["FULL_CONTROL", "READ", "WRITE", "READ_ACP"]),
        }))
        .collect();
    object.insert(
        "acl".into(),
        json!({"owner": rng.hex(16), "grants": grants}),
    );
    let lifecycle: Vec<Value> = (0..rng.below(4))
        .map(|i| json!({"id": format!("rule-{i}"), "days": 1 + rng.below(400), "action": rng.pick(&["transition", "expire", "abort-multipart"])}))
        .collect();
    object.insert("lifecycle_rules".into(), Value::Array(lifecycle));
    let statements: Vec<Value> = (0..rng.below(4))
        .map(|_| json!({
            "effect": rng.pick(&["Allow", "Allow", "Deny"]),
            "principal": rng.pick(&["*", "arn:aws:iam::123456789012:root", "cloudfront.amazonaws.com"]),
            "actions": ["s3:GetObject", rng.pick(&["s3:PutObject", "s3:*", "s3:ListBucket"])],
        }))
        .collect();
    object.insert("policy_statements".into(), Value::Array(statements));
    object.insert("size_bytes".into(), json!(rng.below(5_000_000_000_000)));
    object.insert("object_count".into(), json!(rng.below(10_000_000)));
    object.insert(
        "storage_class".into(),
        json!(rng.pick(&["STANDARD", "INTELLIGENT_TIERING", "GLACIER"])),
    );
}

fn instance(rng: &mut Rng, object: &mut Map<String, Value>) {
    object.insert("instance_id".into(), json!(format!("i-{}", rng.hex(17))));
    object.insert(
        "instance_type".into(),
        json!(rng.pick(&[
            "t2.micro",
            "t3.large",
            "m5.large",
            "m5.4xlarge",
            "c6i.2xlarge",
            "r6g.xlarge",
            "p3.8xlarge"
        ])),
    );
    object.insert(
        "image_id".into(),
        json!(if rng.chance(95) {
            format!("ami-{}", rng.hex(17))
        } else {
            "custom-image".to_owned()
        }),
    );
    object.insert(
        "state".into(),
        json!(rng.pick(&["running", "running", "stopped", "pending"])),
    );
    object.insert("monitoring".into(), json!({"enabled": rng.chance(60)}));
    maybe(
        object,
        rng,
        80,
        "metadata_options",
        |rng| json!({"http_tokens": rng.pick(&["required", "optional"]), "hop_limit": 1 + rng.below(3)}),
    );
    let volumes: Vec<Value> = (0..1 + rng.below(4))
        .map(|i| {
            json!({
                "device": format!("/dev/xvd{}", char::from(b'a' + i as u8)),
                "size_gb": 8 + rng.below(1000),
                "encrypted": rng.chance(75),
                "type": rng.pick(&["gp3", "gp2", "io1", "st1"]),
            })
        })
        .collect();
    object.insert("ebs_volumes".into(), Value::Array(volumes));
    let groups: Vec<Value> = (0..1 + rng.below(6))
        .map(|_| json!(format!("sg-{}", rng.hex(17))))
        .collect();
    object.insert("security_groups".into(), Value::Array(groups));
    maybe(object, rng, 35, "public_ip", |rng| {
        json!(format!(
            "{}.{}.{}.{}",
            3 + rng.below(200),
            rng.below(256),
            rng.below(256),
            rng.below(256)
        ))
    });
    maybe(object, rng, 70, "iam_instance_profile", |rng| {
        json!(format!("arn:aws:iam::role/{}", rng.pick(&WORDS)))
    });
    object.insert(
        "cpu_options".into(),
        json!({"core_count": 1 + rng.below(32), "threads_per_core": 1 + rng.below(2)}),
    );
    object.insert("subnet_id".into(), json!(format!("subnet-{}", rng.hex(17))));
}

fn security_group(rng: &mut Rng, object: &mut Map<String, Value>) {
    object.insert("group_id".into(), json!(format!("sg-{}", rng.hex(17))));
    object.insert(
        "vpc_id".into(),
        json!(if rng.chance(95) {
            format!("vpc-{}", rng.hex(17))
        } else {
            "default".to_owned()
        }),
    );
    let rule = |rng: &mut Rng| {
        let port = *[22u64, 80, 443, 3389, 5432, 8080, 0]
            .get(rng.below(7) as usize)
            .unwrap_or(&0);
        json!({
            "protocol": rng.pick(&["tcp", "tcp", "udp", "-1"]),
            "from_port": port,
            "to_port": port + rng.below(3) * 10,
            "cidr": rng.pick(&["0.0.0.0/0", "10.0.0.0/8", "172.16.0.0/12", "192.168.1.0/24", "::/0"]),
        })
    };
    let ingress: Vec<Value> = (0..rng.below(8)).map(|_| rule(rng)).collect();
    let egress: Vec<Value> = (0..1 + rng.below(3)).map(|_| rule(rng)).collect();
    object.insert("ingress".into(), Value::Array(ingress));
    object.insert("egress".into(), Value::Array(egress));
}

fn role(rng: &mut Rng, object: &mut Map<String, Value>) {
    object.insert(
        "path".into(),
        json!(rng.pick(&["/", "/service-role/", "/admin/"])),
    );
    let statements: Vec<Value> = (0..1 + rng.below(3))
        .map(|_| json!({
            "effect": "Allow",
            "principal": {"service": rng.pick(&["ec2.amazonaws.com", "lambda.amazonaws.com"]), "aws": rng.pick(&["arn:aws:iam::123456789012:root", "*", "arn:aws:iam::210987654321:root"])},
            "action": "sts:AssumeRole",
        }))
        .collect();
    object.insert(
        "assume_role_policy".into(),
        json!({"version": "2012-10-17", "statements": statements}),
    );
    let attached: Vec<Value> = (0..rng.below(8))
        .map(|_| {
            json!(rng.pick(&[
                "ReadOnlyAccess",
                "AdministratorAccess",
                "AmazonS3FullAccess",
                "CloudWatchLogsFullAccess",
                "AmazonEC2ReadOnlyAccess"
            ]))
        })
        .collect();
    object.insert("attached_policies".into(), Value::Array(attached));
    let inline: Vec<Value> = (0..rng.below(3))
        .map(|i| {
            let actions: Vec<Value> = (0..1 + rng.below(4))
                .map(|_| {
                    json!(rng.pick(&["s3:GetObject", "s3:*", "*", "ec2:Describe*", "iam:PassRole"]))
                })
                .collect();
            let resources: Vec<Value> = (0..1 + rng.below(2))
                .map(|_| {
                    json!(rng.pick(&["*", "arn:aws:s3:::bucket/*", "arn:aws:ec2:*:*:instance/*"]))
                })
                .collect();
            json!({"name": format!("inline-{i}"), "actions": actions, "resources": resources})
        })
        .collect();
    object.insert("inline_policies".into(), Value::Array(inline));
    object.insert(
        "max_session_duration".into(),
        json!(3600 * (1 + rng.below(12))),
    );
    maybe(object, rng, 40, "permissions_boundary", |rng| {
        json!(format!("arn:aws:iam::policy/{}", rng.pick(&WORDS)))
    });
    maybe(
        object,
        rng,
        80,
        "last_used",
        |rng| json!({"days_ago": rng.below(400), "region": rng.pick(&REGIONS)}),
    );
}

fn database(rng: &mut Rng, object: &mut Map<String, Value>) {
    let engine = rng.pick(&[
        "mysql",
        "postgres",
        "aurora-postgresql",
        "mariadb",
        "sqlserver-se",
    ]);
    object.insert("engine".into(), json!(engine));
    object.insert(
        "engine_version".into(),
        json!(format!(
            "{}.{}",
            rng.pick(&["5", "8", "13", "14", "15"]),
            rng.below(10)
        )),
    );
    object.insert(
        "instance_class".into(),
        json!(rng.pick(&[
            "db.t2.micro",
            "db.t3.medium",
            "db.m5.large",
            "db.r6g.xlarge"
        ])),
    );
    object.insert("storage".into(), json!({"encrypted": rng.chance(80), "size_gb": 20 + rng.below(2000), "type": rng.pick(&["gp2", "gp3", "io1"])}));
    object.insert("multi_az".into(), json!(rng.chance(50)));
    object.insert("publicly_accessible".into(), json!(rng.chance(10)));
    object.insert("backup_retention_days".into(), json!(rng.below(36)));
    maybe(object, rng, 70, "deletion_protection", |rng| {
        json!(rng.chance(60))
    });
    object.insert("endpoint".into(), json!({"address": format!("{}.{}.rds.amazonaws.com", rng.pick(&WORDS), rng.hex(12)), "port": *[3306u64, 5432, 1433, 15432].get(rng.below(4) as usize).unwrap_or(&3306)}));
    let mut parameters = Map::new();
    for name in [
        "rds.force_ssl",
        "log_connections",
        "max_connections",
        "ssl",
        "audit_log",
    ] {
        maybe(&mut parameters, rng, 50, name, |rng| {
            json!(rng.pick(&["0", "1", "on", "off"]))
        });
    }
    object.insert("parameters".into(), Value::Object(parameters));
    maybe(object, rng, 60, "iam_auth", |rng| json!(rng.chance(50)));
}

/// Resource `index` of the corpus: its type is `index % 5`, its fields come from a
/// generator seeded by `index`.
pub fn resource(index: usize) -> (&'static str, Value) {
    let kind = index % RESOURCE_TYPES.len();
    let mut rng = Rng::new(SEED ^ index as u64);
    let service = ["s3", "ec2", "ec2", "iam", "rds"][kind];
    let mut object = common(&mut rng, index, service);
    match kind {
        0 => bucket(&mut rng, &mut object),
        1 => instance(&mut rng, &mut object),
        2 => security_group(&mut rng, &mut object),
        3 => role(&mut rng, &mut object),
        _ => database(&mut rng, &mut object),
    }

    // Padding that no condition reads, to bring documents near 2 KB as inventories are.
    let notes: Vec<Value> = (0..9 + rng.below(6))
        .map(|_| json!({"at": format!("2024-{:02}-{:02}", 1 + rng.below(12), 1 + rng.below(28)), "by": rng.pick(&WORDS), "text": format!("{} {} {}", rng.pick(&WORDS), rng.hex(24), rng.pick(&WORDS))}))
        .collect();
    object.insert("change_history".into(), Value::Array(notes));
    (RESOURCE_TYPES[kind], Value::Object(object))
}

/// The JSON Lines record of resource `index`.
pub fn resource_line(index: usize) -> String {
    let (resource_type, resource) = resource(index);
    json!({"id": format!("r-{index:06}"), "resource_type": resource_type, "resource": resource})
        .to_string()
}

/// Conditions every resource type can use; `{k}` is a small number that varies per use.
const COMMON_CONDITIONS: [&str; 10] = [
    "resource.tags.env == 'prod' && !has(resource.tags.owner)",
    "!('cost-center' in resource.tags)",
    "!(resource.region in ['us-east-1', 'us-west-2', 'eu-west-1', 'eu-central-1'])",
    "resource.name.matches('^[a-z][a-z0-9-]{2,62}$') == false",
    "resource.tags.team.lowerAscii() != resource.tags.team",
    "size(resource.tags) < {k}",
    "has(resource.tags['cost-center']) && !resource.tags['cost-center'].startsWith('cc-')",
    "resource.labels.exists(l, l.contains('legacy') || l == 'temp')",
    "resource.tags.compliance == 'pci' && resource.tags['data-classification'] != 'confidential'",
    "resource.description.size() > {k}0 || resource.created_at < '2019-0{k}-01'",
];

/// Conditions of each resource type, in the order of [`RESOURCE_TYPES`].
const TYPE_CONDITIONS: [&[&str]; 5] = [
    &[
        "resource.encryption.enabled != true",
        "resource.encryption.algorithm != 'aws:kms' && resource.tags.env == 'prod'",
        "resource.versioning.enabled != true || resource.versioning.mfa_delete == false",
        "!has(resource.logging.target_bucket)",
        "resource.acl.grants.exists(g, g.grantee == 'AllUsers' || g.grantee == 'AuthenticatedUsers')",
        "resource.lifecycle_rules.all(r, r.days > {k}0)",
        "resource.public_access_block.block_public_acls != true || !resource.public_access_block.restrict_public_buckets",
        "resource.size_bytes >= {k}00000000000 && resource.object_count > {k}000",
        "resource.policy_statements.exists_one(s, s.effect == 'Allow' && s.principal == '*')",
        "resource.name.endsWith('-logs') && resource.logging.enabled == true",
        "resource.policy_statements.exists(s, s.actions.exists(a, a.endsWith(':*')))",
        "resource.storage_class in ['GLACIER', 'DEEP_ARCHIVE'] && size(resource.lifecycle_rules) == 0",
    ],
    &[
        "resource.metadata_options.http_tokens != 'required'",
        "resource.instance_type.startsWith('t2.')",
        "resource.instance_type in ['p3.8xlarge', 'p4d.24xlarge', 'm5.4xlarge'] && resource.tags.env != 'prod'",
        "resource.ebs_volumes.exists(v, v.encrypted != true)",
        "resource.ebs_volumes.all(v, v.size_gb <= {k}00)",
        "has(resource.public_ip) && resource.tags.env != 'dev'",
        "resource.monitoring.enabled == false",
        "size(resource.security_groups) > {k}",
        "resource.image_id.matches('^ami-[0-9a-f]{8,17}$') == false",
        "resource.cpu_options.core_count * resource.cpu_options.threads_per_core > {k}0",
        "resource.state == 'running' && resource.iam_instance_profile == null",
        "resource.ebs_volumes.exists_one(v, v.type == 'gp2') || resource.metadata_options.hop_limit >= 3",
    ],
    &[
        "resource.ingress.exists(r, r.cidr == '0.0.0.0/0' && r.from_port <= 22 && r.to_port >= 22)",
        "resource.ingress.exists(r, r.cidr in ['0.0.0.0/0', '::/0'] && (r.from_port == 3389 || r.to_port == 3389))",
        "resource.egress.all(r, r.cidr != '0.0.0.0/0')",
        "size(resource.ingress) > {k}",
        "resource.description.lowerAscii().contains('temp')",
        "resource.ingress.exists_one(r, r.protocol == '-1')",
        "!resource.vpc_id.startsWith('vpc-')",
        "resource.ingress.exists(r, r.protocol in ['udp', '-1'] && r.cidr.endsWith('/0'))",
        "resource.ingress.all(r, r.to_port - r.from_port <= {k}0)",
        "resource.group_id.matches('^sg-[0-9a-f]+$') && size(resource.egress) >= {k}",
        "resource.ingress[0].cidr == '0.0.0.0/0' || resource.ingress[1].from_port == 0",
    ],
    &[
        "resource.assume_role_policy.statements.exists(s, s.principal.aws == '*')",
        "resource.inline_policies.exists(p, p.actions.exists(a, a == '*' || a.endsWith(':*')))",
        "'AdministratorAccess' in resource.attached_policies",
        "resource.max_session_duration > {k}000",
        "!has(resource.permissions_boundary)",
        "resource.last_used.days_ago >= {k}0",
        "resource.path.startsWith('/service-role/') == false && size(resource.attached_policies) > 5",
        "resource.inline_policies.all(p, p.resources.all(r, r != '*'))",
        "resource.attached_policies.exists_one(p, p.endsWith('FullAccess'))",
        "resource.assume_role_policy.statements.exists(s, s.principal.service.startsWith('lambda')) && resource.tags.env == 'prod'",
        "resource.last_used == null || resource.last_used.region != resource.region",
    ],
    &[
        "resource.storage.encrypted != true",
        "resource.publicly_accessible == true",
        "resource.backup_retention_days < {k}",
        "resource.multi_az == false && resource.tags.env == 'prod'",
        "resource.engine in ['mysql', 'postgres'] && resource.engine_version.startsWith('5.')",
        "resource.deletion_protection != true",
        "resource.endpoint.port == 3306 || resource.endpoint.port == 5432",
        "resource.parameters.exists(p, p == 'rds.force_ssl') == false",
        "resource.iam_auth != true && !('ssl' in resource.parameters)",
        r"resource.instance_class.matches(r'^db\.(t2|t3)\.')",
        "resource.storage.size_gb / 100 >= {k} && resource.storage.type != 'io1'",
        "resource.parameters['log_connections'] in ['0', 'off'] || resource.parameters.audit_log == null",
    ],
];

/// The rules of policy `number` of a type: `(condition, message)` pairs.
fn rules(kind: usize, number: usize) -> Vec<(String, String)> {
    let own = TYPE_CONDITIONS[kind];
    let count = 1 + number % 3;
    (0..count)
        .map(|rule| {
            let pick = number * 3 + rule * 7 + kind;
            let k = (number + rule) % 9 + 1;
            // One condition in four is a common one, sometimes joined to the type's own.
            let condition = match pick % 8 {
                0 => COMMON_CONDITIONS[pick / 8 % COMMON_CONDITIONS.len()].to_owned(),
                1 => format!(
                    "({}) && ({})",
                    own[pick % own.len()],
                    COMMON_CONDITIONS[pick % COMMON_CONDITIONS.len()]
                ),
                _ => own[pick % own.len()].to_owned(),
            };
            let condition = condition.replace("{k}", &k.to_string());
            let message = format!("rule {rule} of policy {number}: {condition}");
            (condition, message)
        })
        .collect()
}

/// Policy body `number` (0..40) of resource type `kind`: one in five is an allow-list.
pub fn policy(kind: usize, number: usize) -> Value {
    let resource_type = RESOURCE_TYPES[kind];
    let effect = if number % 5 == 4 { "ALLOW" } else { "DENY" };
    let rules: Vec<Value> = rules(kind, number)
        .into_iter()
        .map(|(condition, message)| json!({"condition": condition, "effect": effect, "message": message}))
        .collect();
    let slug = resource_type.to_ascii_lowercase().replace("::", "-");
    let frameworks: Vec<&str> = ["SOC2", "HIPAA", "PCI-DSS", "CIS"]
        .into_iter()
        .take(number % 4)
        .collect();
    let remediation = number % 3 == 0;
    let severity = ["LOW", "MEDIUM", "HIGH", "CRITICAL"][number % 4];
    json!({
        "name": format!("{slug}-{number:02}"),
        "description": format!("benchmark policy {number} for {resource_type}"),
        "resource_type": resource_type,
        "severity": severity,
        "rules": rules,
        "compliance_frameworks": frameworks,
        "auto_remediation": remediation,
        "remediation_action": if remediation { json!(format!("fix-{slug}-{number}")) } else { Value::Null },
        "tags": ["benchmark", slug],
    })
}

/// The policy bodies of resource type `kind`.
pub fn policies_of(kind: usize) -> Vec<Value> {
    (0..POLICIES_PER_TYPE)
        .map(|number| policy(kind, number))
        .collect()
}

/// All 200 policy bodies, type by type.
pub fn policies() -> Vec<Value> {
    (0..RESOURCE_TYPES.len()).flat_map(policies_of).collect()
}

fn main() -> io::Result<()> {
    let mut dir = PathBuf::from("bench-data");
    let mut count = DEFAULT_RESOURCES;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--resources" {
            count = args
                .next()
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| io::Error::other("`--resources` needs a number"))?;
        } else {
            dir = PathBuf::from(arg);
        }
    }
    fs::create_dir_all(&dir)?;

    let policies = Value::Array(policies());
    fs::write(
        dir.join("policies.json"),
        serde_json::to_string_pretty(&policies)?,
    )?;

    let mut out = BufWriter::new(File::create(dir.join("resources.jsonl"))?);
    let mut bytes = 0;
    for index in 0..count {
        let line = resource_line(index);
        bytes += line.len();
        writeln!(out, "{line}")?;
    }
    out.flush()?;

    let rules: usize = policies.as_array().map_or(0, |all| {
        all.iter()
            .map(|p| p["rules"].as_array().map_or(0, Vec::len))
            .sum()
    });
    eprintln!(
        "wrote {}: {} policies ({rules} rules), {count} resources ({} bytes each on average)",
        dir.display(),
        policies.as_array().map_or(0, Vec::len),
        bytes / count.max(1),
    );
    Ok(())
}

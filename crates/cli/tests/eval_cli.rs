//! `policycortex eval` run as the real binary over the files in `tests/fixtures`: policy
//! and resource inputs, the three output formats, threads, and the exit codes.

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::{json, Value};

/// The path of a fixture file.
fn fixture(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
        .display()
        .to_string()
}

/// Runs `policycortex eval --policies P --resources R` with `extra` flags.
fn eval(policies: &str, resources: &str, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_policycortex"))
        .args(["eval", "--policies"])
        .arg(fixture(policies))
        .arg("--resources")
        .arg(fixture(resources))
        .args(extra)
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

/// The JSON Lines of an output, parsed.
fn records(output: &Output) -> Vec<Value> {
    stdout(output)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// `(id, compliant)` of each record.
fn verdicts(records: &[Value]) -> Vec<(String, bool)> {
    records
        .iter()
        .map(|record| {
            (
                record["id"].as_str().unwrap().to_owned(),
                record["compliant"].as_bool().unwrap(),
            )
        })
        .collect()
}

fn expected_verdicts() -> Vec<(String, bool)> {
    [
        ("logs-bucket", false),
        ("disabled-bucket", false),
        ("encrypted-bucket", true),
        ("main-vpc", true),
        ("legacy-vpc", false),
        ("some-function", true),
    ]
    .iter()
    .map(|(id, compliant)| ((*id).to_owned(), *compliant))
    .collect()
}

#[test]
fn jsonl_output_has_one_record_per_resource_in_input_order() {
    let output = eval("policies.json", "resources.jsonl", &["--format", "jsonl"]);

    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let records = records(&output);
    assert_eq!(verdicts(&records), expected_verdicts());
    assert_eq!(
        records[0]["decisions"],
        json!([{
            "policy_id": "require-s3-encryption",
            "policy_name": "require-s3-encryption",
            "decision": "DENY",
            "severity": "MEDIUM",
            "violations": [{"rule_index": 0, "message": "S3 bucket must have encryption enabled"}],
            "compliance_frameworks": [],
            "remediation_action": "enable_default_encryption",
        }])
    );
    assert_eq!(records[2]["decisions"][0]["decision"], "ALLOW");
    assert!(records[2]["decisions"][0]
        .get("remediation_action")
        .is_none());
    assert_eq!(records[4]["decisions"][0]["severity"], "HIGH");
    assert_eq!(
        records[4]["decisions"][0]["compliance_frameworks"],
        json!(["SOC2", "HIPAA"])
    );
    assert_eq!(records[5]["decisions"], json!([]));
}

#[test]
fn jsonl_is_the_default_format() {
    let default = eval("policies.json", "resources.jsonl", &[]);
    let explicit = eval("policies.json", "resources.jsonl", &["--format", "jsonl"]);

    assert_eq!(stdout(&default), stdout(&explicit));
}

#[test]
fn one_json_document_of_resources_reads_like_json_lines() {
    let from_lines = eval("policies.json", "resources.jsonl", &[]);
    let from_document = eval("policies.json", "resources.json", &[]);

    assert_eq!(from_document.status.code(), Some(1));
    assert_eq!(stdout(&from_document), stdout(&from_lines));
}

#[test]
fn a_directory_of_json_and_yaml_policies_decides_like_the_array_file() {
    let from_file = records(&eval("policies.json", "resources.jsonl", &[]));
    let from_directory = eval("policy_dir", "resources.jsonl", &[]);

    assert_eq!(
        from_directory.status.code(),
        Some(1),
        "{}",
        stderr(&from_directory)
    );
    let from_directory = records(&from_directory);
    assert_eq!(verdicts(&from_directory), expected_verdicts());
    // Exported policies keep their API id; the YAML one is named by its name.
    assert_eq!(
        from_directory[0]["decisions"][0]["policy_id"],
        "pol_exported_from_the_api"
    );
    assert_eq!(
        from_directory[4]["decisions"][0]["policy_id"],
        "require-vpc-flow-logs"
    );
    for (file, directory) in from_file.iter().zip(&from_directory) {
        let strip = |record: &Value| {
            let mut decisions = record["decisions"].clone();
            for decision in decisions.as_array_mut().unwrap() {
                decision.as_object_mut().unwrap().remove("policy_id");
            }
            decisions
        };
        assert_eq!(strip(file), strip(directory));
    }
}

#[test]
fn summary_output_is_the_exact_counts() {
    let output = eval("policies.json", "resources.jsonl", &["--format", "summary"]);

    assert_eq!(output.status.code(), Some(1));
    let summary: Value = serde_json::from_str(stdout(&output).trim()).unwrap();
    assert_eq!(
        summary,
        json!({
            "resources": 6,
            "compliant": 3,
            "non_compliant": 3,
            "decisions": 5,
            "denied": 3,
            "violations": 3,
        })
    );
}

#[test]
fn human_output_names_each_resource_and_its_violations() {
    let output = eval("policies.json", "resources.jsonl", &["--format", "human"]);

    assert_eq!(output.status.code(), Some(1));
    let text = stdout(&output);
    assert!(
        text.contains("logs-bucket (AWS::S3::Bucket): NON-COMPLIANT"),
        "{text}"
    );
    assert!(
        text.contains("encrypted-bucket (AWS::S3::Bucket): compliant"),
        "{text}"
    );
    assert!(
        text.contains(
            "DENY require-s3-encryption [MEDIUM]: S3 bucket must have encryption enabled"
        ),
        "{text}"
    );
    assert!(
        text.contains("remediation: enable_default_encryption"),
        "{text}"
    );
    assert!(
        text.contains("DENY require-vpc-flow-logs [HIGH]: VPC must have flow logs enabled"),
        "{text}"
    );
    assert!(
        text.contains("6 resources: 3 compliant, 3 non-compliant (3 violations)"),
        "{text}"
    );
}

#[test]
fn one_thread_and_two_threads_print_the_same() {
    for format in ["jsonl", "human", "summary"] {
        let one = eval(
            "policies.json",
            "resources.jsonl",
            &["--format", format, "--threads", "1"],
        );
        let two = eval(
            "policies.json",
            "resources.jsonl",
            &["--format", format, "--threads", "2"],
        );

        assert_eq!(one.status.code(), two.status.code());
        assert_eq!(stdout(&one), stdout(&two), "format {format}");
    }
}

#[test]
fn all_resources_compliant_exits_0() {
    let output = eval("policies.json", "compliant.jsonl", &[]);

    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(
        verdicts(&records(&output)),
        [
            ("encrypted-bucket".to_owned(), true),
            ("main-vpc".to_owned(), true)
        ]
    );
}

#[test]
fn bad_json_on_line_3_exits_2_naming_the_file_and_line() {
    let output = eval("policies.json", "bad_line3.jsonl", &[]);

    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert!(message.contains("bad_line3.jsonl:3:"), "{message}");
    assert!(stdout(&output).is_empty());
}

#[test]
fn a_resource_without_a_type_exits_2_naming_the_file_and_line() {
    let output = eval("policies.json", "missing_type_line2.jsonl", &[]);

    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert!(message.contains("missing_type_line2.jsonl:2:"), "{message}");
    assert!(message.contains("`resource_type`"), "{message}");
}

#[test]
fn a_policy_with_a_bad_condition_exits_2_naming_the_file_and_rule() {
    let output = eval("bad_condition.json", "resources.jsonl", &[]);

    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert!(message.contains("bad_condition.json"), "{message}");
    assert!(message.contains("rules[0].condition"), "{message}");
    assert!(stdout(&output).is_empty());
}

#[test]
fn a_missing_resources_file_exits_2() {
    let output = eval("policies.json", "no_such_file.jsonl", &[]);

    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("no_such_file.jsonl"));
}

#[test]
fn an_inventory_longer_than_one_chunk_streams_in_order_with_exact_counts() {
    let path = std::env::temp_dir().join(format!("pc-eval-{}.jsonl", std::process::id()));
    let lines: Vec<String> = (0..10_000)
        .map(|index| {
            let enabled = index % 3 == 0;
            json!({"id": format!("b{index}"), "resource_type": "AWS::S3::Bucket",
                   "resource": {"encryption": {"enabled": enabled}}})
            .to_string()
        })
        .collect();
    std::fs::write(&path, lines.join("\n")).unwrap();
    let resources = path.display().to_string();

    let streamed = eval("policies.json", &resources, &["--threads", "2"]);
    let summary = eval("policies.json", &resources, &["--format", "summary"]);
    std::fs::remove_file(&path).unwrap();

    let ids: Vec<String> = records(&streamed)
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect();
    let expected: Vec<String> = (0..10_000).map(|index| format!("b{index}")).collect();
    assert_eq!(ids, expected);
    let counts: Value = serde_json::from_str(stdout(&summary).trim()).unwrap();
    assert_eq!(counts["resources"], 10_000);
    assert_eq!(counts["compliant"], 3_334);
    assert_eq!(counts["non_compliant"], 6_666);
    assert_eq!(summary.status.code(), Some(1));
}

#[test]
fn help_lists_the_exit_codes() {
    let output = Command::new(env!("CARGO_BIN_EXE_policycortex"))
        .args(["eval", "--help"])
        .output()
        .unwrap();

    assert!(output.status.success());
    let help = stdout(&output);
    for line in [
        "0  success",
        "1  `eval` found a non-compliant resource",
        "2  bad input",
        "3  the service or the store failed",
    ] {
        assert!(help.contains(line), "{line} missing from:\n{help}");
    }
}

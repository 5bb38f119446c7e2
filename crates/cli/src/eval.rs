//! `policycortex eval`: the evaluation engine over files, without a server.
//!
//! Policies come from a JSON array file or a directory of `.json`, `.yaml` and `.yml`
//! files, each holding one policy body (as sent to `POST /v1/policies`) or a list of them.
//! Fields only the server sets (`id`, `version`, timestamps, `created_by`) are ignored, so
//! policies exported from the API can be evaluated as they are. Resources come from JSON
//! Lines, one `{"id", "resource_type", "resource"}` a line, or from one JSON document
//! holding such an object or a list of them.

use std::fs;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use chrono::Utc;
use clap::{Args, ValueEnum};
use policycortex_engine::validate::{create_from_object, Limits};
use policycortex_engine::{Evaluation, Policy, PolicySet, Summary};
use rayon::prelude::*;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::{EXIT_BAD_INPUT, EXIT_DENIED, EXIT_FAILURE, EXIT_OK};

/// Flags of `eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// A JSON file with a list of policies, or a directory of policy files.
    #[arg(long)]
    policies: PathBuf,
    /// A JSON Lines file of resources, or one JSON document.
    #[arg(long)]
    resources: PathBuf,
    /// What to print.
    #[arg(long, value_enum, default_value_t = Format::Jsonl)]
    format: Format,
    /// Threads to evaluate on; all cores by default.
    #[arg(long)]
    threads: Option<usize>,
}

/// Output formats of `eval`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    /// One JSON object per resource.
    Jsonl,
    /// A readable report.
    Human,
    /// One JSON object of counts.
    Summary,
}

/// Bad input: which file, which line, and what is wrong.
#[derive(Debug)]
struct InputError(String);

/// One resource to evaluate.
#[derive(Debug)]
struct Resource {
    id: String,
    resource_type: String,
    document: Value,
}

/// The JSON Lines record of one evaluated resource.
#[derive(Debug, Serialize)]
struct Record<'a> {
    id: &'a str,
    resource_type: &'a str,
    #[serde(flatten)]
    evaluation: &'a Evaluation,
}

/// Runs `eval`; returns the exit code.
pub fn run(args: EvalArgs) -> u8 {
    let pool = match rayon::ThreadPoolBuilder::new()
        .num_threads(args.threads.unwrap_or(0))
        .build()
    {
        Ok(pool) => pool,
        Err(error) => {
            eprintln!(
                "error: could not start {} threads: {error}",
                args.threads.unwrap_or(0)
            );
            return EXIT_FAILURE;
        }
    };
    match pool.install(|| evaluate_files(&args)) {
        Ok(code) => code,
        Err(InputError(message)) => {
            eprintln!("error: {message}");
            EXIT_BAD_INPUT
        }
    }
}

fn evaluate_files(args: &EvalArgs) -> Result<u8, InputError> {
    let policies = load_policies(&args.policies)?;
    let set = PolicySet::build(&policies).map_err(|error| InputError(error.to_string()))?;
    let text = read(&args.resources)?;
    let resources = parse_resources(&args.resources, &text)?;

    let evaluations: Vec<Evaluation> = resources
        .par_iter()
        .map(|resource| set.evaluate(&resource.resource_type, &resource.document))
        .collect();

    let written = match args.format {
        Format::Jsonl => write_jsonl(&resources, &evaluations),
        Format::Human => write_human(&resources, &evaluations),
        Format::Summary => write_summary(&evaluations),
    };
    if let Err(error) = written {
        if error.kind() != io::ErrorKind::BrokenPipe {
            eprintln!("error: could not write the results: {error}");
            return Ok(EXIT_FAILURE);
        }
    }
    let all_compliant = evaluations.iter().all(|evaluation| evaluation.compliant);
    Ok(if all_compliant { EXIT_OK } else { EXIT_DENIED })
}

fn read(path: &Path) -> Result<String, InputError> {
    fs::read_to_string(path).map_err(|error| InputError(format!("{}: {error}", path.display())))
}

/// Reads every policy of a file or a directory, in a stable order.
fn load_policies(path: &Path) -> Result<Vec<Policy>, InputError> {
    let files = if path.is_dir() {
        let mut files: Vec<PathBuf> = fs::read_dir(path)
            .map_err(|error| InputError(format!("{}: {error}", path.display())))?
            .filter_map(|entry| entry.ok().map(|entry| entry.path()))
            .filter(|file| {
                matches!(
                    file.extension().and_then(|e| e.to_str()),
                    Some("json" | "yaml" | "yml")
                )
            })
            .collect();
        files.sort();
        files
    } else {
        vec![path.to_path_buf()]
    };

    let mut policies = Vec::new();
    for file in files {
        let text = read(&file)?;
        let value = parse_policy_file(&file, &text)?;
        let bodies = match value {
            Value::Array(bodies) => bodies,
            single => vec![single],
        };
        for (index, body) in bodies.into_iter().enumerate() {
            policies.push(policy_from_body(&file, index, body)?);
        }
    }
    Ok(policies)
}

fn parse_policy_file(file: &Path, text: &str) -> Result<Value, InputError> {
    let is_yaml = matches!(
        file.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml")
    );
    if is_yaml {
        serde_yaml::from_str(text)
            .map_err(|error| InputError(format!("{}: {error}", file.display())))
    } else {
        serde_json::from_str(text)
            .map_err(|error| InputError(format!("{}: {error}", file.display())))
    }
}

/// Checks one policy body exactly as the API does.
fn policy_from_body(file: &Path, index: usize, body: Value) -> Result<Policy, InputError> {
    let Value::Object(mut object) = body else {
        return Err(InputError(format!(
            "{}: policy {index} is not an object",
            file.display()
        )));
    };
    let id = strip_server_fields(&mut object);
    let spec = create_from_object(object, &Limits::default()).map_err(|errors| {
        let details: Vec<String> = errors
            .iter()
            .map(|error| format!("`{}` {}", error.field, error.message))
            .collect();
        InputError(format!(
            "{}: policy {index}: {}",
            file.display(),
            details.join("; ")
        ))
    })?;
    let id = id.unwrap_or_else(|| spec.name.clone());
    Ok(Policy::from_spec(
        id,
        spec,
        Utc::now(),
        "policycortex eval".into(),
    ))
}

/// Drops the fields the server sets, returning the `id` if one was there.
fn strip_server_fields(object: &mut Map<String, Value>) -> Option<String> {
    for field in ["version", "created_at", "updated_at", "created_by"] {
        object.remove(field);
    }
    match object.remove("id") {
        Some(Value::String(id)) => Some(id),
        _ => None,
    }
}

/// Reads resources as one JSON document when the whole file is one, else as JSON Lines.
fn parse_resources(path: &Path, text: &str) -> Result<Vec<Resource>, InputError> {
    if let Ok(document) = serde_json::from_str::<Value>(text) {
        let items = match document {
            Value::Array(items) => items,
            single => vec![single],
        };
        return items
            .into_iter()
            .enumerate()
            .map(|(index, item)| {
                resource_from(item, index)
                    .map_err(|why| InputError(format!("{}: item {index}: {why}", path.display())))
            })
            .collect();
    }

    let lines: Vec<(usize, &str)> = text
        .lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .collect();
    lines
        .par_iter()
        .map(|(number, line)| {
            let at = |why: String| InputError(format!("{}:{}: {why}", path.display(), number + 1));
            let item = serde_json::from_str(line)
                .map_err(|error| at(format!("not valid JSON: {error}")))?;
            resource_from(item, *number).map_err(at)
        })
        .collect()
}

fn resource_from(item: Value, index: usize) -> Result<Resource, String> {
    let Value::Object(mut item) = item else {
        return Err("must be an object".into());
    };
    let id = match item.remove("id") {
        Some(Value::String(id)) => id,
        Some(Value::Number(number)) => number.to_string(),
        None => index.to_string(),
        Some(_) => return Err("`id` must be a string".into()),
    };
    let Some(Value::String(resource_type)) = item.remove("resource_type") else {
        return Err("`resource_type` must be a non-empty string".into());
    };
    let document = item.remove("resource").ok_or("`resource` is required")?;
    if let Some(unknown) = item.keys().next() {
        return Err(format!("unknown field `{unknown}`"));
    }
    Ok(Resource {
        id,
        resource_type,
        document,
    })
}

fn write_jsonl(resources: &[Resource], evaluations: &[Evaluation]) -> io::Result<()> {
    let lines: Vec<String> = resources
        .par_iter()
        .zip(evaluations)
        .map(|(resource, evaluation)| {
            let record = Record {
                id: &resource.id,
                resource_type: &resource.resource_type,
                evaluation,
            };
            serde_json::to_string(&record).unwrap_or_default()
        })
        .collect();
    let mut out = BufWriter::new(io::stdout().lock());
    for line in lines {
        writeln!(out, "{line}")?;
    }
    out.flush()
}

fn write_human(resources: &[Resource], evaluations: &[Evaluation]) -> io::Result<()> {
    let mut out = BufWriter::new(io::stdout().lock());
    for (resource, evaluation) in resources.iter().zip(evaluations) {
        let verdict = if evaluation.compliant {
            "compliant"
        } else {
            "NON-COMPLIANT"
        };
        writeln!(
            out,
            "{} ({}): {verdict}",
            resource.id, resource.resource_type
        )?;
        for decision in evaluation
            .decisions
            .iter()
            .filter(|decision| !decision.violations.is_empty())
        {
            for violation in &decision.violations {
                writeln!(
                    out,
                    "  DENY {} [{}]: {}",
                    decision.policy_name,
                    decision.severity.as_str(),
                    violation.message
                )?;
            }
            if let Some(action) = &decision.remediation_action {
                writeln!(out, "       remediation: {action}")?;
            }
        }
    }
    let counts = Summary::of(evaluations);
    writeln!(
        out,
        "\n{} resources: {} compliant, {} non-compliant ({} violations)",
        counts.resources, counts.compliant, counts.non_compliant, counts.violations
    )?;
    out.flush()
}

fn write_summary(evaluations: &[Evaluation]) -> io::Result<()> {
    let counts = Summary::of(evaluations);
    let mut out = io::stdout().lock();
    writeln!(
        out,
        "{}",
        serde_json::to_string(&counts).unwrap_or_default()
    )
}

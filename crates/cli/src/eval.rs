//! `policycortex eval`: the evaluation engine over files, without a server.
//!
//! Policies come from a JSON array file or a directory of `.json`, `.yaml` and `.yml`
//! files, each holding one policy body (as sent to `POST /v1/policies`) or a list of them.
//! Fields only the server sets (`id`, `version`, timestamps, `created_by`) are ignored, so
//! policies exported from the API can be evaluated as they are. Resources come from JSON
//! Lines, one `{"id", "resource_type", "resource"}` a line, or from one JSON document
//! holding such an object or a list of them.
//!
//! JSON Lines are streamed a chunk at a time, so memory stays flat: one thread reads the
//! next chunk while every core parses, evaluates and renders the current one, and the
//! results are written in input order. A bad line stops the run with exit code 2, after
//! the results of the chunks before it were written.

use std::fs;
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use chrono::Utc;
use clap::{Args, ValueEnum};
use policycortex_engine::validate::{create_from_object, Limits};
use policycortex_engine::{Evaluation, Policy, PolicySet, Summary};
use rayon::prelude::*;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::{EXIT_BAD_INPUT, EXIT_DENIED, EXIT_FAILURE, EXIT_OK};

/// Resources read, evaluated and written at a time: enough to keep every core busy, few
/// enough that memory stays flat on inventories of any size.
const CHUNK: usize = 4096;

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
    let format = args.format;
    let evaluate = |resource: Resource| {
        let evaluation = set.evaluate(&resource.resource_type, &resource.document);
        Evaluated::new(format, &resource, &evaluation)
    };
    let mut output = Output::new(format);

    let streamed = stream_resources(&args.resources, evaluate, |chunk| output.write(chunk));
    let finished = match streamed {
        Ok(()) => output.finish(),
        Err(Failure::Input(error)) => return Err(error),
        Err(Failure::Write(error)) => Err(error),
    };

    match finished {
        Ok(summary) if summary.non_compliant == 0 => Ok(EXIT_OK),
        Ok(_) => Ok(EXIT_DENIED),
        Err(error) if error.kind() == io::ErrorKind::BrokenPipe => Ok(EXIT_OK),
        Err(error) => {
            eprintln!("error: could not write the results: {error}");
            Ok(EXIT_FAILURE)
        }
    }
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

/// Why streaming stopped: bad input, or output that could not be written.
enum Failure {
    Input(InputError),
    Write(io::Error),
}

/// Evaluates the resources of `path` with `evaluate` and hands the results to `write`
/// [`CHUNK`] at a time, in input order, so that memory stays flat however long the input.
///
/// JSON Lines are read on a thread of their own while the previous chunk is parsed and
/// evaluated on every core; a file whose first line is not a JSON value is read whole as
/// one JSON document (an object or a list of them).
fn stream_resources(
    path: &Path,
    evaluate: impl Fn(Resource) -> Evaluated + Sync,
    mut write: impl FnMut(Vec<Evaluated>) -> io::Result<()>,
) -> Result<(), Failure> {
    let open_error =
        |error: io::Error| Failure::Input(InputError(format!("{}: {error}", path.display())));
    let mut reader = BufReader::new(File::open(path).map_err(open_error)?);
    let Some(first) = first_line(&mut reader).map_err(open_error)? else {
        return Ok(());
    };
    // A first line that is no JSON value on its own starts one document over many lines.
    if serde_json::from_str::<Value>(&first.1).is_err() {
        return stream_document(path, evaluate, write);
    }

    std::thread::scope(|scope| {
        let (chunks, received) = std::sync::mpsc::sync_channel(1);
        scope.spawn(move || read_chunks(reader, first, &chunks));
        for chunk in received {
            let chunk = chunk.map_err(open_error)?;
            let evaluated = chunk
                .into_par_iter()
                .map(|(number, line)| parse_line(path, number, &line).map(&evaluate))
                .collect::<Vec<_>>();
            let evaluated = evaluated
                .into_iter()
                .collect::<Result<_, _>>()
                .map_err(Failure::Input)?;
            write(evaluated).map_err(Failure::Write)?;
        }
        Ok(())
    })
}

/// A numbered line of JSON Lines.
type Line = (usize, String);

/// The first line with something on it, and its number.
fn first_line(reader: &mut impl BufRead) -> io::Result<Option<Line>> {
    let mut number = 0;
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        number += 1;
        if !line.trim().is_empty() {
            return Ok(Some((number, line)));
        }
    }
}

/// Reads the lines after `first` and sends them on in chunks of [`CHUNK`], skipping blank
/// lines. Stops at the end of the input, at a read error (which is sent on), or when
/// nobody receives any more.
fn read_chunks(
    reader: impl BufRead,
    first: Line,
    chunks: &std::sync::mpsc::SyncSender<io::Result<Vec<Line>>>,
) {
    let first_number = first.0;
    let mut chunk = Vec::with_capacity(CHUNK);
    chunk.push(first);
    for (index, line) in reader.lines().enumerate() {
        let line = match line {
            Ok(line) => line,
            Err(error) => {
                let _ = chunks.send(Err(error));
                return;
            }
        };
        if line.trim().is_empty() {
            continue;
        }
        chunk.push((first_number + index + 1, line));
        if chunk.len() == CHUNK {
            let full = std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK));
            if chunks.send(Ok(full)).is_err() {
                return;
            }
        }
    }
    if !chunk.is_empty() {
        let _ = chunks.send(Ok(chunk));
    }
}

/// One line of JSON Lines as a resource; an error names the file and line.
fn parse_line(path: &Path, number: usize, line: &str) -> Result<Resource, InputError> {
    let at = |why: String| InputError(format!("{}:{number}: {why}", path.display()));
    let item =
        serde_json::from_str(line).map_err(|error| at(format!("not valid JSON: {error}")))?;
    resource_from(item, number - 1).map_err(at)
}

/// Reads `path` whole as one JSON document and evaluates its resources in chunks.
fn stream_document(
    path: &Path,
    evaluate: impl Fn(Resource) -> Evaluated + Sync,
    mut write: impl FnMut(Vec<Evaluated>) -> io::Result<()>,
) -> Result<(), Failure> {
    let text = read(path).map_err(Failure::Input)?;
    let document: Value = serde_json::from_str(&text).map_err(|error| {
        let at = format!("{}:{}", path.display(), error.line());
        Failure::Input(InputError(format!(
            "{at}: not valid JSON Lines nor one JSON document: {error}"
        )))
    })?;
    let items = match document {
        Value::Array(items) => items,
        single => vec![single],
    };

    let mut resources = Vec::with_capacity(CHUNK.min(items.len()));
    let mut evaluate_chunk = |resources: Vec<Resource>| {
        write(resources.into_par_iter().map(&evaluate).collect()).map_err(Failure::Write)
    };
    for (index, item) in items.into_iter().enumerate() {
        let resource = resource_from(item, index)
            .map_err(|why| InputError(format!("{}: item {index}: {why}", path.display())))
            .map_err(Failure::Input)?;
        resources.push(resource);
        if resources.len() == CHUNK {
            evaluate_chunk(std::mem::take(&mut resources))?;
        }
    }
    if !resources.is_empty() {
        evaluate_chunk(resources)?;
    }
    Ok(())
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

/// What is kept of one evaluated resource: its counts and its text in the output format.
/// Both are made on the worker thread that evaluated it, which also frees the document and
/// the decisions, so that the thread writing the output has little else to do.
struct Evaluated {
    counts: Summary,
    text: String,
}

impl Evaluated {
    fn new(format: Format, resource: &Resource, evaluation: &Evaluation) -> Self {
        let counts = Summary::of([evaluation]);
        let text = match format {
            Format::Jsonl => jsonl_line(resource, evaluation),
            Format::Human => human_report(resource, evaluation),
            Format::Summary => String::new(),
        };
        Self { counts, text }
    }
}

/// Where results go: standard output in the chosen format, and the running counts.
struct Output {
    format: Format,
    out: BufWriter<io::StdoutLock<'static>>,
    summary: Summary,
}

impl Output {
    fn new(format: Format) -> Self {
        Self {
            format,
            out: BufWriter::new(io::stdout().lock()),
            summary: Summary::default(),
        }
    }

    /// Writes one chunk's results and counts them.
    fn write(&mut self, chunk: Vec<Evaluated>) -> io::Result<()> {
        for evaluated in &chunk {
            self.summary.add(&evaluated.counts);
            self.out.write_all(evaluated.text.as_bytes())?;
        }
        Ok(())
    }

    /// Writes the closing lines of the format and answers the counts.
    fn finish(mut self) -> io::Result<Summary> {
        let summary = &self.summary;
        match self.format {
            Format::Jsonl => {}
            Format::Human => writeln!(
                self.out,
                "\n{} resources: {} compliant, {} non-compliant ({} violations)",
                summary.resources, summary.compliant, summary.non_compliant, summary.violations
            )?,
            Format::Summary => writeln!(
                self.out,
                "{}",
                serde_json::to_string(summary).unwrap_or_default()
            )?,
        }
        self.out.flush()?;
        Ok(self.summary)
    }
}

/// The JSON Lines record of one resource, with its newline.
fn jsonl_line(resource: &Resource, evaluation: &Evaluation) -> String {
    let record = Record {
        id: &resource.id,
        resource_type: &resource.resource_type,
        evaluation,
    };
    let mut line = serde_json::to_string(&record).unwrap_or_default();
    line.push('\n');
    line
}

/// The readable report of one resource: its verdict, then each violation.
fn human_report(resource: &Resource, evaluation: &Evaluation) -> String {
    use std::fmt::Write as _;

    let verdict = if evaluation.compliant {
        "compliant"
    } else {
        "NON-COMPLIANT"
    };
    let mut report = format!("{} ({}): {verdict}\n", resource.id, resource.resource_type);
    for decision in evaluation
        .decisions
        .iter()
        .filter(|decision| !decision.violations.is_empty())
    {
        for violation in &decision.violations {
            let _ = writeln!(
                report,
                "  DENY {} [{}]: {}",
                decision.policy_name,
                decision.severity.as_str(),
                violation.message
            );
        }
        if let Some(action) = &decision.remediation_action {
            let _ = writeln!(report, "       remediation: {action}");
        }
    }
    report
}

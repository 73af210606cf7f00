//! `haystack-wire-codegen`: generate the bindings and docs from protocol.yaml,
//! check that the checked-in ones are fresh, and check an edit of the spec
//! for wire-breaking changes.

use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use haystack_wire_codegen::artefacts::{artefacts, stale, Artefact};
use haystack_wire_codegen::compat::{self, Group, Rule, Side};
use haystack_wire_codegen::emit::{javascript, markdown, python, rust};
use haystack_wire_codegen::{load, Protocol};

/// Generate haystack-wire bindings from protocol.yaml and check spec changes.
#[derive(Debug, Parser)]
#[command(name = "haystack-wire-codegen", version, about)]
struct Cli {
    /// The spec; generated files go to their places beside it.
    #[arg(long, global = true, default_value = "protocol.yaml")]
    spec: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The Python module (default: bindings/python/python/haystack_wire/protocol.py).
    Python(Out),
    /// The JavaScript module and its TypeScript declarations (default: bindings/typescript/).
    Typescript(Out),
    /// The protocol reference (default: docs/PROTOCOL.md).
    Markdown(Out),
    /// The Rust module build.rs generates (default: stdout).
    Rust(Out),
    /// Every checked-in binding and doc, at its place.
    Generate,
    /// Exit 1, naming each file and the command that rewrites it, if a checked-in file is stale.
    Check,
    /// Every incompatible change from one spec to another; exit 1 if any breaks.
    Compat(CompatArgs),
    /// The rules `compat` applies, with their groups.
    Rules,
}

#[derive(Debug, clap::Args)]
struct Out {
    /// Where to write, instead of the default place; `-` for stdout.
    /// For `typescript`, a folder.
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
struct CompatArgs {
    /// The spec peers are deployed with (e.g. the last released one).
    #[arg(long)]
    base: PathBuf,
    /// The edited spec.
    #[arg(long, default_value = "protocol.yaml")]
    new: PathBuf,
    /// How strict the check is: `wire` fails on wire-breaking changes only (the
    /// lenient check, like buf's WIRE_JSON); `name` on name-only changes as well.
    #[arg(long, value_enum, default_value_t = FailOn::Wire)]
    fail_on: FailOn,
}

/// Which findings make `compat` exit 1.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum FailOn {
    /// Wire-breaking changes only.
    Wire,
    /// Wire-breaking and name-only changes.
    Name,
}

impl FailOn {
    fn fails(self, group: Group) -> bool {
        match self {
            FailOn::Wire => group == Group::Wire,
            FailOn::Name => true,
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(code) => code,
        // The reader of stdout went away (`haystack-wire-codegen rust | head`): nothing is wrong.
        Err(error) if is_broken_pipe(error.as_ref()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(2)
        }
    }
}

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// Writes `text` to stdout. A reader that has gone shows as a
/// [`ErrorKind::BrokenPipe`] error, which [`is_broken_pipe`] recognises.
fn to_stdout(text: &str) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()?;
    Ok(())
}

/// Whether `error`, or an error under it, is a write to a pipe whose reader has gone.
fn is_broken_pipe(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(error) = next {
        if error
            .downcast_ref::<std::io::Error>()
            .is_some_and(|error| error.kind() == ErrorKind::BrokenPipe)
        {
            return true;
        }
        next = error.source();
    }
    false
}

fn run(cli: &Cli) -> Result<ExitCode> {
    let root = cli.spec.parent().map(Path::to_path_buf).unwrap_or_default();
    match &cli.command {
        Command::Compat(args) => return compat(args),
        Command::Rules => {
            rules()?;
            return Ok(ExitCode::SUCCESS);
        }
        _ => {}
    }
    let protocol = load(&cli.spec)?;
    match &cli.command {
        Command::Python(out) => {
            let text = python::generate(&protocol);
            emit(out, &root.join(python::PATH), &text)?;
        }
        Command::Typescript(out) => {
            let js = javascript::generate_js(&protocol);
            let dts = javascript::generate_dts(&protocol);
            match out.out.as_deref() {
                Some(dir) if dir == Path::new("-") => {
                    return Err("`typescript` writes two files; give --out a folder".into())
                }
                Some(dir) => {
                    write(&dir.join(file_name(javascript::JS_PATH)), &js)?;
                    write(&dir.join(file_name(javascript::DTS_PATH)), &dts)?;
                }
                None => {
                    write(&root.join(javascript::JS_PATH), &js)?;
                    write(&root.join(javascript::DTS_PATH), &dts)?;
                }
            }
        }
        Command::Markdown(out) => emit(out, &root.join(markdown::PATH), &markdown::generate(&protocol))?,
        Command::Rust(out) => {
            let text = rust::generate(&protocol)?;
            match out.out.as_deref() {
                Some(path) if path != Path::new("-") => write(path, &text)?,
                _ => to_stdout(&text)?,
            }
        }
        Command::Generate => {
            for artefact in artefacts(&protocol) {
                write(&root.join(artefact.path), &artefact.text)?;
            }
        }
        Command::Check => return check(&root, &protocol),
        Command::Compat(_) | Command::Rules => unreachable!("handled before the spec is loaded"),
    }
    Ok(ExitCode::SUCCESS)
}

fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// Writes `text` to `--out`, to stdout for `-`, or to `default`.
fn emit(out: &Out, default: &Path, text: &str) -> Result<()> {
    match out.out.as_deref() {
        Some(path) if path == Path::new("-") => to_stdout(text),
        Some(path) => write(path, text),
        None => write(default, text),
    }
}

/// Writes `text` to `path` unless it already holds it, and says which it was.
fn write(path: &Path, text: &str) -> Result<()> {
    if std::fs::read_to_string(path).ok().as_deref() == Some(text) {
        to_stdout(&format!("unchanged {}\n", path.display()))?;
        return Ok(());
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    to_stdout(&format!("wrote {}\n", path.display()))
}

fn check(root: &Path, protocol: &Protocol) -> Result<ExitCode> {
    let stale: Vec<Artefact> = stale(root, protocol);
    if stale.is_empty() {
        to_stdout("every generated binding and doc matches the spec\n")?;
        return Ok(ExitCode::SUCCESS);
    }
    for artefact in &stale {
        eprintln!(
            "stale: {} differs from what the spec generates; run `cargo run -p haystack-wire-codegen -- {}`",
            root.join(artefact.path).display(),
            artefact.command
        );
    }
    Ok(ExitCode::FAILURE)
}

fn compat(args: &CompatArgs) -> Result<ExitCode> {
    let base = load(&args.base)?;
    let new = load(&args.new)?;
    let findings = compat::check(&base, &new);
    for finding in &findings {
        let file = match finding.side {
            Side::Base => &args.base,
            Side::New => &args.new,
        };
        to_stdout(&format!("{}: {finding}\n", file.display()))?;
    }
    let count = |group: Group| findings.iter().filter(|f| f.group() == group).count();
    let summary: Vec<String> = Group::ALL
        .iter()
        .map(|&g| format!("{} {}", count(g), g.name()))
        .collect();
    let failing = findings.iter().any(|f| args.fail_on.fails(f.group()));
    to_stdout(&format!(
        "{} -> {}: {}; {}\n",
        args.base.display(),
        args.new.display(),
        summary.join(", "),
        if failing { "incompatible" } else { "compatible" }
    ))?;
    Ok(if failing {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn rules() -> Result<()> {
    let mut text = String::new();
    for group in Group::ALL {
        text.push_str(&format!("{}: {}\n", group.name(), group.summary()));
        for rule in Rule::ALL.iter().filter(|r| r.group() == group) {
            text.push_str(&format!("  {:<32} {}\n", rule.name(), rule.summary()));
        }
    }
    to_stdout(&text)
}

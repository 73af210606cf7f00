//! `hswire`: encode, decode and inspect haystack-wire frames from the shell,
//! and serve, call or load a Haystack server over binary-mode WebSockets.

mod answers;
mod batch_file;
mod bench;
mod call;
mod decode;
mod encode;
mod hex;
mod inspect;
mod names;
mod output;
mod page;
mod password;
mod serve;
mod site;
mod user;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Encode, decode and inspect Haystack binary WebSocket frames; serve and call over WebSockets.
#[derive(Debug, Parser)]
#[command(name = "hswire", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Encode the payload on stdin into frames, one lowercase hex line each.
    Encode(encode::Args),
    /// Decode hex frames from stdin (one per line) into JSON messages; report
    /// the sequences still incomplete at the end of the input.
    Decode(decode::Args),
    /// Show one frame field by field.
    Inspect(inspect::Args),
    /// Serve the bundled sample site, or a site file, over binary-mode WebSockets,
    /// with a live page for browsers on the same address.
    Serve(serve::Args),
    /// Send one request to a server (or a batch of them) and print the response grid as Haystack 4 JSON.
    Call(call::Args),
    /// Manage the users file of `serve --users`.
    User(user::Args),
    /// Load a server: connections looping requests (by default haystack-py's
    /// WebSocket benchmark: about, then read `point and sensor`) for a duration;
    /// print messages per second, errors and latency percentiles. With --pushes,
    /// time the server's pushes to many connections instead.
    Bench(bench::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Encode(args) => encode::run(&args),
        Command::Decode(args) => decode::run(&args),
        Command::Inspect(args) => inspect::run(&args),
        Command::Serve(args) => serve::run(&args),
        Command::Call(args) => call::run(&args),
        Command::User(args) => user::run(&args),
        Command::Bench(args) => bench::run(&args),
    };
    match result {
        Ok(code) => code,
        // The reader of stdout went away (`hswire inspect f | head -1`): nothing is wrong.
        Err(error) if output::is_broken_pipe(error.as_ref()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("hswire: {error}");
            ExitCode::FAILURE
        }
    }
}

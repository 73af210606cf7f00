//! What the `hswire` tests share: a `hswire serve` process on 127.0.0.1,
//! started on a free port and stopped by its pid when dropped.

// Each test file is a crate of its own and uses a part of this module.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};

/// A running `hswire serve`, stopped on drop.
pub struct Serve {
    pub child: Child,
    /// The address it prints once it listens, `ws://` or `wss://` included.
    pub url: String,
}

impl Serve {
    /// Starts `hswire serve --listen 127.0.0.1:0` with `flags` and waits for
    /// the line that says where it listens.
    pub fn start(flags: &[&str]) -> Serve {
        Serve::start_with(flags)
    }

    /// As [`Serve::start`], with arguments that need not be text (paths).
    pub fn start_with<I, S>(args: I) -> Serve
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut child = Command::new(env!("CARGO_BIN_EXE_hswire"))
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .expect("hswire serve starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout is piped"))
            .read_line(&mut line)
            .expect("hswire serve says where it listens");
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        Serve { child, url }
    }

    /// The address without its scheme: `127.0.0.1:PORT`.
    pub fn address(&self) -> &str {
        self.url
            .split_once("://")
            .map_or(self.url.as_str(), |(_, address)| address)
    }

    /// Runs `hswire call --url URL ARGS` to its end.
    pub fn call(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_hswire"))
            .args(["call", "--url", &self.url])
            .args(args)
            .output()
            .expect("hswire call runs")
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

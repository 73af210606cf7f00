//! `hswire user`: the users file of `hswire serve --users`, a JSON array of
//! records as the reference's `hs_py.user.user_to_dict` writes them.

use std::path::PathBuf;
use std::process::ExitCode;

use haystack_wire::connection::{Role, Users};

use crate::output::users_words;
use crate::password::read_password;

/// The PBKDF2 iteration count of new users unless told otherwise: 600,000,
/// the reference's default for new users.
const DEFAULT_ITERATIONS: u32 = 600_000;

/// What `user` takes.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Add a user to a users file (made if missing), or set an existing
    /// user's password and role. The password is prompted without echo on
    /// a terminal, or read as one line from stdin; only its SCRAM
    /// credentials are stored.
    Add {
        /// The users file.
        file: PathBuf,
        /// The user name.
        name: String,
        /// What the user may do: viewer (read-only ops), operator or admin
        /// (also the write ops).
        #[arg(long, default_value = "viewer")]
        role: Role,
        /// PBKDF2 iterations of the stored credentials (at least 4096).
        #[arg(long, default_value_t = DEFAULT_ITERATIONS)]
        iterations: u32,
    },
}

pub fn run(args: &Args) -> Result<ExitCode, Box<dyn std::error::Error>> {
    match &args.command {
        Command::Add {
            file,
            name,
            role,
            iterations,
        } => {
            let mut users = if file.exists() {
                Users::load(file).map_err(|error| users_words(&error))?
            } else {
                Users::new()
            };
            let password = read_password(&format!("password for {name}: "))?;
            // The checks and the derivation of a new user's, then the record
            // goes in (an existing user keeps the other keys of its record).
            let mut one = Users::new();
            one.add(name, &password, *role, *iterations)?;
            let record = one.remove(name).ok_or("the new record went missing")?;
            let existed = users.insert(name, record).is_some();
            users.save(file).map_err(|error| users_words(&error))?;
            eprintln!(
                "{} {name} ({role}) in {}",
                if existed { "updated" } else { "added" },
                file.display()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

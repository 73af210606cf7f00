//! Passwords from the person at the terminal, or from a script.

use std::io::{BufRead, IsTerminal};

/// Reads a password: prompted without echo when stdin is a terminal, else
/// one line of stdin (its line ending taken off), for scripts.
pub fn read_password(prompt: &str) -> Result<String, String> {
    let password = if std::io::stdin().is_terminal() {
        rpassword::prompt_password(prompt).map_err(|error| format!("cannot read the password: {error}"))?
    } else {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|error| format!("cannot read the password from stdin: {error}"))?;
        let end = line.trim_end_matches(['\n', '\r']).len();
        line.truncate(end);
        line
    };
    if password.is_empty() {
        return Err("the password is empty".into());
    }
    Ok(password)
}

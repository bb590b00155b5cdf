//! "Are you sure?" before a delete, as avn and the Atlas CLI ask.
//!
//! Asked only when a person can answer: stdin and stderr both terminals. A script, a pipe
//! or CI (stdin not a terminal) is not asked and goes ahead: the command line it runs is
//! its decision, and a prompt nobody answers would only hang it. `--yes` skips the question
//! on a terminal too.

use std::io::{BufRead, IsTerminal, Write};

/// Whether to ask: not told `--yes`, and a person at a terminal to answer.
pub fn will_ask(yes: bool) -> bool {
    !yes && std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

/// Asks `question` (a `[y/N]` question, default no); an answer other than y/yes ends the
/// command with an error line. Call only when [`will_ask`].
pub fn ask(question: &str) -> anyhow::Result<()> {
    let mut stderr = std::io::stderr().lock();
    write!(stderr, "{question} [y/N] ")?;
    stderr.flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    match answer.trim().to_ascii_lowercase().as_str() {
        "y" | "yes" => Ok(()),
        _ => anyhow::bail!("not confirmed: nothing was deleted (--yes skips the question)"),
    }
}

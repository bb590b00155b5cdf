//! `--watch` on `get` and `list`: the view again each time it changes, until Ctrl-C (as
//! `kubectl get -w` and `watch` do). The server is read once a second; a view that did
//! not change is not printed again, so a quiet object prints once.

use std::future::Future;
use std::io::Write;
use std::time::Duration;

/// How often the server is read.
const EVERY: Duration = Duration::from_secs(1);

/// Prints what `render` returns whenever it differs from what was printed last, until
/// Ctrl-C or stdout closes. Views are separated by a blank line (tables and `key: value`
/// views); JSON and YAML views follow one another as they are.
pub async fn watch<F, Fut>(separate: bool, mut render: F) -> anyhow::Result<String>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<String>>,
{
    let mut last: Option<String> = None;
    let mut stdout = std::io::stdout();
    loop {
        let view = render().await?;
        if last.as_ref() != Some(&view) {
            if separate && last.is_some() {
                let _ = writeln!(stdout);
            }
            // A closed pipe (`| head`) ends the watch.
            if stdout
                .write_all(view.as_bytes())
                .and_then(|_| stdout.flush())
                .is_err()
            {
                return Ok(String::new());
            }
            last = Some(view);
        }
        tokio::select! {
            _ = tokio::time::sleep(EVERY) => {}
            _ = tokio::signal::ctrl_c() => return Ok(String::new()),
        }
    }
}

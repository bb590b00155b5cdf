//! A node's files before its engine starts: the node dir, the CA copy, the certificate
//! and the engine's configuration files. Certificates are issued and files fsynced here, so
//! callers run it on a blocking thread; a file that already holds the right content is left
//! alone, so the resync of a healthy node writes nothing.

use std::os::unix::fs::DirBuilderExt;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use isthmus_connect::engines::{LaunchContext, NodeLaunch, RenderedLaunch};
use isthmus_connect::pki::{write_atomically, Ca, NodeIdentity};

use super::certs;

/// Mode of an engine's configuration file (as `RenderedLaunch::write_files` makes it).
const CONFIG_MODE: u32 = 0o640;

pub struct Prepared {
    pub rendered: RenderedLaunch,
    /// New certificate files were written: a running engine must pick them up.
    pub renewed: bool,
}

/// Makes the node dir and every file the engine needs current.
pub fn prepare(
    ca: &Ca,
    identity: &NodeIdentity,
    lifetime: Duration,
    ctx: &LaunchContext,
    launch: &NodeLaunch,
) -> anyhow::Result<Prepared> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&ctx.data_dir)
        .with_context(|| format!("create node dir {}", ctx.data_dir.display()))?;
    certs::ensure_ca_copy(ca, &ctx.ca)?;
    let renewed = certs::ensure_node_cert(ca, identity, lifetime, &ctx.cert, &ctx.key)?;
    let rendered = launch.render(ctx)?;
    write_changed(&rendered.files)?;
    Ok(Prepared { rendered, renewed })
}

/// Writes each `(path, contents)` whose file does not hold exactly that already.
fn write_changed(files: &[(PathBuf, String)]) -> anyhow::Result<()> {
    for (path, contents) in files {
        if std::fs::read_to_string(path).is_ok_and(|text| text == *contents) {
            continue;
        }
        write_atomically(path, contents.as_bytes(), CONFIG_MODE)
            .with_context(|| format!("write engine config {}", path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt;

    use super::*;

    #[test]
    fn a_config_file_is_replaced_only_when_its_content_changes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("engine.conf");
        let inode = || std::fs::metadata(&path).unwrap().ino();
        let files = |text: &str| vec![(path.clone(), text.to_string())];

        write_changed(&files("port: 4222\n")).unwrap();
        let first = inode();
        write_changed(&files("port: 4222\n")).unwrap();
        assert_eq!(inode(), first, "same content: the file was left alone");

        write_changed(&files("port: 4223\n")).unwrap();
        assert_ne!(inode(), first, "new content: the file was replaced");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "port: 4223\n");
    }
}

//! Where the client finds its server, token and project: flags, then environment, then
//! the profile file, then the local installation's admin token. The first that says
//! something wins, field by field.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::args::GlobalArgs;

pub const DEFAULT_URL: &str = "http://127.0.0.1:8710";

/// The saved `isthmus login`.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Profile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
}

/// What a client verb runs with.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub url: String,
    pub token: Option<String>,
    pub project: Option<String>,
    /// Without a token: where it was looked for, to say so when the server answers 401.
    pub token_not_found: Option<String>,
}

/// The environment, read once, so resolution can be tested without touching the process.
#[derive(Debug, Default, Clone)]
pub struct Env {
    pub url: Option<String>,
    pub token: Option<String>,
    pub project: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub home: Option<PathBuf>,
    pub xdg_config_home: Option<PathBuf>,
    /// `--profile` or `$ISTHMUS_PROFILE`: a named profile instead of the default one.
    pub profile: Option<String>,
}

impl Env {
    pub fn from_process() -> Env {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        Env {
            url: var("ISTHMUS_URL"),
            token: var("ISTHMUS_TOKEN"),
            project: var("ISTHMUS_PROJECT"),
            data_dir: var("ISTHMUS_DATA_DIR").map(PathBuf::from),
            home: var("HOME").map(PathBuf::from),
            xdg_config_home: var("XDG_CONFIG_HOME").map(PathBuf::from),
            profile: var("ISTHMUS_PROFILE"),
        }
    }

    /// `$ISTHMUS_DATA_DIR`, else `~/.local/share/isthmus`.
    pub fn default_data_dir(&self) -> Option<PathBuf> {
        self.data_dir
            .clone()
            .or_else(|| Some(self.home.as_ref()?.join(".local/share/isthmus")))
    }

    /// `~/.config/isthmus/profile.json` (honouring `$XDG_CONFIG_HOME`), or for a named
    /// profile `~/.config/isthmus/profiles/<name>.json`.
    pub fn profile_path(&self) -> Option<PathBuf> {
        let config = self
            .xdg_config_home
            .clone()
            .or_else(|| Some(self.home.as_ref()?.join(".config")))?;
        Some(match &self.profile {
            None => config.join("isthmus/profile.json"),
            Some(name) => config.join(format!("isthmus/profiles/{name}.json")),
        })
    }

    /// This environment with the profile `--profile` names, if it names one.
    pub fn with_profile(mut self, name: Option<&str>) -> anyhow::Result<Env> {
        if let Some(name) = name {
            self.profile = Some(name.to_string());
        }
        if let Some(name) = &self.profile {
            let fine = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
                && !name.starts_with('.');
            anyhow::ensure!(
                fine,
                "profile name '{name}': use letters, digits, '-', '_' and '.' (not first)"
            );
        }
        Ok(self)
    }
}

pub fn resolve(global: &GlobalArgs, env: &Env) -> anyhow::Result<ClientConfig> {
    let profile = match env.profile_path() {
        Some(path) => read_profile(&path)?,
        None => Profile::default(),
    };
    let url = first([&global.url, &env.url, &profile.url]).unwrap_or_else(|| DEFAULT_URL.into());
    let token = first([&global.token, &env.token, &profile.token]).or_else(|| {
        let path = env.default_data_dir()?.join("admin-token");
        // Unreadable is normal on a machine that is not the server: no token, then 401.
        let secret = std::fs::read_to_string(path).ok()?;
        Some(secret.trim().to_string()).filter(|s| !s.is_empty())
    });
    let project = first([&global.project, &env.project, &profile.project]);
    let token_not_found = token.is_none().then(|| token_search(env));
    Ok(ClientConfig {
        url,
        token,
        project,
        token_not_found,
    })
}

/// Where a token was looked for and not found, and how to give one: the sentence shown
/// instead of a bare "unauthorized".
fn token_search(env: &Env) -> String {
    let profile = env
        .profile_path()
        .map_or_else(|| "the profile".to_string(), |p| p.display().to_string());
    let file = match env.default_data_dir() {
        Some(dir) => dir.join("admin-token").display().to_string(),
        None => "<data dir>/admin-token".to_string(),
    };
    format!(
        "no API token found: looked for --token, $ISTHMUS_TOKEN, the profile {profile} and \
         the server's token file {file}; for a server started with --data-dir DIR, set \
         ISTHMUS_DATA_DIR=DIR, or pass --token, or run `isthmus login`"
    )
}

fn first<const N: usize>(candidates: [&Option<String>; N]) -> Option<String> {
    candidates.into_iter().flatten().next().cloned()
}

/// A missing profile is an empty one; a broken one is an error worth reporting.
pub fn read_profile(path: &Path) -> anyhow::Result<Profile> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            serde_json::from_str(&text).with_context(|| format!("read profile {}", path.display()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Profile::default()),
        Err(e) => Err(e).with_context(|| format!("read profile {}", path.display())),
    }
}

/// Writes the profile readable by its owner only: it holds a secret.
pub fn write_profile(path: &Path, profile: &Profile) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;

    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    }
    let text = serde_json::to_string_pretty(profile)?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("write profile {}", path.display()))?;
    // `mode` applies only to a new file; an older profile may have been wider.
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .with_context(|| format!("restrict profile {}", path.display()))?;
    file.write_all(text.as_bytes())
        .and_then(|_| file.write_all(b"\n"))
        .with_context(|| format!("write profile {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::OutputFormat;

    fn flags(url: Option<&str>, token: Option<&str>) -> GlobalArgs {
        GlobalArgs {
            output: OutputFormat::Table,
            url: url.map(str::to_string),
            token: token.map(str::to_string),
            project: None,
            profile: None,
        }
    }

    fn env_in(home: &Path) -> Env {
        Env {
            home: Some(home.to_path_buf()),
            ..Env::default()
        }
    }

    #[test]
    fn a_named_profile_is_a_file_of_its_own_and_odd_names_are_refused() {
        let home = Path::new("/home/ada");
        let env = env_in(home).with_profile(Some("work")).unwrap();
        assert_eq!(
            env.profile_path().unwrap(),
            home.join(".config/isthmus/profiles/work.json")
        );
        assert_eq!(
            env_in(home).profile_path().unwrap(),
            home.join(".config/isthmus/profile.json")
        );
        for bad in ["../x", ".hidden", "a/b", ""] {
            assert!(env_in(home).with_profile(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn flags_beat_environment_which_beats_the_profile() {
        let home = tempfile::tempdir().unwrap();
        let mut env = env_in(home.path());
        let profile = Profile {
            url: Some("http://profile:1".into()),
            token: Some("isth_profile".into()),
            project: Some("profile-project".into()),
        };
        write_profile(&env.profile_path().unwrap(), &profile).unwrap();
        env.token = Some("isth_env".into());

        let config = resolve(&flags(Some("http://flag:1"), None), &env).unwrap();
        assert_eq!(config.url, "http://flag:1");
        assert_eq!(config.token.as_deref(), Some("isth_env"));
        assert_eq!(config.project.as_deref(), Some("profile-project"));
    }

    #[test]
    fn without_anything_the_local_admin_token_and_default_url_are_used() {
        let home = tempfile::tempdir().unwrap();
        let data_dir = home.path().join(".local/share/isthmus");
        std::fs::create_dir_all(&data_dir).unwrap();
        std::fs::write(data_dir.join("admin-token"), "isth_local\n").unwrap();

        let config = resolve(&flags(None, None), &env_in(home.path())).unwrap();
        assert_eq!(config.url, DEFAULT_URL);
        assert_eq!(config.token.as_deref(), Some("isth_local"));
        assert_eq!(config.project, None);
    }

    #[test]
    fn the_profile_is_written_readable_by_its_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let home = tempfile::tempdir().unwrap();
        let path = env_in(home.path()).profile_path().unwrap();
        write_profile(&path, &Profile::default()).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn a_broken_profile_is_an_error_that_names_the_file() {
        let home = tempfile::tempdir().unwrap();
        let path = env_in(home.path()).profile_path().unwrap();
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, "{not json").unwrap();
        let err = resolve(&flags(None, None), &env_in(home.path())).unwrap_err();
        assert!(format!("{err:#}").contains("profile.json"), "{err:#}");
    }
}

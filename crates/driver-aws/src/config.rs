//! Where the aws driver's credentials and endpoint come from: the standard chain, as the
//! AWS CLI reads it (environment first, then the shared credentials file's profile), and
//! an endpoint override (`--aws-endpoint-url`, `AWS_ENDPOINT_URL_EC2`, `AWS_ENDPOINT_URL`)
//! for an emulator such as moto.

use std::path::PathBuf;

/// An access key pair (and session token, for temporary credentials).
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

// Never print the secret.
impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone)]
pub struct AwsConfig {
    pub credentials: Credentials,
    /// Where the credentials were found, for the start-up line (`environment`, `profile
    /// default in ~/.aws/credentials`).
    pub credentials_source: String,
    /// Every region's EC2 calls go here instead of `https://ec2.<region>.amazonaws.com`.
    pub endpoint_url: Option<String>,
}

impl AwsConfig {
    pub fn new(credentials: Credentials, endpoint_url: Option<String>) -> Self {
        AwsConfig {
            credentials,
            credentials_source: "given".into(),
            endpoint_url,
        }
    }

    /// The configuration from the standard chain, with `endpoint` (the command line's)
    /// winning over the environment's. `Err` says why there is none (no credentials), for
    /// the start-up line that says `aws` stays on the simulator.
    pub fn from_env(endpoint: Option<String>) -> Result<AwsConfig, String> {
        let endpoint_url = endpoint
            .or_else(|| non_empty_var("AWS_ENDPOINT_URL_EC2"))
            .or_else(|| non_empty_var("AWS_ENDPOINT_URL"));
        let (credentials, credentials_source) = from_environment()
            .map(|c| (c, "environment".to_string()))
            .or_else(from_profile)
            .ok_or_else(|| {
                "no AWS credentials (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or a profile in \
                 the shared credentials file)"
                    .to_string()
            })?;
        Ok(AwsConfig {
            credentials,
            credentials_source,
            endpoint_url,
        })
    }

    /// The URL EC2 calls in `region` go to.
    pub fn endpoint(&self, region: &str) -> String {
        match &self.endpoint_url {
            Some(url) => url.trim_end_matches('/').to_string(),
            None => format!("https://ec2.{region}.amazonaws.com"),
        }
    }
}

fn non_empty_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn from_environment() -> Option<Credentials> {
    Some(Credentials {
        access_key_id: non_empty_var("AWS_ACCESS_KEY_ID")?,
        secret_access_key: non_empty_var("AWS_SECRET_ACCESS_KEY")?,
        session_token: non_empty_var("AWS_SESSION_TOKEN"),
    })
}

fn from_profile() -> Option<(Credentials, String)> {
    let profile = non_empty_var("AWS_PROFILE").unwrap_or_else(|| "default".into());
    let path = non_empty_var("AWS_SHARED_CREDENTIALS_FILE")
        .map(PathBuf::from)
        .or_else(|| non_empty_var("HOME").map(|h| PathBuf::from(h).join(".aws/credentials")))?;
    let text = std::fs::read_to_string(&path).ok()?;
    let credentials = profile_credentials(&text, &profile)?;
    Some((
        credentials,
        format!("profile {profile} in {}", path.display()),
    ))
}

/// The keys of `[profile]` in an INI credentials file.
pub fn profile_credentials(text: &str, profile: &str) -> Option<Credentials> {
    let mut in_profile = false;
    let (mut id, mut secret, mut token) = (None, None, None);
    for line in text.lines().map(str::trim) {
        if line.starts_with('#') || line.starts_with(';') || line.is_empty() {
            continue;
        }
        if let Some(section) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            in_profile = section.trim() == profile;
            continue;
        }
        if !in_profile {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let value = Some(value.trim().to_string());
        match key.trim() {
            "aws_access_key_id" => id = value,
            "aws_secret_access_key" => secret = value,
            "aws_session_token" => token = value,
            _ => {}
        }
    }
    Some(Credentials {
        access_key_id: id?,
        secret_access_key: secret?,
        session_token: token,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_profile_is_read_from_its_own_section_only() {
        let text = "[default]\naws_access_key_id = AKIADEFAULT\naws_secret_access_key = s1\n\
                    # a comment\n[ci]\naws_access_key_id=AKIACI\naws_secret_access_key=s2\n\
                    aws_session_token = t\n";
        let ci = profile_credentials(text, "ci").unwrap();
        assert_eq!(ci.access_key_id, "AKIACI");
        assert_eq!(ci.secret_access_key, "s2");
        assert_eq!(ci.session_token.as_deref(), Some("t"));
        let default = profile_credentials(text, "default").unwrap();
        assert_eq!(default.access_key_id, "AKIADEFAULT");
        assert_eq!(default.session_token, None);
        assert!(profile_credentials(text, "prod").is_none());
    }

    #[test]
    fn the_secret_is_not_printed() {
        let c = Credentials {
            access_key_id: "AKIA1".into(),
            secret_access_key: "very-secret".into(),
            session_token: None,
        };
        assert!(!format!("{c:?}").contains("very-secret"));
    }
}

//! A small EC2 Query API client: form-encoded POSTs signed with SigV4, XML answers,
//! throttling and 5xx retried with backoff, EC2's error codes classified for the
//! controller.

use std::time::{Duration, SystemTime};

use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use isthmus_driver::DriverError;
use serde::de::DeserializeOwned;

use crate::config::AwsConfig;

const API_VERSION: &str = "2016-11-15";
/// Attempts of one call before a retryable answer is passed on (the controller backs off
/// further on its own).
const ATTEMPTS: u32 = 4;
const BACKOFF_BASE: Duration = Duration::from_millis(200);

/// What EC2 (or the way to it) answered instead of a result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ec2Error {
    /// EC2's error code (`InvalidVpcID.NotFound`), or `Http`/`Transport` for a failure
    /// with no EC2 answer.
    pub code: String,
    pub message: String,
    pub status: u16,
}

impl std::fmt::Display for Ec2Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl Ec2Error {
    pub fn is(&self, code: &str) -> bool {
        self.code == code
    }

    /// Worth asking again: throttling, EC2's own failures, no answer at all.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self.code.as_str(),
            "Throttling"
                | "ThrottlingException"
                | "RequestLimitExceeded"
                | "RequestThrottled"
                | "InternalError"
                | "InternalFailure"
                | "ServiceUnavailable"
                | "Unavailable"
                | "Transport"
        ) || self.status >= 500
    }

    /// AWS refused who we are (not what we asked).
    pub fn is_credentials(&self) -> bool {
        matches!(
            self.code.as_str(),
            "AuthFailure"
                | "InvalidClientTokenId"
                | "SignatureDoesNotMatch"
                | "UnrecognizedClientException"
                | "ExpiredToken"
                | "RequestExpired"
                | "OptInRequired"
                | "UnauthorizedOperation"
                | "Blocked"
        )
    }

    /// The controller's class for this answer, with `what` the driver was doing.
    pub fn into_driver(self, what: &str) -> DriverError {
        let said = format!("{what}: EC2 answered {self}");
        if self.is_credentials() {
            return DriverError::Unsupported(format!(
                "AWS refused the credentials ({}) while trying to {what}: {}",
                self.code, self.message
            ));
        }
        if self.is_retryable() || self.code == "DependencyViolation" {
            return DriverError::Transient(said);
        }
        // NotFound, InvalidParameterValue and friends: asking again gets the same answer.
        DriverError::Invalid(said)
    }
}

/// Query parameters of one call, in EC2's flattened `Name.N.Field` form.
#[derive(Debug, Default, Clone)]
pub struct Params(Vec<(String, String)>);

impl Params {
    pub fn new() -> Self {
        Params::default()
    }

    pub fn set(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.0.push((name.into(), value.into()));
        self
    }

    /// `TagSpecification.1`: tags the created resource in the same call, so a crash
    /// cannot leave it untagged (and unfindable).
    pub fn tags(mut self, resource_type: &str, tags: &[(&str, String)]) -> Self {
        self = self.set("TagSpecification.1.ResourceType", resource_type);
        for (i, (k, v)) in tags.iter().enumerate() {
            self = self
                .set(format!("TagSpecification.1.Tag.{}.Key", i + 1), *k)
                .set(format!("TagSpecification.1.Tag.{}.Value", i + 1), v.clone());
        }
        self
    }

    /// `Filter.N`: one filter with one value each. EC2 applies them; callers also check
    /// the results themselves, because emulators do not always.
    pub fn filters(mut self, filters: &[(&str, String)]) -> Self {
        for (i, (name, value)) in filters.iter().enumerate() {
            self = self
                .set(format!("Filter.{}.Name", i + 1), *name)
                .set(format!("Filter.{}.Value.1", i + 1), value.clone());
        }
        self
    }

    fn body(&self, action: &str) -> String {
        let mut out = format!("Action={action}&Version={API_VERSION}");
        for (k, v) in &self.0 {
            out.push('&');
            out.push_str(&encode(k));
            out.push('=');
            out.push_str(&encode(v));
        }
        out
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// One EC2 client for every region (the region is part of each call's signature).
#[derive(Clone)]
pub struct Ec2 {
    http: reqwest::Client,
    config: AwsConfig,
    /// moto: act as another account (`x-moto-account-id`), as a test's customer does.
    account: Option<String>,
}

impl Ec2 {
    pub fn new(config: AwsConfig) -> Ec2 {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("an HTTP client with rustls");
        Ec2 {
            http,
            config,
            account: None,
        }
    }

    /// The same client acting as `account` on moto (the header is meaningless to AWS).
    pub fn as_moto_account(&self, account: &str) -> Ec2 {
        Ec2 {
            account: Some(account.to_string()),
            ..self.clone()
        }
    }

    /// Calls `action` in `region` and decodes the answer into `T`, retrying throttling
    /// and 5xx with exponential backoff.
    pub async fn call<T: DeserializeOwned>(
        &self,
        region: &str,
        action: &str,
        params: &Params,
    ) -> Result<T, Ec2Error> {
        let xml = self.call_text(region, action, params).await?;
        quick_xml::de::from_str(&xml).map_err(|e| Ec2Error {
            code: "Decode".into(),
            message: format!("could not read EC2's answer to {action}: {e}"),
            status: 200,
        })
    }

    /// [`Ec2::call`], answering EC2's XML as it came.
    pub async fn call_text(
        &self,
        region: &str,
        action: &str,
        params: &Params,
    ) -> Result<String, Ec2Error> {
        let body = params.body(action);
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.once(region, &body).await {
                Err(e) if e.is_retryable() && attempt < ATTEMPTS => {
                    let wait = BACKOFF_BASE * 2u32.pow(attempt - 1) + jitter();
                    tracing::debug!(action, region, error = %e, ?wait, "EC2 retry");
                    tokio::time::sleep(wait).await;
                }
                answer => return answer,
            }
        }
    }

    async fn once(&self, region: &str, body: &str) -> Result<String, Ec2Error> {
        let url = format!("{}/", self.config.endpoint(region));
        let content_type = "application/x-www-form-urlencoded; charset=utf-8";
        let headers = self.sign(region, &url, content_type, body)?;
        let mut req = self
            .http
            .post(&url)
            .header("content-type", content_type)
            .body(body.to_string());
        for (name, value) in headers {
            req = req.header(name, value);
        }
        if let Some(account) = &self.account {
            req = req.header("x-moto-account-id", account);
        }
        let reply = req.send().await.map_err(|e| Ec2Error {
            code: "Transport".into(),
            message: format!("no answer from {url}: {e}"),
            status: 0,
        })?;
        let status = reply.status().as_u16();
        let text = reply.text().await.map_err(|e| Ec2Error {
            code: "Transport".into(),
            message: format!("answer from {url} cut short: {e}"),
            status,
        })?;
        if (200..300).contains(&status) {
            return Ok(text);
        }
        Err(crate::xml::error_of(&text).map_or_else(
            || Ec2Error {
                code: "Http".into(),
                message: format!("HTTP {status} from {url}: {}", text.trim()),
                status,
            },
            |(code, message)| Ec2Error {
                code,
                message,
                status,
            },
        ))
    }

    /// The SigV4 headers for one request.
    fn sign(
        &self,
        region: &str,
        url: &str,
        content_type: &str,
        body: &str,
    ) -> Result<Vec<(String, String)>, Ec2Error> {
        let c = &self.config.credentials;
        let identity = aws_credential_types::Credentials::new(
            &c.access_key_id,
            &c.secret_access_key,
            c.session_token.clone(),
            None,
            "isthmus",
        )
        .into();
        let failed = |e: String| Ec2Error {
            code: "Signing".into(),
            message: e,
            status: 0,
        };
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(region)
            .name("ec2")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| failed(e.to_string()))?
            .into();
        let request = SignableRequest::new(
            "POST",
            url,
            [("content-type", content_type)].into_iter(),
            SignableBody::Bytes(body.as_bytes()),
        )
        .map_err(|e| failed(e.to_string()))?;
        let (instructions, _) = sign(request, &params)
            .map_err(|e| failed(e.to_string()))?
            .into_parts();
        Ok(instructions
            .headers()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect())
    }
}

/// Up to 100 ms, so clients throttled together do not retry together.
fn jitter() -> Duration {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .subsec_nanos();
    Duration::from_millis(u64::from(nanos % 100))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(code: &str, status: u16) -> Ec2Error {
        Ec2Error {
            code: code.into(),
            message: "said".into(),
            status,
        }
    }

    #[test]
    fn answers_are_classified_for_the_controller() {
        assert!(err("RequestLimitExceeded", 503).is_retryable());
        assert!(err("Whatever", 500).is_retryable());
        assert!(!err("InvalidVpcID.NotFound", 400).is_retryable());
        let nf = err("InvalidVpcID.NotFound", 400).into_driver("request peering p");
        assert!(nf.is_permanent());
        assert_eq!(
            nf.message(),
            "request peering p: EC2 answered InvalidVpcID.NotFound: said"
        );
        assert!(err("InvalidParameterValue", 400)
            .into_driver("x")
            .is_permanent());
        let auth = err("AuthFailure", 401).into_driver("create VPC");
        assert!(auth.is_permanent());
        assert!(auth.message().starts_with("AWS refused the credentials"));
        assert!(!err("DependencyViolation", 400)
            .into_driver("x")
            .is_permanent());
        assert!(!err("Throttling", 400).into_driver("x").is_permanent());
    }

    #[test]
    fn parameters_are_flattened_and_encoded() {
        let body = Params::new()
            .set("CidrBlock", "10.0.0.0/16")
            .tags("vpc", &[("isthmus:network-id", "net 1".into())])
            .filters(&[("tag:isthmus:network-id", "n".into())])
            .body("CreateVpc");
        assert_eq!(
            body,
            "Action=CreateVpc&Version=2016-11-15&CidrBlock=10.0.0.0%2F16\
             &TagSpecification.1.ResourceType=vpc&TagSpecification.1.Tag.1.Key=isthmus%3Anetwork-id\
             &TagSpecification.1.Tag.1.Value=net%201&Filter.1.Name=tag%3Aisthmus%3Anetwork-id\
             &Filter.1.Value.1=n"
        );
    }
}

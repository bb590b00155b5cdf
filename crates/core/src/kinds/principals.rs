//! Who may connect to an endpoint service, in each cloud's own terms: AWS IAM principal
//! ARNs (an account's root, a role or a user), GCP project ids, Azure subscription ids,
//! and lab VPC names on `local`. A connection's principal is the customer's account,
//! project, subscription or lab VPC; [`allows`] says whether a list admits it.

use super::validate::Checks;
use crate::clouds::{is_aws_account, is_gcp_project, is_guid};
use crate::resources::Provider;
use crate::{CoreError, FieldError};

/// At most this many principals per service.
pub const MAX_PRINCIPALS: usize = 100;

const FIELD: &str = "allowed_principals";

/// The account an AWS principal ARN names: `arn:<partition>:iam::<12 digits>:root`,
/// `…:role/<path/name>` or `…:user/<path/name>` in the partitions `aws`, `aws-cn`,
/// `aws-us-gov`. Wildcards are refused: a service open to every account is not private.
pub fn aws_principal_account(arn: &str) -> Option<&str> {
    let rest = arn.strip_prefix("arn:")?;
    let (partition, rest) = rest.split_once(':')?;
    let rest = rest.strip_prefix("iam::")?;
    let (account, resource) = rest.split_once(':')?;
    let name_ok = |n: &str| {
        !n.is_empty()
            && n.len() <= 512
            && n.split('/').all(|seg| {
                !seg.is_empty()
                    && seg.bytes().all(|b| {
                        b.is_ascii_alphanumeric()
                            || matches!(b, b'+' | b'=' | b',' | b'.' | b'@' | b'_' | b'-')
                    })
            })
    };
    let resource_ok = resource == "root"
        || resource.strip_prefix("role/").is_some_and(name_ok)
        || resource.strip_prefix("user/").is_some_and(name_ok);
    (matches!(partition, "aws" | "aws-cn" | "aws-us-gov") && is_aws_account(account) && resource_ok)
        .then_some(account)
}

/// A lab VPC name: 1–63 of lowercase letters, digits and '-', a letter first.
fn is_lab_vpc(v: &str) -> bool {
    let b = v.as_bytes();
    (1..=63).contains(&b.len())
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
}

/// Why `value` is not a principal of `provider` (rule, message), if it is not.
fn malformed(provider: Provider, value: &str) -> Option<(&'static str, String)> {
    let ok = match provider {
        Provider::Aws => aws_principal_account(value).is_some(),
        Provider::Gcp => is_gcp_project(value),
        Provider::Azure => is_guid(value),
        Provider::Local => is_lab_vpc(value),
    };
    if ok {
        return None;
    }
    Some(match provider {
        Provider::Aws => (
            "aws-principal-arn",
            "must be an IAM principal ARN such as arn:aws:iam::123456789012:root (or :role/NAME, :user/NAME); wildcards are not allowed".into(),
        ),
        Provider::Gcp => (
            "gcp-project",
            "must be a GCP project id: 6-30 lowercase letters, digits and '-', a letter first".into(),
        ),
        Provider::Azure => (
            "azure-subscription",
            "must be an Azure subscription id (a GUID, 8-4-4-4-12 hex digits)".into(),
        ),
        Provider::Local => (
            "lab-vpc-name",
            "must be a lab VPC name: lowercase letters, digits and '-', a letter first".into(),
        ),
    })
}

/// The principals of `raw` for `provider`: each well-formed, none twice (Azure GUIDs
/// compared without case and stored lowercase), at most [`MAX_PRINCIPALS`]. Every
/// malformed entry is named (`allowed_principals[2]`).
pub fn validate_principals(provider: Provider, raw: &[String]) -> Result<Vec<String>, CoreError> {
    let mut checks = Checks::new();
    if raw.len() > MAX_PRINCIPALS {
        checks.fail(FieldError::new(
            FIELD,
            "max-items",
            format!(
                "at most {MAX_PRINCIPALS} principals per endpoint service (got {})",
                raw.len()
            ),
        ));
        return checks.finish(Vec::new());
    }
    let mut out: Vec<String> = Vec::with_capacity(raw.len());
    for (i, value) in raw.iter().enumerate() {
        let field = format!("{FIELD}[{i}]");
        let value = match provider {
            Provider::Azure => value.trim().to_ascii_lowercase(),
            _ => value.trim().to_string(),
        };
        if let Some((rule, message)) = malformed(provider, &value) {
            checks.fail(FieldError::new(field, rule, message));
        } else if out.contains(&value) {
            checks.fail(FieldError::new(
                field,
                "duplicate",
                format!("{value} is listed twice"),
            ));
        } else {
            out.push(value);
        }
    }
    checks.finish(out)
}

/// Whether a principal of `allowed` admits the customer `account` (an AWS account id, a
/// GCP project, an Azure subscription, a lab VPC). An AWS role or user ARN admits its
/// account: the clouds check the identity, the platform sees the account.
pub fn allows(provider: Provider, allowed: &[String], account: &str) -> bool {
    allowed.iter().any(|p| match provider {
        Provider::Aws => aws_principal_account(p) == Some(account),
        Provider::Azure => p.eq_ignore_ascii_case(account),
        _ => p == account,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn each_cloud_takes_its_own_principals() {
        let aws = strings(&[
            "arn:aws:iam::123456789012:root",
            "arn:aws:iam::210987654321:role/app/reader",
            "arn:aws-us-gov:iam::123456789013:user/ci",
        ]);
        assert_eq!(validate_principals(Provider::Aws, &aws).unwrap(), aws);
        let gcp = strings(&["customer-prod"]);
        assert_eq!(validate_principals(Provider::Gcp, &gcp).unwrap(), gcp);
        let azure = strings(&["6A0B1C2D-3E4F-4a5b-8c7d-1e2f3a4b5c6d"]);
        assert_eq!(
            validate_principals(Provider::Azure, &azure).unwrap(),
            strings(&["6a0b1c2d-3e4f-4a5b-8c7d-1e2f3a4b5c6d"])
        );
        assert_eq!(
            validate_principals(Provider::Local, &strings(&["app-vpc"])).unwrap(),
            strings(&["app-vpc"])
        );
    }

    #[test]
    fn malformed_principals_are_named_with_the_rule_of_their_cloud() {
        let bad = strings(&[
            "arn:aws:iam::123456789012:root",
            "123456789012",
            "arn:aws:iam::*:root",
            "arn:aws:iam::123456789012:root",
        ]);
        let CoreError::Invalid(errors) = validate_principals(Provider::Aws, &bad).unwrap_err()
        else {
            panic!("expected a 422");
        };
        let named: Vec<(&str, &str)> = errors
            .iter()
            .map(|e| (e.field.as_str(), e.rule.as_str()))
            .collect();
        assert_eq!(
            named,
            [
                ("allowed_principals[1]", "aws-principal-arn"),
                ("allowed_principals[2]", "aws-principal-arn"),
                ("allowed_principals[3]", "duplicate"),
            ]
        );
        let e = validate_principals(Provider::Gcp, &strings(&["Bad_Project"])).unwrap_err();
        assert!(e.to_string().contains("allowed_principals[0]"), "{e}");
        let e = validate_principals(Provider::Azure, &strings(&["not-a-guid"])).unwrap_err();
        assert!(matches!(e, CoreError::Invalid(ref v) if v[0].rule == "azure-subscription"));
    }

    #[test]
    fn more_than_a_hundred_principals_is_refused() {
        let many: Vec<String> = (0..101).map(|i| format!("project-{i:04}")).collect();
        let CoreError::Invalid(errors) = validate_principals(Provider::Gcp, &many).unwrap_err()
        else {
            panic!("expected a 422");
        };
        assert_eq!(
            (errors[0].field.as_str(), errors[0].rule.as_str()),
            ("allowed_principals", "max-items")
        );
        assert!(validate_principals(Provider::Gcp, &many[..100]).is_ok());
    }

    #[test]
    fn an_aws_role_admits_its_account_and_no_other() {
        let allowed = strings(&["arn:aws:iam::123456789012:role/app"]);
        assert!(allows(Provider::Aws, &allowed, "123456789012"));
        assert!(!allows(Provider::Aws, &allowed, "123456789013"));
        let subs = strings(&["6a0b1c2d-3e4f-4a5b-8c7d-1e2f3a4b5c6d"]);
        assert!(allows(
            Provider::Azure,
            &subs,
            "6A0B1C2D-3E4F-4A5B-8C7D-1E2F3A4B5C6D"
        ));
        assert!(!allows(
            Provider::Gcp,
            &strings(&["customer-prod"]),
            "customer-dev"
        ));
    }
}

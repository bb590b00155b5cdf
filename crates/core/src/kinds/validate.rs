//! What every kind's rules share: the [`Checks`] accumulator that gathers a request's
//! field errors and hands back the values that passed, and the validators of names,
//! printable text, regions and prefixes.

use crate::resources::Provider;
use crate::{Cidr, CoreError, FieldError};

pub const MAX_NAME_LEN: usize = 100;

/// The field errors of one request, in the order they were found, and the values that
/// passed. A rule runs every independent check so that one 422 lists all the request's
/// mistakes; it then builds the resource from what [`Checks::field`] handed back, so no
/// value is unwrapped on the promise that it was checked.
#[derive(Debug, Default)]
#[must_use = "unfinished checks drop their errors"]
pub struct Checks {
    errors: Vec<FieldError>,
}

impl Checks {
    pub fn new() -> Self {
        Self::default()
    }

    /// The value `r` holds, or `None` with its error recorded.
    pub fn field<T>(&mut self, r: Result<T, FieldError>) -> Option<T> {
        r.map_err(|e| self.errors.push(e)).ok()
    }

    /// Records `r`'s error, if any, for a check that yields no value.
    pub fn check(&mut self, r: Result<(), FieldError>) {
        self.field(r);
    }

    /// Records one broken rule.
    pub fn fail(&mut self, error: FieldError) {
        self.errors.push(error);
    }

    /// Records broken rules a check reported as a list.
    pub fn extend(&mut self, errors: impl IntoIterator<Item = FieldError>) {
        self.errors.extend(errors);
    }

    /// Every recorded error as one [`CoreError::Invalid`], or `value` if there is none.
    pub fn finish<T>(self, value: T) -> Result<T, CoreError> {
        if self.errors.is_empty() {
            Ok(value)
        } else {
            Err(CoreError::Invalid(self.errors))
        }
    }

    /// Like [`Checks::finish`], for the values [`Checks::field`] handed back (joined with
    /// [`Option::zip`]). A value is `None` only where its check recorded an error, so a
    /// missing value with no error is a bug in the rule: it is refused as invalid (and
    /// trips a debug assertion) rather than panicking in a server.
    pub fn finish_values<T>(self, values: Option<T>) -> Result<T, CoreError> {
        match values {
            Some(values) => self.finish(values),
            None => {
                debug_assert!(
                    !self.errors.is_empty(),
                    "a value is missing, no error says why"
                );
                Err(CoreError::Invalid(self.errors))
            }
        }
    }
}

/// Why `c` may not appear in a name or a comment, if it may not: control characters, and
/// the invisible or direction-changing ones a reader cannot see (Unicode format characters
/// such as U+202E or U+200B, line and paragraph separators, and every space but U+0020).
fn unprintable(c: char) -> Option<&'static str> {
    use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};
    // ASCII, nearly every character checked: its only control, format or separator
    // characters are the controls and the space, without the category table's search.
    if c.is_ascii() {
        return c.is_ascii_control().then_some("a control character");
    }
    match c.general_category() {
        GeneralCategory::Control => Some("a control character"),
        GeneralCategory::Format => Some("an invisible format character"),
        GeneralCategory::LineSeparator => Some("a line separator"),
        GeneralCategory::ParagraphSeparator => Some("a paragraph separator"),
        GeneralCategory::SpaceSeparator if c != ' ' => Some("a space other than U+0020"),
        _ => None,
    }
}

/// Refuses text with a character `unprintable` names, with rule `printable`.
pub fn check_printable(field: &str, text: &str) -> Result<(), FieldError> {
    match text
        .chars()
        .find_map(|c| unprintable(c).map(|why| (c, why)))
    {
        None => Ok(()),
        Some((c, why)) => Err(FieldError::new(
            field,
            "printable",
            format!(
                "must not contain control, format or separator characters other than the plain \
                 space; found U+{:04X}, {why}",
                c as u32
            ),
        )),
    }
}

pub fn validate_name(field: &str, name: &str) -> Result<String, FieldError> {
    // Checked before trimming: a trailing U+2028 or tab is refused, not silently dropped.
    check_printable(field, name)?;
    let trimmed = name.trim();
    if trimmed.is_empty() {
        return Err(FieldError::new(field, "required", "must not be empty"));
    }
    if trimmed.chars().count() > MAX_NAME_LEN {
        return Err(FieldError::new(
            field,
            "max-length",
            format!("must be at most {MAX_NAME_LEN} characters"),
        ));
    }
    // Paths take a name or an id: a name in an id's form would be read as an id.
    if trimmed.parse::<crate::Id>().is_ok() {
        return Err(FieldError::new(
            field,
            "id-form",
            "must not have the form of an id (20 characters of 0-9 and a-v)",
        ));
    }
    Ok(trimmed.to_string())
}

/// A region: for a cloud, one of its catalog (with a did-you-mean); for `local`, any
/// lowercase name.
pub fn validate_region(provider: Provider, region: &str) -> Result<String, FieldError> {
    crate::clouds::check_region("region", provider, region)?;
    Ok(region.to_string())
}

/// Parses a prefix for `field`, mapping syntax and host-bit errors to field errors.
pub fn parse_cidr(field: &str, raw: &str) -> Result<Cidr, FieldError> {
    raw.parse::<Cidr>()
        .map_err(|e| FieldError::new(field, e.rule(), e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_keep_every_error_in_the_order_found() {
        let mut checks = Checks::new();
        let name = checks.field(validate_name("name", " "));
        checks.check(check_printable("comment", "a\u{202E}b"));
        let cidr = checks.field(parse_cidr("cidr", "10.0.0.0/8"));
        assert_eq!((name.is_none(), cidr.is_some()), (true, true));
        let Err(CoreError::Invalid(errors)) = checks.finish_values(name.zip(cidr)) else {
            panic!("two checks failed");
        };
        let fields: Vec<_> = errors
            .iter()
            .map(|e| (e.field.as_str(), e.rule.as_str()))
            .collect();
        assert_eq!(fields, [("name", "required"), ("comment", "printable")]);
    }

    #[test]
    fn checks_without_errors_hand_back_the_values() {
        let mut checks = Checks::new();
        let name = checks.field(validate_name("name", "  blue "));
        let cidr = checks.field(parse_cidr("cidr", "10.0.0.0/8"));
        let (name, cidr) = checks.finish_values(name.zip(cidr)).unwrap();
        assert_eq!(
            (name.as_str(), cidr.to_string()),
            ("blue", "10.0.0.0/8".to_string())
        );
    }
}

#[cfg(test)]
mod name_tests {
    use super::*;

    #[test]
    fn a_name_in_the_form_of_an_id_is_refused_so_paths_stay_unambiguous() {
        let err = validate_name("name", "cs2g6h2u1s9n0h1k6f3g").unwrap_err();
        assert_eq!((err.field.as_str(), err.rule.as_str()), ("name", "id-form"));
        // Close to an id but not one: fine.
        assert!(validate_name("name", "cs2g6h2u1s9n0h1k6f3").is_ok());
        assert!(validate_name("name", "web-prod").is_ok());
    }
}

//! Migration versions as the tools write them (`0001`, `20240101120000`, Flyway's `1.2` or
//! `1_12_3`), ordered numerically part by part, of any length.

use serde::{Serialize, Serializer};
use std::cmp::Ordering;
use std::fmt;

/// A numeric version: one or more parts of decimal digits, compared numerically (or, for
/// tools that key migrations by text, as text).
#[derive(Debug, Clone, Eq)]
pub struct Version {
    text: String,
    /// Each part without its leading zeros; trailing zero parts removed (Flyway: `1.0` = `1`).
    parts: Vec<String>,
    /// Ordered and compared as text, as diesel orders its versions.
    lexical: bool,
}

impl Version {
    /// Parses digits separated by `.` or `_` (Flyway); `None` if any part is not all digits.
    pub fn parse(text: &str) -> Option<Version> {
        let mut parts = Vec::new();
        for part in text.split(['.', '_']) {
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let trimmed = part.trim_start_matches('0');
            parts.push(if trimmed.is_empty() { "0".to_string() } else { trimmed.to_string() });
        }
        while parts.len() > 1 && parts.last().is_some_and(|p| p == "0") {
            parts.pop();
        }
        Some(Version { text: text.to_string(), parts, lexical: false })
    }

    /// Digits ordered as text: `2020127190800` (from `2020-12-7-...`) after `20181023172530`,
    /// as diesel sorts the strings it records.
    pub fn lexical(text: &str) -> Option<Version> {
        (!text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())).then(|| Version {
            text: text.to_string(),
            parts: vec![text.to_string()],
            lexical: true,
        })
    }

    /// The version as written in the file name.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        if self.lexical || other.lexical {
            return self.text.cmp(&other.text);
        }
        for (a, b) in self.parts.iter().zip(&other.parts) {
            let ord = a.len().cmp(&b.len()).then_with(|| a.cmp(b));
            if ord != Ordering::Equal {
                return ord;
            }
        }
        self.parts.len().cmp(&other.parts.len())
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl std::hash::Hash for Version {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // Consistent with `Eq`: equal versions have equal normalized parts (lexical ones equal
        // texts, which are their one part).
        self.parts.hash(state);
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for Version {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap()
    }

    #[test]
    fn numeric_not_lexical() {
        assert!(v("9") < v("10"));
        assert!(v("009") < v("10"));
        assert!(v("1.2") < v("1.10"));
        assert!(v("1_12_3") > v("1.2"));
        assert!(v("99999999999999999999999") > v("20240101120000"));
    }

    #[test]
    fn lexical_versions_order_as_text() {
        let l = |s: &str| Version::lexical(s).unwrap();
        assert!(l("2020127190800") > l("20181023172530"), "diesel's `2020-12-7-...` after 2018");
        assert!(l("9") > l("10"));
        assert_ne!(l("001"), l("1"), "different keys to diesel");
        assert!(Version::lexical("1.2").is_none());
    }

    #[test]
    fn equal_spellings() {
        assert_eq!(v("001"), v("1"));
        assert_eq!(v("1.0"), v("1"));
        assert_eq!(v("1_2"), v("1.2"));
        assert_eq!(v("001").as_str(), "001");
    }

    #[test]
    fn rejects_non_numeric() {
        assert!(Version::parse("abc").is_none());
        assert!(Version::parse("1..2").is_none());
        assert!(Version::parse("").is_none());
    }
}

//! `report.json`: the report model as pretty-printed JSON.

use super::Report;

/// Renders the report as JSON.
pub fn render(report: &Report) -> String {
    let mut text = serde_json::to_string_pretty(report).expect("the report serializes");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::sample;

    #[test]
    fn failing_report() {
        insta::with_settings!({filters => vec![(env!("CARGO_PKG_VERSION"), "[VERSION]")]}, {
            insta::assert_snapshot!(render(&sample::failing()));
        });
    }

    #[test]
    fn is_versioned() {
        let value: serde_json::Value = serde_json::from_str(&render(&sample::passing())).unwrap();
        assert_eq!(value["schema_version"], crate::report::SCHEMA_VERSION);
    }
}

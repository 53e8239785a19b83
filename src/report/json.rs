//! `report.json`: the report model as pretty-printed JSON.

use super::Report;

/// Renders the report as JSON.
pub fn render(report: &Report) -> String {
    let mut text = serde_json::to_string_pretty(report).expect("the report serializes");
    text.push('\n');
    text
}

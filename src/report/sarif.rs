//! `report.sarif`: the findings as SARIF 2.1.0, the format GitHub code scanning ingests.

use super::Report;
use crate::findings::{Finding, Severity};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// Renders the findings as a SARIF 2.1.0 log with one run.
pub fn render(report: &Report) -> String {
    // One rule entry per rule id, in first-seen order of the sorted ids.
    let mut rules: BTreeMap<&str, &Finding> = BTreeMap::new();
    for f in &report.findings {
        rules.entry(f.rule.as_str()).or_insert(f);
    }
    let index: BTreeMap<&str, usize> = rules.keys().enumerate().map(|(i, id)| (*id, i)).collect();
    let rule_list: Vec<Value> = rules
        .iter()
        .map(|(id, example)| {
            json!({
                "id": id,
                "name": id,
                "shortDescription": { "text": id.replace('-', " ") },
                "defaultConfiguration": { "level": level(example.severity) },
                "properties": { "tags": ["migrations"] },
            })
        })
        .collect();
    let results: Vec<Value> = report
        .findings
        .iter()
        .map(|f| {
            let mut text = f.message.clone();
            if let Some(help) = &f.help {
                text.push_str("\nHelp: ");
                text.push_str(help);
            }
            let mut result = json!({
                "ruleId": f.rule,
                "ruleIndex": index[f.rule.as_str()],
                "level": level(f.severity),
                "message": { "text": text },
            });
            // Code scanning needs a location; chain-level findings point at the migrations
            // directory.
            let uri = f.file.clone().unwrap_or_else(|| report.chain.dir.clone());
            let mut physical = json!({ "artifactLocation": { "uri": uri, "uriBaseId": "%SRCROOT%" } });
            if let Some(line) = f.line {
                physical["region"] = json!({ "startLine": line.max(1) });
            }
            result["locations"] = json!([{ "physicalLocation": physical }]);
            if let Some(migration) = &f.migration {
                result["properties"] = json!({ "migration": migration });
            }
            result
        })
        .collect();
    let log = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": report.tool.name,
                "version": report.tool.version,
                "rules": rule_list,
            }},
            "originalUriBaseIds": { "%SRCROOT%": { "description": { "text": "the repository root" } } },
            "results": results,
        }],
    });
    let mut text = serde_json::to_string_pretty(&log).expect("SARIF serializes");
    text.push('\n');
    text
}

fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "note",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::sample;

    #[test]
    fn pull_request_strings_stay_json_strings() {
        let text = render(&sample::hostile());
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        let message = value["runs"][0]["results"][0]["message"]["text"].as_str().unwrap();
        assert!(message.contains("::error file=a.sql::forged"), "kept as data: {message}");
    }

    #[test]
    fn failing_report() {
        insta::with_settings!({filters => vec![(env!("CARGO_PKG_VERSION"), "[VERSION]")]}, {
            insta::assert_snapshot!(render(&sample::failing()));
        });
    }

    #[test]
    fn shape_is_sarif_2_1_0() {
        let log: Value = serde_json::from_str(&render(&sample::failing())).unwrap();
        assert_eq!(log["version"], "2.1.0");
        let results = log["runs"][0]["results"].as_array().unwrap();
        assert_eq!(results.len(), 3);
        for r in results {
            let i = r["ruleIndex"].as_u64().unwrap() as usize;
            assert_eq!(log["runs"][0]["tool"]["driver"]["rules"][i]["id"], r["ruleId"]);
            assert!(r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].is_string());
        }
    }
}

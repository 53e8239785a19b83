//! `report.xml`: the report as JUnit XML, one test case per migration, for CI test viewers.
//! Findings that fail the check under `fail_on` are failures; others go to `<system-out>`.

use super::{MigrationStatus, Report};
use crate::findings::Finding;
use std::collections::{HashMap, HashSet};
use std::fmt::Write;

/// Renders the report as a JUnit XML document.
pub fn render(report: &Report) -> String {
    let failing = |f: &Finding| report.fail_on.fails(f.severity);
    // Findings grouped by migration once; those of no known migration belong to the chain.
    let ids: HashSet<&str> = report.migrations.iter().map(|m| m.id.as_str()).collect();
    let mut by_migration: HashMap<&str, Vec<&Finding>> = HashMap::new();
    let mut chain_findings: Vec<&Finding> = Vec::new();
    for f in &report.findings {
        match f.migration.as_deref().filter(|id| ids.contains(id)) {
            Some(id) => by_migration.entry(id).or_default().push(f),
            None => chain_findings.push(f),
        }
    }
    let mut cases = String::new();
    let mut failures = 0;
    let mut skipped = 0;
    for m in &report.migrations {
        let own: &[&Finding] = by_migration.get(m.id.as_str()).map_or(&[], Vec::as_slice);
        let _ = write!(
            cases,
            "    <testcase classname=\"{}\" name=\"{}\" file=\"{}\" time=\"{:.3}\"",
            xml(&report.chain.dir),
            xml(&format!("{} {}", m.id, m.name)),
            xml(&m.path),
            m.duration_ms / 1000.0
        );
        let fails: Vec<&&Finding> = own.iter().filter(|f| failing(f)).collect();
        let others: Vec<&&Finding> = own.iter().filter(|f| !failing(f)).collect();
        if fails.is_empty() && others.is_empty() && m.status != MigrationStatus::Skipped {
            cases.push_str("/>\n");
            continue;
        }
        cases.push_str(">\n");
        if m.status == MigrationStatus::Skipped {
            skipped += 1;
            cases.push_str("      <skipped message=\"not run: an earlier migration failed\"/>\n");
        } else if let Some(first) = fails.first() {
            failures += 1;
            let body: Vec<String> = fails.iter().map(|f| line(f)).collect();
            let _ = writeln!(
                cases,
                "      <failure type=\"{}\" message=\"{}\">{}</failure>",
                xml(&first.rule),
                xml(&first.message),
                xml(&body.join("\n"))
            );
        }
        if !others.is_empty() {
            let body: Vec<String> = others.iter().map(|f| line(f)).collect();
            let _ = writeln!(cases, "      <system-out>{}</system-out>", xml(&body.join("\n")));
        }
        cases.push_str("    </testcase>\n");
    }
    let mut tests = report.migrations.len();
    if !chain_findings.is_empty() {
        tests += 1;
        let _ =
            writeln!(cases, "    <testcase classname=\"{}\" name=\"chain\" time=\"0.000\">", xml(&report.chain.dir));
        let fails: Vec<&&Finding> = chain_findings.iter().filter(|f| failing(f)).collect();
        if let Some(first) = fails.first() {
            failures += 1;
            let body: Vec<String> = fails.iter().map(|f| line(f)).collect();
            let _ = writeln!(
                cases,
                "      <failure type=\"{}\" message=\"{}\">{}</failure>",
                xml(&first.rule),
                xml(&first.message),
                xml(&body.join("\n"))
            );
        }
        let others: Vec<String> = chain_findings.iter().filter(|f| !failing(f)).map(|f| line(f)).collect();
        if !others.is_empty() {
            let _ = writeln!(cases, "      <system-out>{}</system-out>", xml(&others.join("\n")));
        }
        cases.push_str("    </testcase>\n");
    }
    let time = report.summary.duration_ms / 1000.0;
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"{}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\" time=\"{time:.3}\">",
        report.tool.name
    );
    let _ = writeln!(
        out,
        "  <testsuite name=\"{} migrations in {}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\" time=\"{time:.3}\">",
        xml(&report.chain.format),
        xml(&report.chain.dir)
    );
    out.push_str(&cases);
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

/// `file:line: severity [rule] message` and the help, as in the terminal.
fn line(f: &Finding) -> String {
    let location = match (&f.file, f.line) {
        (Some(file), Some(line)) => format!("{file}:{line}: "),
        (Some(file), None) => format!("{file}: "),
        _ => String::new(),
    };
    let mut text = format!("{location}{} [{}] {}", f.severity, f.rule, f.message);
    if let Some(help) = &f.help {
        let _ = write!(text, "\n  help: {help}");
    }
    text
}

/// Escapes text for XML attributes and content, dropping characters XML 1.0 forbids.
fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' | '\t' | '\r' => out.push(c),
            c if (c as u32) < 0x20 => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::sample;

    #[test]
    fn failing_report() {
        insta::assert_snapshot!(render(&sample::failing()));
    }

    #[test]
    fn pull_request_strings_stay_text() {
        let xml = render(&sample::hostile());
        insta::assert_snapshot!(xml);
        assert!(!xml.contains("<img") && !xml.contains("</details>"), "{xml}");
    }

    #[test]
    fn passing_report() {
        insta::assert_snapshot!(render(&sample::passing()));
    }

    #[test]
    fn escapes_and_drops_control_characters() {
        assert_eq!(xml("a<b & \"c\"\u{1}"), "a&lt;b &amp; &quot;c&quot;");
    }
}

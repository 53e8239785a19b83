//! Talking to the runner without the API: workflow commands on stdout (`::add-mask::`,
//! `::error file=...::`, `::notice::`), step outputs in `$GITHUB_OUTPUT` and the job summary in
//! `$GITHUB_STEP_SUMMARY`.

use crate::findings::{Finding, Severity};
use std::io::Write;
use std::path::Path;

/// Escapes a workflow command's message.
pub fn escape_data(text: &str) -> String {
    text.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

/// Escapes a workflow command's property value.
pub fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

/// `::stop-commands::TOKEN`, with a fresh random token: until [`resume_commands`] with it, the
/// runner takes no line for a workflow command. Returns the token; print the line with
/// [`pause_line`].
pub fn pause_commands() -> String {
    let token = crate::random::hex(128);
    println!("{}", pause_line(&token));
    token
}

/// The line that stops command processing until `token` is printed as a command.
pub fn pause_line(token: &str) -> String {
    format!("::stop-commands::{token}")
}

/// The line that resumes command processing after [`pause_commands`].
pub fn resume_commands(token: &str) -> String {
    format!("::{token}::")
}

/// `::add-mask::value`, so the runner hides `value` in the log from now on.
pub fn mask(value: &str) -> String {
    format!("::add-mask::{}", escape_data(value))
}

/// `::notice title=...::message`.
pub fn notice(title: &str, message: &str) -> String {
    format!("::notice title={}::{}", escape_property(title), escape_data(message))
}

/// `::error title=...::message` for a check that could not run at all.
pub fn error(message: &str) -> String {
    format!("::error title=Migration Guard::{}", escape_data(message))
}

/// A workflow-command annotation for a finding, with its path relative to the repository.
pub fn annotation(finding: &Finding, path: Option<&str>) -> String {
    let command = match finding.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "notice",
    };
    let mut properties = vec![format!("title={}", escape_property(&format!("migration-guard: {}", finding.rule)))];
    if let Some(path) = path {
        properties.push(format!("file={}", escape_property(path)));
        if let Some(line) = finding.line {
            properties.push(format!("line={line}"));
        }
    }
    let mut message = finding.message.clone();
    if let Some(help) = &finding.help {
        message.push_str("\nhelp: ");
        message.push_str(help);
    }
    format!("::{command} {}::{}", properties.join(","), escape_data(&message))
}

/// Appends `name=value` pairs to the `$GITHUB_OUTPUT` file, multi-line values with a delimiter
/// that cannot occur in them.
pub fn write_outputs(file: &Path, outputs: &[(&str, String)]) -> std::io::Result<()> {
    let mut text = String::new();
    for (name, value) in outputs {
        if value.contains('\n') || value.contains('\r') {
            let mut delimiter = format!("ghadelimiter_{}", std::process::id());
            while value.contains(&delimiter) {
                delimiter.push('_');
            }
            text.push_str(&format!("{name}<<{delimiter}\n{value}\n{delimiter}\n"));
        } else {
            text.push_str(&format!("{name}={value}\n"));
        }
    }
    append(file, &text)
}

/// Appends Markdown to the `$GITHUB_STEP_SUMMARY` file.
pub fn append_summary(file: &Path, markdown: &str) -> std::io::Result<()> {
    let mut text = markdown.to_string();
    if !text.ends_with('\n') {
        text.push('\n');
    }
    append(file, &text)
}

fn append(file: &Path, text: &str) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(file)?;
    f.write_all(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annotations_escape_message_and_properties() {
        let f = Finding::new("migration-failed", Severity::Error, "100% broken\nsecond line")
            .at("db/1,a:b.sql", Some(4))
            .with_help("fix it");
        assert_eq!(
            annotation(&f, Some("db/1,a:b.sql")),
            "::error title=migration-guard%3A migration-failed,file=db/1%2Ca%3Ab.sql,line=4::100%25 broken%0Asecond line%0Ahelp: fix it"
        );
        let w = Finding::new("x", Severity::Warning, "w");
        assert_eq!(annotation(&w, None), "::warning title=migration-guard%3A x::w");
        assert_eq!(mask("p%ss"), "::add-mask::p%25ss");
    }

    #[test]
    fn outputs_single_and_multi_line() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("out");
        write_outputs(&file, &[("status", "fail".into()), ("heads", "a\nb".into())]).unwrap();
        let text = std::fs::read_to_string(&file).unwrap();
        let delim = format!("ghadelimiter_{}", std::process::id());
        assert_eq!(text, format!("status=fail\nheads<<{delim}\na\nb\n{delim}\n"));
    }
}

//! Uploading the report files as a workflow artifact from inside the action's container, the
//! way `actions/upload-artifact@v4` does: `CreateArtifact` on the results service (Twirp,
//! JSON), the zip `PUT` to the signed blob URL it returns, then `FinalizeArtifact` with size
//! and SHA-256. Authenticated with the runner's `ACTIONS_RUNTIME_TOKEN`.

use super::retry::{self, Backoff, Verdict};
use base64::Engine as _;
use serde_json::{Value, json};
use sha2::Digest;
use std::path::PathBuf;

const SERVICE: &str = "twirp/github.actions.results.api.v1.ArtifactService";

/// Why the artifact could not be uploaded.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    #[error("artifact-name {0:?}: may not contain \" : < > | * ? \\ / or line breaks")]
    Name(String),
    #[error(
        "ACTIONS_RUNTIME_TOKEN has no Actions.Results scope (is this a GitHub-hosted or current self-hosted runner?)"
    )]
    Token,
    #[error("cannot read {path}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{step}: {message}")]
    Service { step: &'static str, message: String },
}

/// The uploaded artifact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uploaded {
    pub id: String,
    pub size: usize,
}

/// The run and job ids the results service wants, from the token's `scp` claim
/// (`Actions.Results:<run>:<job>`).
pub fn backend_ids(token: &str) -> Result<(String, String), ArtifactError> {
    let payload = token.split('.').nth(1).ok_or(ArtifactError::Token)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|_| ArtifactError::Token)?;
    let claims: Value = serde_json::from_slice(&bytes).map_err(|_| ArtifactError::Token)?;
    let scopes = claims["scp"].as_str().ok_or(ArtifactError::Token)?;
    scopes
        .split(' ')
        .find_map(|scope| {
            let parts: Vec<&str> = scope.split(':').collect();
            (parts.len() == 3 && parts[0] == "Actions.Results").then(|| (parts[1].to_string(), parts[2].to_string()))
        })
        .ok_or(ArtifactError::Token)
}

/// Uploads `files` (flat, by file name) as artifact `name`.
pub async fn upload(
    results_url: &str,
    token: &str,
    name: &str,
    files: &[PathBuf],
    backoff: Backoff,
) -> Result<Uploaded, ArtifactError> {
    if name.is_empty() || name.chars().any(|c| "\":<>|*?\\/\r\n".contains(c)) {
        return Err(ArtifactError::Name(name.to_string()));
    }
    let (run, job) = backend_ids(token)?;
    let mut entries = Vec::new();
    for path in files {
        let data =
            std::fs::read(path).map_err(|source| ArtifactError::Read { path: path.display().to_string(), source })?;
        let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        entries.push((file_name, data));
    }
    let archive = zip(&entries);
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(60))
        .build()
        .map_err(|e| ArtifactError::Service { step: "http client", message: e.to_string() })?;
    let base = results_url.trim_end_matches('/');

    let created = twirp(
        &client,
        &format!("{base}/{SERVICE}/CreateArtifact"),
        token,
        &json!({ "workflow_run_backend_id": run, "workflow_job_run_backend_id": job, "name": name, "version": 4 }),
        "CreateArtifact",
        backoff,
    )
    .await?;
    let upload_url = created["signed_upload_url"]
        .as_str()
        .filter(|_| created["ok"].as_bool() != Some(false))
        .ok_or_else(|| ArtifactError::Service {
            step: "CreateArtifact",
            message: format!("unexpected answer {created}"),
        })?
        .to_string();

    let put = || async {
        let response = client
            .put(&upload_url)
            .header("x-ms-blob-type", "BlockBlob")
            .header("content-type", "application/zip")
            .body(archive.clone())
            .send()
            .await
            .map_err(|e| (None, e.to_string()))?;
        let status = response.status().as_u16();
        if response.status().is_success() {
            Ok(())
        } else {
            Err((Some(status), format!("blob storage answered {status}")))
        }
    };
    retry::retry(backoff, put, verdict)
        .await
        .map_err(|(_, message)| ArtifactError::Service { step: "upload", message })?;

    let hash = sha2::Sha256::digest(&archive).iter().map(|b| format!("{b:02x}")).collect::<String>();
    let finalized = twirp(
        &client,
        &format!("{base}/{SERVICE}/FinalizeArtifact"),
        token,
        &json!({
            "workflow_run_backend_id": run,
            "workflow_job_run_backend_id": job,
            "name": name,
            "size": archive.len().to_string(),
            "hash": format!("sha256:{hash}"),
        }),
        "FinalizeArtifact",
        backoff,
    )
    .await?;
    if finalized["ok"].as_bool() == Some(false) {
        return Err(ArtifactError::Service { step: "FinalizeArtifact", message: "the service refused".into() });
    }
    let id = match &finalized["artifact_id"] {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    };
    Ok(Uploaded { id, size: archive.len() })
}

fn verdict(error: &(Option<u16>, String)) -> Verdict {
    match error.0 {
        Some(status) => retry::classify_status(status, None, None),
        None => Verdict::Retry(None),
    }
}

async fn twirp(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    body: &Value,
    step: &'static str,
    backoff: Backoff,
) -> Result<Value, ArtifactError> {
    let call = || async {
        let response =
            client.post(url).bearer_auth(token).json(body).send().await.map_err(|e| (None, e.to_string()))?;
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        if !(200..300).contains(&status) {
            let message: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            let detail = message["msg"].as_str().unwrap_or("").to_string();
            return Err((Some(status), format!("the results service answered {status} {detail}").trim().to_string()));
        }
        serde_json::from_str::<Value>(&text).map_err(|e| (Some(status), format!("unexpected answer: {e}")))
    };
    retry::retry(backoff, call, verdict).await.map_err(|(_, message)| ArtifactError::Service { step, message })
}

/// A zip archive of `(name, data)` entries, stored without compression: the report files are
/// small, and the artifact service zips nothing itself.
pub fn zip(entries: &[(String, Vec<u8>)]) -> Vec<u8> {
    const CRC32: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);
    let mut out = Vec::new();
    let mut central = Vec::new();
    // 1980-01-01 00:00, the zip epoch: the content is what matters, not the time.
    let (time, date) = (0u16, (1u16 << 5) | 1);
    for (name, data) in entries {
        let crc = CRC32.checksum(data);
        let offset = out.len() as u32;
        let size = data.len() as u32;
        let name_bytes = name.as_bytes();
        let header = |out: &mut Vec<u8>, central_entry: bool| {
            out.extend_from_slice(if central_entry { &[0x50, 0x4b, 0x01, 0x02] } else { &[0x50, 0x4b, 0x03, 0x04] });
            if central_entry {
                out.extend_from_slice(&20u16.to_le_bytes()); // made by
            }
            out.extend_from_slice(&20u16.to_le_bytes()); // version needed
            out.extend_from_slice(&0x0800u16.to_le_bytes()); // flags: UTF-8 names
            out.extend_from_slice(&0u16.to_le_bytes()); // stored
            out.extend_from_slice(&time.to_le_bytes());
            out.extend_from_slice(&date.to_le_bytes());
            out.extend_from_slice(&crc.to_le_bytes());
            out.extend_from_slice(&size.to_le_bytes());
            out.extend_from_slice(&size.to_le_bytes());
            out.extend_from_slice(&(name_bytes.len() as u16).to_le_bytes());
            out.extend_from_slice(&0u16.to_le_bytes()); // extra
            if central_entry {
                out.extend_from_slice(&0u16.to_le_bytes()); // comment
                out.extend_from_slice(&0u16.to_le_bytes()); // disk
                out.extend_from_slice(&0u16.to_le_bytes()); // internal attributes
                out.extend_from_slice(&(0o100644u32 << 16).to_le_bytes()); // external: rw-r--r--
                out.extend_from_slice(&offset.to_le_bytes());
            }
            out.extend_from_slice(name_bytes);
        };
        header(&mut out, false);
        out.extend_from_slice(data);
        header(&mut central, true);
    }
    let central_offset = out.len() as u32;
    out.extend_from_slice(&central);
    out.extend_from_slice(&[0x50, 0x4b, 0x05, 0x06, 0, 0, 0, 0]);
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    out.extend_from_slice(&(central.len() as u32).to_le_bytes());
    out.extend_from_slice(&central_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A token with the given `scp` claim (unsigned: only the claims are read).
    pub fn token(scp: &str) -> String {
        let claims = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json!({ "scp": scp }).to_string());
        format!("eyJhbGciOiJub25lIn0.{claims}.sig")
    }

    #[test]
    fn backend_ids_from_token() {
        let t = token("Actions.ExampleScope Actions.Results:run-1:job-2");
        assert_eq!(backend_ids(&t).unwrap(), ("run-1".into(), "job-2".into()));
        assert!(matches!(backend_ids(&token("Actions.GenericRead:x")), Err(ArtifactError::Token)));
        assert!(matches!(backend_ids("not-a-jwt"), Err(ArtifactError::Token)));
    }

    #[test]
    fn zip_is_readable_by_python() {
        let archive = zip(&[("report.json".into(), b"{}\n".to_vec()), ("report.md".into(), b"# hi\n".to_vec())]);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.zip");
        std::fs::write(&path, &archive).unwrap();
        let script = "import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1])\nassert z.testzip() is None\nprint(','.join(n + '=' + z.read(n).decode().strip() for n in z.namelist()))";
        match std::process::Command::new("python3").arg("-c").arg(script).arg(&path).output() {
            Ok(out) => {
                assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "report.json={},report.md=# hi", "{out:?}")
            }
            Err(_) => eprintln!("SKIPPED: python3 not found to read the zip back"),
        }
        assert_eq!(&archive[..4], b"PK\x03\x04");
    }
}

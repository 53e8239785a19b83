//! A local stand-in for the GitHub REST API, the Actions results (artifact) service, its blob
//! storage and a Slack webhook, answering in their real shapes and recording every request.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

/// One request the server received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// Path and query.
    pub path: String,
    pub authorization: Option<String>,
    /// The body as JSON (`Null` when not JSON).
    pub json: Value,
    pub raw: Vec<u8>,
}

/// How the fake misbehaves.
#[derive(Debug, Clone, Copy, Default)]
pub struct Behaviour {
    /// Answer 403 "Resource not accessible by integration" to writes, like a read-only token.
    pub read_only: bool,
    /// Answer 500 to every comment listing.
    pub comments_fail: bool,
}

#[derive(Default)]
struct Inner {
    behaviour: Behaviour,
    requests: Vec<Recorded>,
    /// (id, body, author login) of the PR's comments.
    comments: Vec<(u64, String, String)>,
    next_id: u64,
    base: String,
}

type Shared = Arc<Mutex<Inner>>;

/// A running fake server; stops with the test process.
pub struct FakeGitHub {
    pub url: String,
    inner: Shared,
}

impl FakeGitHub {
    /// Starts the server on a free loopback port, with one unrelated comment on the PR.
    pub fn start(behaviour: Behaviour) -> FakeGitHub {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let inner = Arc::new(Mutex::new(Inner {
            behaviour,
            comments: vec![(1, "Looks good to me!".into(), "octocat".into())],
            next_id: 100,
            base: url.clone(),
            ..Inner::default()
        }));
        let state = inner.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let app = axum::Router::new().fallback(handle).with_state(state);
                axum::serve(listener, app).await.unwrap();
            });
        });
        FakeGitHub { url, inner }
    }

    /// Every request so far, in order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.inner.lock().unwrap().requests.clone()
    }

    /// Requests whose method is `method` and whose path starts with `prefix`.
    pub fn matching(&self, method: &str, prefix: &str) -> Vec<Recorded> {
        self.requests().into_iter().filter(|r| r.method == method && r.path.starts_with(prefix)).collect()
    }

    /// The PR's comments as (id, body).
    pub fn comments(&self) -> Vec<(u64, String)> {
        self.inner.lock().unwrap().comments.iter().map(|(id, body, _)| (*id, body.clone())).collect()
    }

    /// Adds a comment written by `login`; returns its id.
    pub fn add_comment(&self, login: &str, body: &str) -> u64 {
        let mut inner = self.inner.lock().unwrap();
        inner.next_id += 1;
        let id = inner.next_id;
        inner.comments.push((id, body.to_string(), login.to_string()));
        id
    }

    /// Forgets the recorded requests (comments stay).
    pub fn clear(&self) {
        self.inner.lock().unwrap().requests.clear();
    }
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({ "message": message, "documentation_url": "https://docs.github.com/rest" })))
        .into_response()
}

async fn handle(State(state): State<Shared>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let path = uri.path_and_query().map(|p| p.as_str().to_string()).unwrap_or_default();
    let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mut inner = state.lock().unwrap();
    inner.requests.push(Recorded {
        method: method.to_string(),
        path: path.clone(),
        authorization: headers.get("authorization").and_then(|v| v.to_str().ok()).map(str::to_string),
        json: json.clone(),
        raw: body.to_vec(),
    });
    let behaviour = inner.behaviour;
    let segments: Vec<&str> = uri.path().trim_matches('/').split('/').collect();
    let write = method != Method::GET;
    if behaviour.read_only && write && segments.first() == Some(&"repos") {
        return error(StatusCode::FORBIDDEN, "Resource not accessible by integration");
    }
    match (method.as_str(), segments.as_slice()) {
        // The workflow's installation token cannot read its user.
        ("GET", ["user"]) => error(StatusCode::FORBIDDEN, "Resource not accessible by integration"),
        ("GET", ["repos", _, _, "issues", _, "comments"]) => {
            if behaviour.comments_fail {
                return error(StatusCode::INTERNAL_SERVER_ERROR, "Server Error");
            }
            let page: usize = uri
                .query()
                .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("page=")))
                .and_then(|p| p.parse().ok())
                .unwrap_or(1);
            let list: Vec<Value> = if page == 1 {
                inner.comments.iter().map(|(id, body, login)| comment_json(*id, body, login)).collect()
            } else {
                Vec::new()
            };
            axum::Json(Value::Array(list)).into_response()
        }
        ("POST", ["repos", _, _, "issues", _, "comments"]) => {
            inner.next_id += 1;
            let id = inner.next_id;
            let text = json["body"].as_str().unwrap_or_default().to_string();
            inner.comments.push((id, text.clone(), BOT.to_string()));
            (StatusCode::CREATED, axum::Json(comment_json(id, &text, BOT))).into_response()
        }
        ("PATCH", ["repos", _, _, "issues", "comments", id]) => {
            let id: u64 = id.parse().unwrap_or(0);
            let text = json["body"].as_str().unwrap_or_default().to_string();
            match inner.comments.iter_mut().find(|(c, _, _)| *c == id) {
                Some(comment) => {
                    comment.1 = text.clone();
                    let login = comment.2.clone();
                    axum::Json(comment_json(id, &text, &login)).into_response()
                }
                None => error(StatusCode::NOT_FOUND, "Not Found"),
            }
        }
        ("POST", ["repos", _, _, "check-runs"]) => {
            inner.next_id += 1;
            let id = inner.next_id;
            (StatusCode::CREATED, axum::Json(json!({ "id": id, "name": json["name"], "head_sha": json["head_sha"], "status": "completed", "conclusion": json["conclusion"] })))
                .into_response()
        }
        ("PATCH", ["repos", _, _, "check-runs", id]) => {
            axum::Json(json!({ "id": id.parse::<u64>().unwrap_or(0) })).into_response()
        }
        ("POST", ["twirp", "github.actions.results.api.v1.ArtifactService", "CreateArtifact"]) => {
            let url = format!("{}/blob/artifact.zip?sig=secret", inner.base);
            axum::Json(json!({ "ok": true, "signed_upload_url": url })).into_response()
        }
        ("PUT", ["blob", "artifact.zip"]) => StatusCode::CREATED.into_response(),
        ("POST", ["twirp", "github.actions.results.api.v1.ArtifactService", "FinalizeArtifact"]) => {
            axum::Json(json!({ "ok": true, "artifact_id": "4242" })).into_response()
        }
        ("POST", ["slack", "hook"]) => "ok".into_response(),
        _ => error(StatusCode::NOT_FOUND, "Not Found"),
    }
}

/// The workflow token's user, author of the comments the action writes.
const BOT: &str = "github-actions[bot]";

fn comment_json(id: u64, body: &str, login: &str) -> Value {
    let kind = if login.ends_with("[bot]") { "Bot" } else { "User" };
    json!({ "id": id, "body": body, "user": { "login": login, "type": kind } })
}

/// A server that accepts connections and never answers; returns its URL.
pub fn black_hole() -> String {
    misbehaving(|_stream| {
        loop {
            std::thread::sleep(std::time::Duration::from_secs(60));
        }
    })
}

/// A server that answers one byte every two seconds, for ever; returns its URL.
pub fn slow_drip() -> String {
    misbehaving(|mut stream| {
        use std::io::Write;
        for byte in b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n".iter().cycle() {
            if stream.write_all(&[*byte]).is_err() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_secs(2));
        }
    })
}

fn misbehaving(serve: fn(std::net::TcpStream)) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || serve(stream));
        }
    });
    url
}

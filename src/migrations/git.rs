//! The git work tree a chain lives in and how its files compare with a base: which exist at the
//! base and which differ from it, and which base to use when none is given (the merge-base with
//! the remote's default branch). Runs `git`; knows nothing of what the files mean.

use super::{Apply, Chain, Migration, display_path};
use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Why the comparison with the base could not be made; each message names `--base-ref`.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("--base-ref {reference}: cannot run git (install git, or drop --base-ref)")]
    NoGit {
        reference: String,
        #[source]
        source: std::io::Error,
    },
    #[error("--base-ref {reference}: {path} is not inside a git work tree")]
    NotARepository { reference: String, path: String },
    #[error(
        "--base-ref {reference}: git does not know this ref; fetch it first (e.g. `git fetch origin {branch}`, or check out with fetch-depth: 0)"
    )]
    UnknownRef { reference: String, branch: String },
    #[error("--base-ref {reference}: `git {command}` failed: {message}")]
    Git { reference: String, command: String, message: String },
}

/// The chain's files compared with a base commit.
#[derive(Debug, Clone)]
pub struct Comparison {
    /// The base as the user knows it: the ref given, or `origin/main (merge-base 1a2b3c4)`.
    pub base: String,
    /// The ref git resolves (what `edited-migration` messages name).
    pub reference: String,
    /// Per migration of the chain, its files relative to the work tree root (main file first).
    pub files: Vec<Vec<String>>,
    /// Those of the files that exist at the base.
    pub on_base: HashSet<String>,
    /// Those of the files whose content differs between the base and the work tree.
    pub differ: HashSet<String>,
    repository: Repository,
}

impl Comparison {
    /// Compares the files of `chain` with the commit `reference` names (fetching a missing
    /// `origin/<branch>` or commit id first, as a shallow CI checkout lacks them).
    pub fn new(chain: &Chain, reference: &str) -> Result<Comparison, GitError> {
        let repository = Repository::open(&chain.dir, reference)?;
        repository.ensure_commit(reference)?;
        Comparison::with(repository, chain, reference, reference.to_string())
    }

    /// Compares with the merge-base of `HEAD` and the remote's default branch, when the chain is
    /// in a git work tree with such a remote; `Err` says why there is none.
    pub fn discover(chain: &Chain) -> Result<Comparison, String> {
        let probe = Repository::open(&chain.dir, "HEAD").map_err(|_| "not inside a git work tree".to_string())?;
        let remote = ["refs/remotes/origin/HEAD", "refs/remotes/origin/main", "refs/remotes/origin/master"]
            .into_iter()
            .find_map(|r| {
                let name = probe.run(&["rev-parse", "--verify", "--quiet", "--symbolic-full-name", r]).ok()?;
                Some(name.trim().strip_prefix("refs/remotes/").unwrap_or(name.trim()).to_string())
            })
            .ok_or_else(|| "the repository has no remote default branch (origin/HEAD, origin/main)".to_string())?;
        let base = probe
            .run(&["merge-base", "HEAD", &remote])
            .map_err(|_| format!("HEAD and {remote} have no common commit"))?;
        let commit = base.trim().to_string();
        let short = &commit[..commit.len().min(7)];
        let shown = format!("{remote} (merge-base {short})");
        Comparison::with(probe, chain, &commit, shown).map_err(|e| e.to_string())
    }

    fn with(repository: Repository, chain: &Chain, reference: &str, base: String) -> Result<Comparison, GitError> {
        let repository = Repository { reference: reference.to_string(), ..repository };
        let files: Vec<Vec<String>> = chain
            .migrations
            .iter()
            .map(|m| migration_files(m).iter().filter_map(|p| repository.relative(p)).collect())
            .collect();
        let folders: BTreeSet<String> = files
            .iter()
            .flatten()
            .map(|f| Path::new(f).parent().map(|p| p.to_string_lossy().into_owned()).unwrap_or_default())
            .map(|p| if p.is_empty() { ".".to_string() } else { p })
            .collect();
        let folders: Vec<&str> = folders.iter().map(String::as_str).collect();
        let listed = |args: &[&str]| -> Result<HashSet<String>, GitError> {
            let mut all = args.to_vec();
            all.push("--");
            all.extend(&folders);
            Ok(repository.run(&all)?.lines().map(str::to_string).collect())
        };
        let on_base = listed(&["ls-tree", "-r", "--name-only", reference])?;
        let differ = listed(&["diff", "--name-only", "--no-renames", reference])?;
        Ok(Comparison { base, reference: reference.to_string(), files, on_base, differ, repository })
    }

    /// Whether migration `index`'s main file (its up script or revision file) is absent at the
    /// base: the change adds it.
    pub fn is_added(&self, index: usize) -> bool {
        self.files[index].first().is_none_or(|f| !self.on_base.contains(f))
    }

    /// Whether migration `index` is added or has a file that differs from the base.
    pub fn is_changed(&self, index: usize) -> bool {
        self.is_added(index) || self.files[index].iter().any(|f| self.differ.contains(f) || !self.on_base.contains(f))
    }

    /// The files of migration `index` that exist at the base and were changed since.
    pub fn edited_files(&self, index: usize) -> Vec<&str> {
        self.files[index]
            .iter()
            .filter(|f| self.on_base.contains(*f) && self.differ.contains(*f))
            .map(String::as_str)
            .collect()
    }

    /// A work-tree-relative path as shown to users.
    pub fn display(&self, file: &str) -> String {
        display_path(&self.repository.root.join(file))
    }

    /// The first line of `file` that differs from the base.
    pub fn first_changed_line(&self, file: &str) -> Result<u32, GitError> {
        let diff = self.repository.run(&["diff", "-U0", "--no-color", &self.reference, "--", file])?;
        let line = diff
            .lines()
            .find_map(|l| l.strip_prefix("@@ "))
            .and_then(|h| h.split_whitespace().find_map(|part| part.strip_prefix('+')))
            .and_then(|range| range.split(',').next())
            .and_then(|n| n.parse::<u32>().ok())
            .unwrap_or(1);
        Ok(line.max(1))
    }
}

/// A migration's files: the up script (or the Alembic revision) first, then the down.
pub fn migration_files(m: &Migration) -> Vec<PathBuf> {
    match &m.apply {
        Apply::Alembic(rev) => vec![rev.file.clone()],
        Apply::Sql | Apply::Opaque(_) => {
            std::iter::once(m.up.path.clone()).chain(m.down.as_ref().map(|d| d.path.clone())).collect()
        }
    }
}

/// A git work tree, and the ref named in error messages.
#[derive(Debug, Clone)]
struct Repository {
    root: PathBuf,
    reference: String,
}

impl Repository {
    fn open(dir: &Path, reference: &str) -> Result<Repository, GitError> {
        let probe = Repository { root: dir.to_path_buf(), reference: reference.to_string() };
        let top = probe.run(&["rev-parse", "--show-toplevel"]).map_err(|e| match e {
            GitError::Git { .. } => {
                GitError::NotARepository { reference: reference.to_string(), path: display_path(dir) }
            }
            other => other,
        })?;
        let root = std::fs::canonicalize(top.trim()).unwrap_or_else(|_| PathBuf::from(top.trim()));
        Ok(Repository { root, reference: reference.to_string() })
    }

    /// Makes sure `reference` names a commit here, fetching it from `origin` when it is a
    /// remote branch or a commit id that a shallow checkout lacks.
    fn ensure_commit(&self, reference: &str) -> Result<(), GitError> {
        let verify = || self.run(&["rev-parse", "--verify", "--quiet", &format!("{reference}^{{commit}}")]);
        if verify().is_ok() {
            return Ok(());
        }
        let branch = reference.strip_prefix("origin/");
        let refspec = match branch {
            Some(branch) => Some(format!("+refs/heads/{branch}:refs/remotes/origin/{branch}")),
            None if reference.len() == 40 && reference.bytes().all(|b| b.is_ascii_hexdigit()) => {
                Some(reference.to_string())
            }
            None => None,
        };
        if let Some(refspec) = refspec {
            self.run(&["fetch", "--quiet", "--no-tags", "--depth=50", "origin", &refspec]).ok();
        }
        verify().map(|_| ()).map_err(|_| GitError::UnknownRef {
            reference: reference.to_string(),
            branch: branch.unwrap_or(reference).to_string(),
        })
    }

    /// `path` relative to the work tree root, with `/`.
    fn relative(&self, path: &Path) -> Option<String> {
        let path = std::fs::canonicalize(path).ok()?;
        Some(path.strip_prefix(&self.root).ok()?.to_string_lossy().replace('\\', "/"))
    }

    fn run(&self, args: &[&str]) -> Result<String, GitError> {
        let output = Command::new("git")
            // The action's container user differs from the checkout's owner; git would refuse.
            .args(["-c", "safe.directory=*"])
            .arg("-C")
            .arg(&self.root)
            .args(args)
            .output()
            .map_err(|source| GitError::NoGit { reference: self.reference.clone(), source })?;
        if !output.status.success() {
            return Err(GitError::Git {
                reference: self.reference.clone(),
                command: args.join(" "),
                message: String::from_utf8_lossy(&output.stderr).trim().to_string(),
            });
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }
}

//! Paths relative to another, as os.path.relpath gives them: the client-go overlay's way back
//! to the project's kustomization, and the paths the results write, relative to the
//! repository.

use std::path::{Component, Path};

use crate::support::REPO;

/// `to` as a path relative to `from` (both absolute), as os.path.relpath gives it.
pub fn relative_path(to: &Path, from: &Path) -> String {
    let a: Vec<Component> = to.components().collect();
    let b: Vec<Component> = from.components().collect();
    let common = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let mut parts: Vec<String> = vec!["..".to_string(); b.len() - common];
    parts.extend(
        a[common..]
            .iter()
            .map(|c| c.as_os_str().to_string_lossy().into_owned()),
    );
    if parts.is_empty() {
        ".".to_string()
    } else {
        parts.join("/")
    }
}

/// A path as the results write it: relative to the repository.
pub fn relative_to_repo(p: &Path) -> String {
    relative_path(p, Path::new(REPO))
}

//! File operations whose partial results must never be seen: dnsmasq,
//! TFTP and HTTP clients read these files while they are being replaced,
//! so every write goes to a hidden temporary file (dnsmasq skips names
//! starting with `.`) and is renamed into place.

use std::path::Path;

use crate::BootError;

/// A name no other writer uses, so concurrent writers never share a
/// temporary file.
fn temporary_beside(path: &Path) -> std::path::PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.{}", uuid::Uuid::new_v4().simple()))
}

/// Creates `dir` and its parents.
pub fn ensure_dir(dir: &Path) -> Result<(), BootError> {
    std::fs::create_dir_all(dir).map_err(|e| BootError::io("creating", dir, e))
}

/// Replaces `path` with `contents` in one step.
pub fn write_atomic(path: &Path, contents: &[u8]) -> Result<(), BootError> {
    if let Some(parent) = path.parent() {
        ensure_dir(parent)?;
    }
    let tmp = temporary_beside(path);
    std::fs::write(&tmp, contents).map_err(|e| BootError::io("writing", &tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        BootError::io("renaming into", path, e)
    })
}

/// Points the symbolic link `link` at `target` (relative to the link's
/// directory), replacing whatever was there in one step.
pub fn link_atomic(target: &Path, link: &Path) -> Result<(), BootError> {
    if let Some(parent) = link.parent() {
        ensure_dir(parent)?;
    }
    let tmp = temporary_beside(link);
    std::os::unix::fs::symlink(target, &tmp).map_err(|e| BootError::io("linking", &tmp, e))?;
    std::fs::rename(&tmp, link).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        BootError::io("renaming into", link, e)
    })
}

/// Puts a copy of `source` at `dest`: a hard link when both are on one file
/// system (a ramdisk shared by many nodes then costs no space), else a copy
/// made under a temporary name.
pub fn stage(source: &Path, dest: &Path) -> Result<(), BootError> {
    if let Some(parent) = dest.parent() {
        ensure_dir(parent)?;
    }
    let tmp = temporary_beside(dest);
    if std::fs::hard_link(source, &tmp).is_err() {
        std::fs::copy(source, &tmp).map_err(|e| BootError::io("copying", source, e))?;
    }
    std::fs::rename(&tmp, dest).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        BootError::io("renaming into", dest, e)
    })
}

/// Removes a file or link; one that is already gone is not an error.
pub fn remove_file(path: &Path) -> Result<(), BootError> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(BootError::io("removing", path, e))
        }
        _ => Ok(()),
    }
}

/// Removes a directory tree; one that is already gone is not an error.
pub fn remove_dir(path: &Path) -> Result<(), BootError> {
    match std::fs::remove_dir_all(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(BootError::io("removing", path, e))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_links_and_stages_leave_no_temporaries() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a/b/file");
        write_atomic(&file, b"one").unwrap();
        write_atomic(&file, b"two").unwrap();
        assert_eq!(std::fs::read(&file).unwrap(), b"two");
        let link = dir.path().join("a/link");
        link_atomic(Path::new("b/file"), &link).unwrap();
        link_atomic(Path::new("b/file"), &link).unwrap();
        assert_eq!(std::fs::read(&link).unwrap(), b"two");
        let staged = dir.path().join("c/staged");
        stage(&file, &staged).unwrap();
        assert_eq!(std::fs::read(&staged).unwrap(), b"two");
        let names: Vec<String> = std::fs::read_dir(dir.path().join("a"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(names.iter().all(|n| !n.starts_with('.')), "{names:?}");
        remove_file(&link).unwrap();
        remove_file(&link).unwrap();
        remove_dir(&dir.path().join("c")).unwrap();
        remove_dir(&dir.path().join("c")).unwrap();
        assert!(!staged.exists());
        assert!(stage(&dir.path().join("missing"), &staged).is_err());
    }
}

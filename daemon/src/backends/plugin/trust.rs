//! Which files may be loaded at all. Loading a library runs its code as the
//! daemon's user, so a plugin file is only as safe as everyone who can
//! write it: a file (or a directory) that another local user can change is
//! code execution for that user, and a symlink out of the directory makes the
//! directory's permissions meaningless. Checked on every scan, from the
//! file's current metadata, so a refusal ends as soon as its cause does.

use std::fs::{File, Metadata};
use std::io::Read;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// Why a file in the plugin directory is not trusted to be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrustError {
    #[error("plugin directory {dir} is group- or world-writable (mode {mode:04o}) without the sticky bit: another user could put code in it")]
    DirectoryWritable { dir: PathBuf, mode: u32 },
    #[error("cannot inspect plugin directory {dir}: {reason}")]
    DirectoryUnreadable { dir: PathBuf, reason: String },
    #[error("file is group- or world-writable (mode {mode:04o}): another user could change the code; chmod go-w it")]
    FileWritable { mode: u32 },
    #[error("file is owned by uid {owner}, neither this daemon's user (uid {daemon}) nor root")]
    ForeignOwner { owner: u32, daemon: u32 },
    #[error("symlink points outside the plugin directory, to {target}")]
    SymlinkOutside { target: PathBuf },
    #[error("sha256 {sha256} is not in plugins.allowed_sha256")]
    NotAllowed { sha256: String },
    #[error("not a regular file")]
    NotRegular,
    #[error("cannot read file: {0}")]
    Read(String),
}

/// A plugin file that passed the checks, as read once: its metadata, bytes
/// and hash all describe the same open file.
pub struct TrustedFile {
    pub metadata: Metadata,
    pub bytes: Vec<u8>,
    pub sha256: String,
}

/// The plugin directory, checked and resolved once per scan.
pub struct TrustedDir {
    canonical: PathBuf,
    daemon_uid: u32,
}

impl TrustedDir {
    /// A directory that others can write without the sticky bit lets them
    /// replace any file in it (rename over it), whatever the file's own mode.
    pub fn check(dir: &Path) -> Result<TrustedDir, TrustError> {
        let unreadable = |e: std::io::Error| TrustError::DirectoryUnreadable {
            dir: dir.to_path_buf(),
            reason: e.to_string(),
        };
        let canonical = dir.canonicalize().map_err(unreadable)?;
        let meta = std::fs::metadata(&canonical).map_err(unreadable)?;
        let mode = meta.permissions().mode() & 0o7777;
        if mode & 0o022 != 0 && mode & 0o1000 == 0 {
            return Err(TrustError::DirectoryWritable {
                dir: dir.to_path_buf(),
                mode,
            });
        }
        Ok(TrustedDir {
            canonical,
            daemon_uid: rustix::process::geteuid().as_raw(),
        })
    }

    /// The metadata `file` has now, after the path checks (symlink target,
    /// regular file) and the permission checks. Cheap: no read.
    pub fn inspect(&self, file: &Path) -> Result<(PathBuf, Metadata), TrustError> {
        let real = file
            .canonicalize()
            .map_err(|e| TrustError::Read(e.to_string()))?;
        // A ConfigMap's `lib.so -> ..data/lib.so -> ..2026_12_01/lib.so`
        // chain ends inside the directory and is fine.
        if !real.starts_with(&self.canonical) {
            return Err(TrustError::SymlinkOutside { target: real });
        }
        let meta = std::fs::metadata(&real).map_err(|e| TrustError::Read(e.to_string()))?;
        self.permits(&meta)?;
        Ok((real, meta))
    }

    fn permits(&self, meta: &Metadata) -> Result<(), TrustError> {
        if !meta.is_file() {
            return Err(TrustError::NotRegular);
        }
        let mode = meta.permissions().mode() & 0o7777;
        if mode & 0o022 != 0 {
            return Err(TrustError::FileWritable { mode });
        }
        let owner = meta.uid();
        if owner != self.daemon_uid && owner != 0 {
            return Err(TrustError::ForeignOwner {
                owner,
                daemon: self.daemon_uid,
            });
        }
        Ok(())
    }

    /// Read `real` (a path [`inspect`](Self::inspect) returned) once, and
    /// check the open file again: the checks then hold for the very bytes
    /// that are hashed and loaded, even if the path changed in between.
    /// `allowed`, when not empty, lists the only hashes that may load.
    pub fn read(&self, real: &Path, allowed: &[String]) -> Result<TrustedFile, TrustError> {
        let read_error = |e: std::io::Error| TrustError::Read(e.to_string());
        let mut file = File::options()
            .read(true)
            .custom_flags(libc_o_nofollow())
            .open(real)
            .map_err(read_error)?;
        let metadata = file.metadata().map_err(read_error)?;
        self.permits(&metadata)?;
        let mut bytes = Vec::with_capacity(metadata.len() as usize);
        file.read_to_end(&mut bytes).map_err(read_error)?;
        let sha256 = hex::encode(Sha256::digest(&bytes));
        if !allowed.is_empty() && !allowed.iter().any(|a| a.eq_ignore_ascii_case(&sha256)) {
            return Err(TrustError::NotAllowed { sha256 });
        }
        Ok(TrustedFile {
            metadata,
            bytes,
            sha256,
        })
    }
}

/// `O_NOFOLLOW`: the canonical path has no symlink left, so one appearing
/// there now is a swap under our feet.
fn libc_o_nofollow() -> i32 {
    rustix::fs::OFlags::NOFOLLOW.bits() as i32
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn chmod(path: &Path, mode: u32) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    fn dir_with_file(mode: u32) -> (tempfile::TempDir, PathBuf) {
        let tmp = tempfile::tempdir().unwrap();
        chmod(tmp.path(), 0o755);
        let file = tmp.path().join("libx.so");
        std::fs::write(&file, b"\x7fELF not really").unwrap();
        chmod(&file, mode);
        (tmp, file)
    }

    #[test]
    fn a_file_others_can_write_is_refused_until_its_mode_is_fixed() {
        let (tmp, file) = dir_with_file(0o666);
        let dir = TrustedDir::check(tmp.path()).unwrap();
        assert!(matches!(
            dir.inspect(&file),
            Err(TrustError::FileWritable { mode: 0o666 })
        ));
        chmod(&file, 0o644);
        let (real, _) = dir.inspect(&file).unwrap();
        assert!(dir.read(&real, &[]).is_ok());
    }

    #[test]
    fn a_directory_others_can_write_is_refused_unless_sticky() {
        let (tmp, _) = dir_with_file(0o644);
        chmod(tmp.path(), 0o777);
        assert!(matches!(
            TrustedDir::check(tmp.path()),
            Err(TrustError::DirectoryWritable { mode: 0o777, .. })
        ));
        chmod(tmp.path(), 0o1777);
        assert!(TrustedDir::check(tmp.path()).is_ok());
    }

    #[test]
    fn symlinks_must_stay_inside_the_directory() {
        let (tmp, file) = dir_with_file(0o644);
        let outside = tempfile::tempdir().unwrap();
        let foreign = outside.path().join("evil.so");
        std::fs::write(&foreign, b"x").unwrap();
        chmod(&foreign, 0o644);
        symlink(&foreign, tmp.path().join("libevil.so")).unwrap();
        // The ConfigMap layout: a versioned directory, `..data` naming it,
        // and the file a link through `..data`.
        std::fs::create_dir(tmp.path().join("..2026_12_01")).unwrap();
        std::fs::copy(&file, tmp.path().join("..2026_12_01/liby.so")).unwrap();
        symlink("..2026_12_01", tmp.path().join("..data")).unwrap();
        symlink("..data/liby.so", tmp.path().join("liby.so")).unwrap();

        let dir = TrustedDir::check(tmp.path()).unwrap();
        assert!(matches!(
            dir.inspect(&tmp.path().join("libevil.so")),
            Err(TrustError::SymlinkOutside { .. })
        ));
        assert!(dir.inspect(&tmp.path().join("liby.so")).is_ok());
    }

    #[test]
    fn only_listed_hashes_load_when_an_allowlist_is_set() {
        let (tmp, file) = dir_with_file(0o644);
        let dir = TrustedDir::check(tmp.path()).unwrap();
        let (real, _) = dir.inspect(&file).unwrap();
        let sha = dir.read(&real, &[]).unwrap().sha256;
        assert!(matches!(
            dir.read(&real, &["00".repeat(32)]),
            Err(TrustError::NotAllowed { .. })
        ));
        assert!(dir.read(&real, &[sha.to_uppercase()]).is_ok());
    }
}

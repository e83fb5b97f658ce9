//! The copy of a plugin file that the dynamic loader actually maps: a sealed,
//! anonymous memory file (memfd), opened through `/proc/self/fd/N`.
//!
//! Why a copy at all: glibc caches `dlopen` by path, so a replaced file loaded
//! from its original path would return the old code, and a deployer
//! overwriting a mapped file in place would crash us.
//!
//! Why in memory: a copy in a temporary directory outlives a daemon that is
//! killed (OOM killer, `kill -9`, a container runtime's stop timeout), and a
//! developer's machine had collected 1,438 such directories. A memfd has no
//! name in any filesystem, so nothing outlives the process, and loading writes
//! nothing to disk. Its seals make it immutable once written: no one, us
//! included, can change code that is mapped.
//!
//! The path names the descriptor, so the descriptor must stay open for as long
//! as the library may still be mapped: a reused descriptor number would make
//! glibc's by-name cache hand out the old library for a new file. Retention
//! holds the copy until the loader has really unmapped it.

use std::fs::File;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use rustix::fs::{fcntl_add_seals, memfd_create, MemfdFlags, SealFlags};

/// An immutable in-memory copy of one plugin file. Closing it (dropping the
/// last owner) frees its memory once no mapping refers to it.
#[derive(Debug)]
pub struct PrivateCopy {
    /// Never read: held open because `path` names it.
    _memfd: File,
    path: PathBuf,
}

impl PrivateCopy {
    /// Copy `bytes` into a new sealed memfd. `label` shows in
    /// `/proc/<pid>/maps` as `/memfd:variantd:<label>`.
    pub fn new(label: &str, bytes: &[u8]) -> std::io::Result<PrivateCopy> {
        let fd = memfd_create(
            format!("variantd:{label}"),
            MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING,
        )?;
        let mut file = File::from(fd);
        file.write_all(bytes)?;
        fcntl_add_seals(
            &file,
            SealFlags::SHRINK | SealFlags::GROW | SealFlags::WRITE | SealFlags::SEAL,
        )?;
        let path = PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd()));
        Ok(PrivateCopy { _memfd: file, path })
    }

    /// What to `dlopen`: unique among this process's open copies.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_back_what_was_written_through_its_path() {
        let copy = PrivateCopy::new("probe.so", b"\x7fELF and the rest").unwrap();
        assert!(copy.path().starts_with("/proc/self/fd/"));
        assert_eq!(std::fs::read(copy.path()).unwrap(), b"\x7fELF and the rest");
    }

    #[test]
    fn cannot_be_changed_once_made() {
        let copy = PrivateCopy::new("probe.so", b"original").unwrap();
        let mut writer = std::fs::OpenOptions::new()
            .write(true)
            .open(copy.path())
            .unwrap();
        assert!(writer.write_all(b"patched").is_err(), "write sealed");
        assert!(writer.set_len(0).is_err(), "shrink sealed");
        assert!(writer.set_len(1 << 20).is_err(), "grow sealed");
        assert_eq!(std::fs::read(copy.path()).unwrap(), b"original");
    }

    #[test]
    fn two_copies_of_the_same_bytes_have_their_own_paths() {
        let (a, b) = (
            PrivateCopy::new("same.so", b"x").unwrap(),
            PrivateCopy::new("same.so", b"x").unwrap(),
        );
        assert_ne!(a.path(), b.path());
    }
}

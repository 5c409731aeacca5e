//! Reading files the user names (scenario, data files, token files, TLS
//! certificates and keys) with a size bound enforced while reading.
//!
//! The bound is checked on the bytes read, never on metadata: `/dev/zero`, a
//! FIFO written endlessly or a file that grows while it is read report a size
//! of 0 (or a stale one), and reading them to the end would exhaust memory.
//! Every user file goes through [`read_bounded`], so there is one place to get
//! this right.

use std::io::Read as _;
use std::path::{Path, PathBuf};

/// Largest scenario file accepted.
pub const MAX_SCENARIO_BYTES: u64 = 4 * 1024 * 1024;
/// Largest data file (`[data.NAME] file`) accepted.
pub const MAX_DATA_BYTES: u64 = 256 * 1024 * 1024;
/// Largest token file (`--token-file`) accepted: a token is a line of text.
pub const MAX_TOKEN_BYTES: u64 = 64 * 1024;
/// Largest PEM file (`--tls-cert`, `--tls-key`, `--tls-ca`) accepted: a long
/// certificate chain is a few tens of KiB.
pub const MAX_PEM_BYTES: u64 = 1024 * 1024;

/// A user file that could not be read whole.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    #[error("cannot read {what} `{}`: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{what} `{}` is larger than {} (reading stopped there): is this the right file? \
         A longer one must be split or trimmed (limits: docs/scenarios.md#limits)",
        path.display(),
        format_bytes(*limit)
    )]
    TooLarge { what: &'static str, path: PathBuf, limit: u64 },
}

impl ReadError {
    /// The file.
    pub fn path(&self) -> &Path {
        match self {
            ReadError::Io { path, .. } | ReadError::TooLarge { path, .. } => path,
        }
    }
}

/// Reads `path` whole, failing as soon as more than `limit` bytes arrive.
/// `what` names the file in errors ("data file", "--token-file").
pub fn read_bounded(path: &Path, limit: u64, what: &'static str) -> Result<Vec<u8>, ReadError> {
    let io = |source| ReadError::Io { what, path: path.to_path_buf(), source };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut bytes = Vec::new();
    // One byte past the limit tells "exactly at the limit" from "over it".
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > limit {
        return Err(ReadError::TooLarge { what, path: path.to_path_buf(), limit });
    }
    Ok(bytes)
}

/// `4 MiB`, `64 KiB`, `100 bytes`.
pub fn format_bytes(n: u64) -> String {
    if n >= 1 << 20 && n.is_multiple_of(1 << 20) {
        format!("{} MiB", n >> 20)
    } else if n >= 1 << 10 && n.is_multiple_of(1 << 10) {
        format!("{} KiB", n >> 10)
    } else {
        format!("{n} bytes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_endless_device_stops_at_the_limit() {
        // /dev/zero reports size 0: a metadata check would let it through.
        let err = read_bounded(Path::new("/dev/zero"), 1000, "scenario file").unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, ReadError::TooLarge { limit: 1000, .. }), "{text}");
        assert!(text.contains("scenario file `/dev/zero` is larger than 1000 bytes"), "{text}");
    }

    #[test]
    fn a_file_at_the_limit_is_read_whole() {
        let path = std::env::temp_dir().join(format!("stampede-bounded-{}-{}", std::process::id(), fastrand::u64(..)));
        std::fs::write(&path, vec![b'x'; 1024]).unwrap();
        assert_eq!(read_bounded(&path, 1024, "data file").unwrap().len(), 1024);
        let err = read_bounded(&path, 1023, "data file").unwrap_err();
        assert!(err.to_string().contains("larger than 1023 bytes"), "{err}");
        std::fs::remove_file(&path).unwrap();
        let err = read_bounded(&path, 1024, "data file").unwrap_err();
        assert!(matches!(err, ReadError::Io { .. }) && err.to_string().contains("cannot read data file"), "{err}");
    }

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(format_bytes(4 * 1024 * 1024), "4 MiB");
        assert_eq!(format_bytes(64 * 1024), "64 KiB");
        assert_eq!(format_bytes(1000), "1000 bytes");
    }
}

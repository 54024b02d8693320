//! The image bytes store: where `PUT /image/v2/images/{id}/file` puts an image's data and
//! `GET /image/v2/images/{id}/file` reads it back.
//!
//! Images are plain files named by image id under one root directory:
//!
//! ```text
//! <root>/images/<id>             complete images, each fsync'd before it got its name
//! <root>/tmp/<id>.<nonce>.part   uploads in progress; swept by `ImageStore::open`
//! ```
//!
//! An image appears under `images/` only whole: an upload streams into a temp file while its
//! md5 (Glance's `checksum`) and sha512 (`os_hash_value`) are computed, is fsync'd, renamed
//! into place, and the directory fsync'd, before [`ImageStore::write`] returns. Every failure
//! (size cap, disk full, a client that went away, the caller dropping the future) removes the
//! temp file and leaves `images/` as it was. The image records (status, size, checksums) live
//! in the database, not here; this module knows nothing about them.

mod sys;
mod upload;

use std::io::{self, SeekFrom};
use std::ops::Range;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures_core::Stream;
use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio_util::io::ReaderStream;

use upload::{Batch, Pipeline, TempFile};

/// Image ids name files, so they are kept short and free of anything a path could make use of.
const MAX_ID_LEN: usize = 128;
/// How much a download reads from disk per chunk of the response body.
const READ_CHUNK: usize = 256 << 10;

/// Image files under one root directory. Cheap to share behind an `Arc`; every method takes
/// `&self`. One process should own a root at a time, since [`ImageStore::open`] sweeps `tmp/`.
#[derive(Debug, Clone)]
pub struct ImageStore {
    root: PathBuf,
    images: PathBuf,
    tmp: PathBuf,
}

/// A completed upload, as the image record should show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub size: u64,
    /// Lower-case hex md5: Glance's `checksum`.
    pub md5_hex: String,
    /// Lower-case hex sha512: Glance's `os_hash_value` (with `os_hash_algo` = `sha512`).
    pub sha512_hex: String,
}

/// Why an upload did not complete. In every case nothing was stored.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// More than the allowed number of bytes arrived, or were announced.
    #[error("the image is larger than the limit of {limit} bytes")]
    TooLarge { limit: u64 },
    /// The store's file system is out of space or over quota.
    #[error("the image store is out of disk space")]
    DiskFull,
    /// The request body failed mid-way, usually because the client went away.
    #[error("the image upload was interrupted: {0}")]
    Body(String),
    /// The client announced one size and sent another. When more arrived than announced the
    /// upload stops at once, and `got` is what had arrived by then.
    #[error("the image size was announced as {expected} bytes but {got} bytes were sent")]
    SizeMismatch { expected: u64, got: u64 },
    #[error("image store I/O error: {0}")]
    Io(#[from] io::Error),
    #[error("invalid image id {0:?}: only ASCII letters, digits, '-' and '_' are allowed")]
    BadId(String),
}

impl ImageStore {
    /// Creates `<root>/images` and `<root>/tmp` as needed and removes leftover temp files.
    pub fn open(root: &Path) -> io::Result<ImageStore> {
        let store = ImageStore {
            root: root.to_path_buf(),
            images: root.join("images"),
            tmp: root.join("tmp"),
        };
        for dir in [&store.images, &store.tmp] {
            std::fs::create_dir_all(dir).map_err(|e| with_path(e, "creating", dir))?;
        }
        let swept = sweep(&store.tmp).map_err(|e| with_path(e, "cleaning", &store.tmp))?;
        if swept > 0 {
            tracing::info!(
                dir = %store.tmp.display(),
                count = swept,
                "removed unfinished image uploads left by an earlier run"
            );
        }
        Ok(store)
    }

    /// The directory the store was opened on.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Streams `body` into the store under `id`. `max_bytes` caps the size; `expected_size`
    /// (from a client's `x-openstack-image-size` / Content-Length) is checked at the end.
    ///
    /// An image already stored under `id` is replaced only when the new one is complete;
    /// a failed upload leaves it untouched.
    pub async fn write<S, E>(
        &self,
        id: &str,
        mut body: S,
        max_bytes: u64,
        expected_size: Option<u64>,
    ) -> Result<Written, WriteError>
    where
        S: Stream<Item = Result<Bytes, E>> + Send + Unpin,
        E: std::fmt::Display,
    {
        let final_path = self.path_of(id)?;
        if expected_size.is_some_and(|expected| expected > max_bytes) {
            return Err(WriteError::TooLarge { limit: max_bytes });
        }

        let temp = TempFile::new(
            self.tmp
                .join(format!("{id}.{}.part", uuid::Uuid::new_v4().simple())),
        );
        // Created synchronously (one open(2)) so that there is no await between the file
        // coming into being and the guard that removes it being in place.
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(temp.path())
            .map_err(map_io)?;
        let pipeline = Pipeline::start(file, expected_size);

        let mut size: u64 = 0;
        let mut batch = Batch::default();
        while let Some(item) = body.next().await {
            let chunk = match item {
                Ok(chunk) => chunk,
                Err(err) => return Err(WriteError::Body(err.to_string())),
            };
            size += chunk.len() as u64;
            if size > max_bytes {
                return Err(WriteError::TooLarge { limit: max_bytes });
            }
            if let Some(expected) = expected_size
                && size > expected
            {
                return Err(WriteError::SizeMismatch {
                    expected,
                    got: size,
                });
            }
            if batch.push(chunk) && pipeline.send(batch.take()).await.is_err() {
                return Err(stopped_early(pipeline).await);
            }
        }
        if !batch.is_empty() && pipeline.send(batch.take()).await.is_err() {
            return Err(stopped_early(pipeline).await);
        }
        if let Some(expected) = expected_size
            && size != expected
        {
            return Err(WriteError::SizeMismatch {
                expected,
                got: size,
            });
        }

        let upload::Finished {
            file,
            md5_hex,
            sha512_hex,
        } = pipeline.finish().await?;
        let temp_path = temp.path().to_path_buf();
        let images = self.images.clone();
        tokio::task::spawn_blocking(move || -> io::Result<()> {
            file.sync_all()?;
            drop(file);
            std::fs::rename(&temp_path, &final_path)?;
            // The rename is durable only once the directory entry is on disk.
            std::fs::File::open(&images)?.sync_all()
        })
        .await
        .map_err(|err| WriteError::Io(io::Error::other(err)))?
        .map_err(map_io)?;
        temp.keep();

        Ok(Written {
            size,
            md5_hex,
            sha512_hex,
        })
    }

    /// Opens `id` for reading `range` (inclusive start, exclusive end, already validated
    /// against the size by the caller) or the whole file; returns a stream of the bytes and
    /// the number of bytes it will yield.
    ///
    /// A missing image is `NotFound`; a bad id or a range outside the file is `InvalidInput`.
    pub async fn read(
        &self,
        id: &str,
        range: Option<Range<u64>>,
    ) -> io::Result<(impl Stream<Item = io::Result<Bytes>> + Send + 'static, u64)> {
        let path = self.checked_path(id)?;
        let mut file = tokio::fs::File::open(&path).await?;
        let size = file.metadata().await?.len();
        let (start, len) = match range {
            None => (0, size),
            Some(range) if range.start <= range.end && range.end <= size => {
                (range.start, range.end - range.start)
            }
            Some(range) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "byte range {}..{} is outside image {id} of {size} bytes",
                        range.start, range.end
                    ),
                ));
            }
        };
        if start > 0 {
            file.seek(SeekFrom::Start(start)).await?;
        }
        Ok((ReaderStream::with_capacity(file.take(len), READ_CHUNK), len))
    }

    /// Removes the image stored under `id`; a missing image is not an error.
    pub async fn delete(&self, id: &str) -> io::Result<()> {
        let path = self.checked_path(id)?;
        match tokio::fs::remove_file(&path).await {
            Err(err) if err.kind() != io::ErrorKind::NotFound => Err(err),
            _ => Ok(()),
        }
    }

    /// Whether a complete image is stored under `id`; false for an invalid id.
    pub fn exists(&self, id: &str) -> bool {
        self.path_of(id).is_ok_and(|path| path.is_file())
    }

    /// Where the image `id` is (or would be) stored, for backends that open it themselves.
    pub fn path_of(&self, id: &str) -> Result<PathBuf, WriteError> {
        if is_safe_id(id) {
            Ok(self.images.join(id))
        } else {
            Err(WriteError::BadId(id.to_owned()))
        }
    }

    /// The size of the image stored under `id`, or `None` when there is none.
    pub async fn size_of(&self, id: &str) -> io::Result<Option<u64>> {
        let path = self.checked_path(id)?;
        match tokio::fs::metadata(&path).await {
            Ok(meta) => Ok(Some(meta.len())),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// Bytes stored for these ids, missing ones counting as zero (for per-user quotas, which
    /// the caller computes from its own records of whose images they are).
    pub async fn stored_bytes<I>(&self, ids: I) -> io::Result<u64>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        let mut total = 0;
        for id in ids {
            total += self.size_of(id.as_ref()).await?.unwrap_or(0);
        }
        Ok(total)
    }

    fn checked_path(&self, id: &str) -> io::Result<PathBuf> {
        self.path_of(id)
            .map_err(|err| io::Error::new(io::ErrorKind::InvalidInput, err.to_string()))
    }
}

fn is_safe_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Whether `err` means the file system has no room (ENOSPC) or the owner no quota (EDQUOT).
fn is_disk_full(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded
    ) || matches!(err.raw_os_error(), Some(28 | 122))
}

/// Every I/O failure of an upload goes through here, so a full disk is always reported as
/// [`WriteError::DiskFull`] whichever call ran into it (write, fallocate, fsync, rename).
fn map_io(err: io::Error) -> WriteError {
    if is_disk_full(&err) {
        WriteError::DiskFull
    } else {
        WriteError::Io(err)
    }
}

/// The worker that stopped taking batches stopped on an error; this finds it.
async fn stopped_early(pipeline: Pipeline) -> WriteError {
    match pipeline.finish().await {
        Ok(_) => WriteError::Io(io::Error::other("an image upload worker stopped early")),
        Err(err) => err,
    }
}

/// Removes everything in `tmp`: only unfinished uploads are ever there.
fn sweep(tmp: &Path) -> io::Result<usize> {
    let mut removed = 0;
    for entry in std::fs::read_dir(tmp)? {
        let entry = entry?;
        let result = if entry.file_type()?.is_dir() {
            std::fs::remove_dir_all(entry.path())
        } else {
            std::fs::remove_file(entry.path())
        };
        match result {
            Ok(()) => removed += 1,
            Err(err) if err.kind() == io::ErrorKind::NotFound => {}
            Err(err) => return Err(err),
        }
    }
    Ok(removed)
}

fn with_path(err: io::Error, doing: &str, path: &Path) -> io::Error {
    io::Error::new(err.kind(), format!("{doing} {}: {err}", path.display()))
}

#[cfg(test)]
mod tests;

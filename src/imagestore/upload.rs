//! The upload pipeline: one request body fanned out to a file writer and two hashers.
//!
//! ```text
//!   body ──► batcher (async) ──┬─► md5 worker     (blocking thread)
//!                              ├─► sha512 worker  (blocking thread)
//!                              └─► file writer    (blocking thread, owns the temp file)
//! ```
//!
//! The three workers run in parallel, so an upload is as fast as the slowest of them rather
//! than their sum. Each receives the same reference-counted [`Batch`] of chunks (no copies)
//! over a bounded channel; the batcher waits whenever the slowest worker is behind, so at most
//! `(CHANNEL_DEPTH + 2) * BATCH_BYTES` of the image is in memory whatever its size.
//!
//! The temp file belongs to a [`TempFile`] guard from the moment it is created: any early
//! return, and the caller dropping the future mid-upload, unlinks it. A worker still writing
//! then writes into an unlinked file and stops as soon as its channel is drained.

use std::fs::File;
use std::io::{self, IoSlice, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use md5::Md5;
use sha2::{Digest, Sha512};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::{WriteError, map_io, sys};

/// A batch is handed to the workers once it holds this many bytes; large enough that channel
/// hand-offs are rare, small enough that a few batches in flight stay a few MiB.
const BATCH_BYTES: usize = 512 << 10;
/// ... or this many chunks, which is also the most `writev` takes in one call (IOV_MAX).
const BATCH_CHUNKS: usize = 1024;
/// Batches queued per worker before the batcher waits for it.
const CHANNEL_DEPTH: usize = 4;

/// Consecutive chunks of the body, shared read-only by the three workers.
#[derive(Debug, Default)]
pub(super) struct Batch {
    chunks: Vec<Bytes>,
    len: usize,
}

impl Batch {
    /// Adds `chunk`; returns true when the batch should be sent.
    pub(super) fn push(&mut self, chunk: Bytes) -> bool {
        if !chunk.is_empty() {
            self.len += chunk.len();
            self.chunks.push(chunk);
        }
        self.len >= BATCH_BYTES || self.chunks.len() >= BATCH_CHUNKS
    }

    pub(super) fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }

    pub(super) fn take(&mut self) -> Arc<Batch> {
        Arc::new(std::mem::take(self))
    }
}

/// Removes the temp file when dropped, unless [`TempFile::keep`] was called after the rename.
#[derive(Debug)]
pub(super) struct TempFile {
    path: Option<PathBuf>,
}

impl TempFile {
    pub(super) fn new(path: PathBuf) -> TempFile {
        TempFile { path: Some(path) }
    }

    pub(super) fn path(&self) -> &Path {
        self.path.as_deref().unwrap_or(Path::new(""))
    }

    /// The file was renamed into place: there is nothing left to remove.
    pub(super) fn keep(mut self) {
        self.path = None;
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(path) = self.path.take() {
            // Blocking, but a single unlink; Drop cannot await, and leaving the file for the
            // next `open` to sweep would hold its disk space until a restart.
            if let Err(err) = std::fs::remove_file(&path)
                && err.kind() != io::ErrorKind::NotFound
            {
                tracing::warn!(path = %path.display(), %err, "could not remove an image upload temp file");
            }
        }
    }
}

/// What the workers produced once the whole body went through them.
pub(super) struct Finished {
    pub(super) file: File,
    pub(super) md5_hex: String,
    pub(super) sha512_hex: String,
}

/// The three workers: their channels and their handles.
pub(super) struct Pipeline {
    file_tx: mpsc::Sender<Arc<Batch>>,
    md5_tx: mpsc::Sender<Arc<Batch>>,
    sha512_tx: mpsc::Sender<Arc<Batch>>,
    writer: JoinHandle<io::Result<File>>,
    md5: JoinHandle<String>,
    sha512: JoinHandle<String>,
}

/// A worker stopped taking batches; [`Pipeline::finish`] tells why.
#[derive(Debug)]
pub(super) struct Stopped;

impl Pipeline {
    /// Starts the workers; the writer appends to `file`, reserving `reserve` bytes first.
    pub(super) fn start(file: File, reserve: Option<u64>) -> Pipeline {
        let (file_tx, file_rx) = mpsc::channel(CHANNEL_DEPTH);
        let (md5_tx, md5_rx) = mpsc::channel(CHANNEL_DEPTH);
        let (sha512_tx, sha512_rx) = mpsc::channel(CHANNEL_DEPTH);
        Pipeline {
            file_tx,
            md5_tx,
            sha512_tx,
            writer: tokio::task::spawn_blocking(move || write(file, reserve, file_rx)),
            md5: tokio::task::spawn_blocking(move || hash::<Md5>(md5_rx)),
            sha512: tokio::task::spawn_blocking(move || hash::<Sha512>(sha512_rx)),
        }
    }

    /// Hands `batch` to every worker, waiting while any of them is behind.
    pub(super) async fn send(&self, batch: Arc<Batch>) -> Result<(), Stopped> {
        let sent = self.file_tx.send(Arc::clone(&batch)).await.is_ok()
            && self.md5_tx.send(Arc::clone(&batch)).await.is_ok()
            && self.sha512_tx.send(batch).await.is_ok();
        if sent { Ok(()) } else { Err(Stopped) }
    }

    /// Closes the channels and collects what the workers produced, or the error that
    /// stopped one of them.
    pub(super) async fn finish(self) -> Result<Finished, WriteError> {
        let Pipeline {
            file_tx,
            md5_tx,
            sha512_tx,
            writer,
            md5,
            sha512,
        } = self;
        // Closing the channels ends the workers' loops once they have drained them.
        drop((file_tx, md5_tx, sha512_tx));
        let file = writer.await.map_err(worker_failed)?.map_err(map_io)?;
        let md5_hex = md5.await.map_err(worker_failed)?;
        let sha512_hex = sha512.await.map_err(worker_failed)?;
        Ok(Finished {
            file,
            md5_hex,
            sha512_hex,
        })
    }
}

fn worker_failed(err: tokio::task::JoinError) -> WriteError {
    WriteError::Io(io::Error::other(format!(
        "an image upload worker failed: {err}"
    )))
}

fn hash<D: Digest>(mut rx: mpsc::Receiver<Arc<Batch>>) -> String {
    let mut digest = D::new();
    while let Some(batch) = rx.blocking_recv() {
        for chunk in &batch.chunks {
            digest.update(chunk);
        }
    }
    hex::encode(digest.finalize())
}

fn write(
    mut file: File,
    reserve: Option<u64>,
    mut rx: mpsc::Receiver<Arc<Batch>>,
) -> io::Result<File> {
    if let Some(len) = reserve {
        sys::reserve(&file, len)?;
    }
    let mut writeback = sys::Writeback::default();
    while let Some(batch) = rx.blocking_recv() {
        write_chunks(&mut file, &batch.chunks)?;
        writeback.advance(&file, batch.len as u64);
    }
    Ok(file)
}

/// Writes every chunk with as few `writev` calls as the kernel allows.
fn write_chunks(file: &mut File, chunks: &[Bytes]) -> io::Result<()> {
    let mut slices: Vec<IoSlice<'_>> = chunks.iter().map(|c| IoSlice::new(c)).collect();
    let mut rest = &mut slices[..];
    while !rest.is_empty() {
        match file.write_vectored(rest) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut rest, n),
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    Ok(())
}

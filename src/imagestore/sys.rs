//! Linux disk hints that keep a large upload fast without changing what it means.
//!
//! Both hints are advisory: an upload is durable because of the `fsync` at its end, never
//! because of anything here, so every failure of a hint (an unsupported file system, an old
//! kernel) is ignored except a full disk, which [`reserve`] reports early. On other systems
//! the functions do nothing.

use std::fs::File;
use std::io;

/// How much is written before the kernel is asked to start writing it back.
///
/// Without this the page cache would collect the whole image and the final `fsync` would
/// wait for all of it; with it the disk works while the hashes are computed, and the final
/// `fsync` finds only the last window dirty.
const WINDOW: u64 = 8 << 20;

/// Reserves `len` bytes for `file` without changing its size, so a disk that cannot hold an
/// image whose size the client announced fails at once rather than after most of the bytes
/// were received. Only a full disk is an error; anything else means "no reservation".
pub(super) fn reserve(file: &File, len: u64) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let Ok(len) = libc::off_t::try_from(len) else {
            return Ok(());
        };
        if len == 0 {
            return Ok(());
        }
        // SAFETY: the descriptor is open for the lifetime of `file`; fallocate does not
        // touch memory of ours.
        let rc = unsafe { libc::fallocate(file.as_raw_fd(), libc::FALLOC_FL_KEEP_SIZE, 0, len) };
        if rc != 0 {
            let err = io::Error::last_os_error();
            if super::is_disk_full(&err) {
                return Err(err);
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (file, len);
    Ok(())
}

/// Starts write-back of each finished [`WINDOW`] and waits for the one before it, so at
/// most two windows of the upload are dirty in the page cache at any time.
#[derive(Debug, Default)]
pub(super) struct Writeback {
    written: u64,
    started: u64,
    disabled: bool,
}

impl Writeback {
    /// Records that `n` more bytes were appended to `file`.
    pub(super) fn advance(&mut self, file: &File, n: u64) {
        self.written += n;
        while !self.disabled && self.written - self.started >= WINDOW {
            if !sync_range(file, self.started, false)
                || (self.started >= WINDOW && !sync_range(file, self.started - WINDOW, true))
            {
                // The file system does not take hints; the final fsync does all the work.
                self.disabled = true;
            }
            self.started += WINDOW;
        }
    }
}

/// Asks the kernel to write `[offset, offset + WINDOW)` back, waiting for it when `wait`.
/// Returns false when the call is not supported.
fn sync_range(file: &File, offset: u64, wait: bool) -> bool {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let flags = if wait {
            libc::SYNC_FILE_RANGE_WAIT_BEFORE
                | libc::SYNC_FILE_RANGE_WRITE
                | libc::SYNC_FILE_RANGE_WAIT_AFTER
        } else {
            libc::SYNC_FILE_RANGE_WRITE
        };
        let (Ok(offset), Ok(len)) = (
            libc::off64_t::try_from(offset),
            libc::off64_t::try_from(WINDOW),
        ) else {
            return false;
        };
        // SAFETY: the descriptor is open for the lifetime of `file`; sync_file_range does
        // not touch memory of ours.
        let rc = unsafe { libc::sync_file_range(file.as_raw_fd(), offset, len, flags) };
        // EIO or ENOSPC here will be reported again by the final fsync, which is the
        // authority; only "not supported" is worth remembering.
        rc == 0
            || !matches!(
                io::Error::last_os_error().raw_os_error(),
                Some(libc::EINVAL | libc::ESPIPE | libc::ENOSYS | libc::EOPNOTSUPP)
            )
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (file, offset, wait);
        false
    }
}

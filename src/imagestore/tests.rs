//! Tests of the image bytes store against a throw-away directory.

use std::io;
use std::path::Path;
use std::task::Poll;

use bytes::Bytes;
use futures_core::Stream;
use futures_util::{StreamExt, stream};
use md5::Md5;
use sha2::{Digest, Sha512};

use super::{ImageStore, WriteError, Written, map_io};

const ID: &str = "3f2a9c1e-8b4d-4e6f-9a0b-1c2d3e4f5a6b";
const NO_LIMIT: u64 = u64::MAX;

fn store() -> (tempfile::TempDir, ImageStore) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = ImageStore::open(dir.path()).expect("open store");
    (dir, store)
}

/// A request body made of `chunks`, all of which arrive.
fn body(chunks: Vec<Vec<u8>>) -> impl Stream<Item = Result<Bytes, String>> + Send + Unpin {
    stream::iter(chunks.into_iter().map(|c| Ok(Bytes::from(c))))
}

/// `len` bytes that are not all alike, so that offsets and hashes mean something.
fn data(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

fn chunked(data: &[u8], sizes: &[usize]) -> Vec<Vec<u8>> {
    let mut chunks = Vec::new();
    let mut rest = data;
    for &size in sizes.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (chunk, tail) = rest.split_at(size.min(rest.len()));
        chunks.push(chunk.to_vec());
        rest = tail;
    }
    chunks
}

fn expected(data: &[u8]) -> Written {
    Written {
        size: data.len() as u64,
        md5_hex: hex::encode(Md5::digest(data)),
        sha512_hex: hex::encode(Sha512::digest(data)),
    }
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

/// Nothing in `tmp/`, nothing in `images/`: what every failed upload must leave.
fn assert_nothing_left(dir: &tempfile::TempDir, store: &ImageStore) {
    assert_eq!(names(&dir.path().join("tmp")), Vec::<String>::new(), "tmp/");
    assert_eq!(
        names(&dir.path().join("images")),
        Vec::<String>::new(),
        "images/"
    );
    assert!(!store.exists(ID));
}

async fn read_all(store: &ImageStore, id: &str, range: Option<std::ops::Range<u64>>) -> Vec<u8> {
    let (stream, len) = store.read(id, range).await.expect("read");
    let mut stream = std::pin::pin!(stream);
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        out.extend_from_slice(&chunk.expect("read chunk"));
    }
    assert_eq!(out.len() as u64, len, "announced length");
    out
}

#[tokio::test]
async fn known_vectors() {
    let (_dir, store) = store();
    let empty = store
        .write("empty", body(vec![]), NO_LIMIT, Some(0))
        .await
        .expect("write");
    assert_eq!(empty.size, 0);
    assert_eq!(empty.md5_hex, "d41d8cd98f00b204e9800998ecf8427e");
    assert_eq!(
        empty.sha512_hex,
        "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce\
         47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"
    );
    assert!(store.exists("empty"));
    assert_eq!(read_all(&store, "empty", None).await, b"");

    let abc = store
        .write(
            "abc",
            body(vec![b"a".to_vec(), vec![], b"bc".to_vec()]),
            NO_LIMIT,
            None,
        )
        .await
        .expect("write");
    assert_eq!(abc.size, 3);
    assert_eq!(abc.md5_hex, "900150983cd24fb0d6963f7d28e17f72");
    assert_eq!(
        abc.sha512_hex,
        "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a\
         2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"
    );
}

#[tokio::test]
async fn round_trip_small() {
    let (dir, store) = store();
    let data = data(10_000);
    let written = store
        .write(
            ID,
            body(chunked(&data, &[1, 700, 4096])),
            NO_LIMIT,
            Some(10_000),
        )
        .await
        .expect("write");
    assert_eq!(written, expected(&data));
    assert_eq!(read_all(&store, ID, None).await, data);
    assert_eq!(names(&dir.path().join("tmp")), Vec::<String>::new());
    assert_eq!(store.size_of(ID).await.expect("size"), Some(10_000));
}

/// Large enough for many batches and several write-back windows, with ragged chunk sizes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_many_batches() {
    let (dir, store) = store();
    let data = data((20 << 20) + 12_345);
    let chunks = chunked(&data, &[65_536, 1, 300_000, 16_384, 1 << 20, 7]);
    let written = store
        .write(ID, body(chunks), NO_LIMIT, None)
        .await
        .expect("write");
    assert_eq!(written, expected(&data));
    assert_eq!(
        std::fs::read(store.path_of(ID).expect("path")).expect("read"),
        data
    );
    assert_eq!(names(&dir.path().join("tmp")), Vec::<String>::new());
}

#[tokio::test]
async fn replacing_an_image() {
    let (_dir, store) = store();
    store
        .write(ID, body(vec![b"old".to_vec()]), NO_LIMIT, None)
        .await
        .expect("write");
    store
        .write(ID, body(vec![b"new!".to_vec()]), NO_LIMIT, None)
        .await
        .expect("rewrite");
    assert_eq!(read_all(&store, ID, None).await, b"new!");
}

#[tokio::test]
async fn failed_upload_keeps_the_previous_image() {
    let (dir, store) = store();
    store
        .write(ID, body(vec![b"old".to_vec()]), NO_LIMIT, None)
        .await
        .expect("write");
    let err = store
        .write(ID, body(vec![data(100)]), 10, None)
        .await
        .unwrap_err();
    assert!(matches!(err, WriteError::TooLarge { limit: 10 }), "{err:?}");
    assert_eq!(read_all(&store, ID, None).await, b"old");
    assert_eq!(names(&dir.path().join("tmp")), Vec::<String>::new());
}

#[tokio::test]
async fn size_cap() {
    let (dir, store) = store();
    // Exactly at the cap is fine.
    store
        .write("at-cap", body(vec![data(100)]), 100, None)
        .await
        .expect("write");
    store.delete("at-cap").await.expect("delete");

    let chunks = chunked(&data(150), &[40]);
    let err = store.write(ID, body(chunks), 100, None).await.unwrap_err();
    assert!(
        matches!(err, WriteError::TooLarge { limit: 100 }),
        "{err:?}"
    );
    assert_nothing_left(&dir, &store);

    // Past the cap by many batches, so that the workers had started.
    let big = chunked(&data(3 << 20), &[256 << 10]);
    let err = store.write(ID, body(big), 2 << 20, None).await.unwrap_err();
    assert!(matches!(err, WriteError::TooLarge { .. }), "{err:?}");
    assert_nothing_left(&dir, &store);
}

#[tokio::test]
async fn announced_size_over_the_cap_is_refused_before_reading() {
    let (dir, store) = store();
    let body = stream::poll_fn(|_| -> Poll<Option<Result<Bytes, String>>> {
        panic!("the body must not be read")
    });
    let err = store.write(ID, body, 100, Some(101)).await.unwrap_err();
    assert!(
        matches!(err, WriteError::TooLarge { limit: 100 }),
        "{err:?}"
    );
    assert_nothing_left(&dir, &store);
}

#[tokio::test]
async fn body_error_mid_way() {
    let (dir, store) = store();
    let chunks = chunked(&data(2 << 20), &[100_000])
        .into_iter()
        .map(|c| Ok(Bytes::from(c)))
        .chain([Err("connection reset by peer".to_owned())])
        .chain([Ok(Bytes::from_static(b"never read"))]);
    let err = store
        .write(ID, stream::iter(chunks), NO_LIMIT, None)
        .await
        .unwrap_err();
    match err {
        WriteError::Body(msg) => assert!(msg.contains("connection reset"), "{msg}"),
        other => panic!("expected a body error, got {other:?}"),
    }
    assert_nothing_left(&dir, &store);
}

#[tokio::test]
async fn announced_size_mismatch() {
    let (dir, store) = store();
    let err = store
        .write(ID, body(chunked(&data(1000), &[300])), NO_LIMIT, Some(1001))
        .await;
    assert!(
        matches!(
            err,
            Err(WriteError::SizeMismatch {
                expected: 1001,
                got: 1000
            })
        ),
        "{err:?}"
    );
    assert_nothing_left(&dir, &store);

    // More than announced stops as soon as it is seen.
    let err = store
        .write(ID, body(chunked(&data(1000), &[300])), NO_LIMIT, Some(500))
        .await;
    assert!(
        matches!(
            err,
            Err(WriteError::SizeMismatch {
                expected: 500,
                got: 600
            })
        ),
        "{err:?}"
    );
    assert_nothing_left(&dir, &store);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_write_future_leaves_no_temp_file() {
    let (dir, store) = store();
    let (reached_tx, reached_rx) = tokio::sync::oneshot::channel();
    let mut reached_tx = Some(reached_tx);
    // Several batches arrive, then the client stalls: the handler's future is then dropped,
    // as when the HTTP connection is cut.
    let stalled = stream::poll_fn(move |_| {
        if let Some(tx) = reached_tx.take() {
            let _ = tx.send(());
        }
        Poll::Pending
    });
    let chunks = chunked(&data(3 << 20), &[64 << 10]);
    let body = body(chunks).chain(stalled);

    // Boxed so that `drop` below really drops the future, not a pinned reference to it.
    let mut write = Box::pin(store.write(ID, body, NO_LIMIT, None));
    tokio::select! {
        result = &mut write => panic!("the write finished: {result:?}"),
        _ = reached_rx => {}
    }
    assert_eq!(
        names(&dir.path().join("tmp")).len(),
        1,
        "an upload is in progress"
    );
    drop(write);
    assert_nothing_left(&dir, &store);
}

#[tokio::test]
async fn ranged_read() {
    let (_dir, store) = store();
    let data = data(1_000_000);
    store
        .write(ID, body(chunked(&data, &[99_999])), NO_LIMIT, None)
        .await
        .expect("write");
    for range in [
        0..1,
        0..1_000_000,
        1..2,
        123_456..789_012,
        999_999..1_000_000,
        500..500,
    ] {
        let got = read_all(&store, ID, Some(range.clone())).await;
        assert_eq!(
            got,
            data[range.start as usize..range.end as usize],
            "{range:?}"
        );
    }
    for range in [0..1_000_001, 1_000_001..1_000_002] {
        let err = store
            .read(ID, Some(range))
            .await
            .err()
            .expect("a range past the end");
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }
    let err = store
        .read("missing", None)
        .await
        .err()
        .expect("a missing image");
    assert_eq!(err.kind(), io::ErrorKind::NotFound);
}

#[tokio::test]
async fn open_removes_leftover_temp_files() {
    let (dir, store) = store();
    store
        .write(ID, body(vec![b"kept".to_vec()]), NO_LIMIT, None)
        .await
        .expect("write");
    let tmp = dir.path().join("tmp");
    std::fs::write(tmp.join(format!("{ID}.0123.part")), b"half an image").expect("leftover");
    std::fs::create_dir(tmp.join("odd-dir")).expect("leftover dir");
    std::fs::write(tmp.join("odd-dir").join("x"), b"x").expect("leftover in dir");

    let store = ImageStore::open(dir.path()).expect("reopen");
    assert_eq!(names(&tmp), Vec::<String>::new());
    assert_eq!(read_all(&store, ID, None).await, b"kept");
}

#[tokio::test]
async fn open_creates_the_layout() {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path().join("a").join("b");
    let store = ImageStore::open(&root).expect("open");
    assert!(root.join("images").is_dir() && root.join("tmp").is_dir());
    assert_eq!(store.root(), root);
}

#[tokio::test]
async fn bad_ids_are_refused_without_touching_the_disk() {
    let (dir, store) = store();
    let long = "a".repeat(129);
    for id in [
        "",
        ".",
        "..",
        "../images/x",
        "a/b",
        "a.b",
        "a b",
        "é",
        "a\0b",
        &long,
    ] {
        let err = store
            .write(id, body(vec![b"x".to_vec()]), NO_LIMIT, None)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, WriteError::BadId(bad) if bad == id),
            "{id:?}: {err:?}"
        );
        assert!(store.path_of(id).is_err(), "{id:?}");
        assert!(!store.exists(id), "{id:?}");
        let read = store.read(id, None).await.err().expect("bad id");
        assert_eq!(read.kind(), io::ErrorKind::InvalidInput, "{id:?}");
        let delete = store.delete(id).await.unwrap_err();
        assert_eq!(delete.kind(), io::ErrorKind::InvalidInput, "{id:?}");
    }
    assert_nothing_left(&dir, &store);
    assert!(store.path_of("Ab_9-").is_ok());
    assert!(store.path_of(&"a".repeat(128)).is_ok());
}

#[tokio::test]
async fn delete_and_quota_sizes() {
    let (_dir, store) = store();
    store
        .delete(ID)
        .await
        .expect("deleting a missing image is fine");
    store
        .write("one", body(vec![data(10)]), NO_LIMIT, None)
        .await
        .expect("write");
    store
        .write("two", body(vec![data(32)]), NO_LIMIT, None)
        .await
        .expect("write");
    assert_eq!(
        store
            .stored_bytes(["one", "two", "missing"])
            .await
            .expect("sizes"),
        42
    );
    store.delete("one").await.expect("delete");
    assert!(!store.exists("one"));
    assert_eq!(store.size_of("one").await.expect("size"), None);
    assert_eq!(
        store
            .stored_bytes(vec!["one".to_owned(), "two".to_owned()])
            .await
            .expect("sizes"),
        32
    );
}

#[test]
fn disk_full_is_its_own_error() {
    for err in [
        io::Error::from_raw_os_error(28),  // ENOSPC
        io::Error::from_raw_os_error(122), // EDQUOT
        io::Error::from(io::ErrorKind::StorageFull),
        io::Error::from(io::ErrorKind::QuotaExceeded),
    ] {
        assert!(matches!(map_io(err), WriteError::DiskFull));
    }
    assert!(matches!(
        map_io(io::Error::from_raw_os_error(5)),
        WriteError::Io(_)
    ));
}

/// Handlers run on a multi-threaded runtime, so the upload future must be `Send`.
#[test]
fn write_future_is_send() {
    fn assert_send<T: Send>(_: &T) {}
    let dir = tempfile::tempdir().expect("temp dir");
    let store = ImageStore::open(dir.path()).expect("open");
    let write = store.write(ID, body(vec![]), NO_LIMIT, None);
    assert_send(&write);
    let read = store.read(ID, None);
    assert_send(&read);
}

/// Throughput and memory of a large upload; run with
/// `cargo test --release --lib imagestore::tests::bench_upload -- --ignored --nocapture`
/// (`IMAGESTORE_BENCH_MIB` sets the size, 1024 by default).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: slow, and meaningful only in release builds"]
async fn bench_upload() {
    let mib: usize = std::env::var("IMAGESTORE_BENCH_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024);
    let (_dir, store) = store();
    let block = Bytes::from(data(1 << 20));
    let chunk = 64 << 10;
    // Chunks the size hyper tends to produce, all slices of one buffer so that the body
    // itself costs no memory.
    let chunks = (0..mib * (1 << 20) / chunk)
        .map(move |i| Ok::<_, String>(block.slice((i * chunk) % (1 << 20)..)))
        .map(|r| r.map(|b| b.slice(..chunk)));
    let hwm_before = vm_hwm_kib();
    let start = std::time::Instant::now();
    let written = store
        .write(ID, stream::iter(chunks), NO_LIMIT, None)
        .await
        .expect("write");
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{} MiB in {secs:.2} s = {:.0} MiB/s; peak RSS grew by {} KiB; md5 {}",
        mib,
        mib as f64 / secs,
        vm_hwm_kib().saturating_sub(hwm_before),
        written.md5_hex
    );
}

fn vm_hwm_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

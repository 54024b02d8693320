//! The image status machine: one table of allowed transitions, and what refusing any other
//! event means to the client.
//!
//! ```text
//!            BeginUpload           UploadSucceeded          Deactivate
//!   queued ───────────────► saving ───────────────► active ◄──────────► deactivated
//!     ▲                       │  │                           Reactivate
//!     └──── UploadAborted ────┘  └── UploadFailed ──► killed
//!
//!   Delete: every status but `deleted` ──► deleted (terminal)
//! ```
//!
//! **A failed upload.** Glance's v2 upload handler puts an image whose upload did not
//! complete back to `queued` (its `_restore`) so the user can simply upload again; only an
//! image whose data the server can no longer trust ends `killed`. We keep both outcomes as
//! two events:
//! - [`ImageEvent::UploadAborted`] (`saving → queued`): the upload was refused or cut short
//!   and nothing of it was kept — the size cap or the storage quota was exceeded (413), the
//!   disk is full, the client disconnected, the declared size did not match. The user
//!   retries with a new `PUT …/file`.
//! - [`ImageEvent::UploadFailed`] (`saving → killed`): the server failed in a way that leaves
//!   the image unusable (e.g. publishing the data file failed after the bytes were written).
//!   A killed image accepts no more uploads; it can only be deleted, as in Glance.
//!
//! Deactivate/Reactivate are idempotent on `deactivated`/`active` and refused elsewhere with
//! 403, as Glance does; an upload to an image that is not `queued` is 409; any event on a
//! deleted image is 404, since a deleted image no longer exists for the API.

use super::{ImageError, ImageStatus};

/// What happens to an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ImageEvent {
    /// `PUT /v2/images/{id}/file` starts.
    BeginUpload,
    /// The data is written, hashed, synced and published.
    UploadSucceeded,
    /// The upload was refused or interrupted and nothing was kept: back to `queued`.
    UploadAborted,
    /// The upload failed so that the image cannot be trusted: `killed`.
    UploadFailed,
    /// `POST /v2/images/{id}/actions/deactivate`.
    Deactivate,
    /// `POST /v2/images/{id}/actions/reactivate`.
    Reactivate,
    /// `DELETE /v2/images/{id}`.
    Delete,
}

impl ImageEvent {
    pub const ALL: [ImageEvent; 7] = [
        ImageEvent::BeginUpload,
        ImageEvent::UploadSucceeded,
        ImageEvent::UploadAborted,
        ImageEvent::UploadFailed,
        ImageEvent::Deactivate,
        ImageEvent::Reactivate,
        ImageEvent::Delete,
    ];
}

use ImageEvent as E;
use ImageStatus as S;

/// Every allowed transition `(from, event, to)`; [`transition`] allows nothing else.
pub const TRANSITIONS: &[(ImageStatus, ImageEvent, ImageStatus)] = &[
    (S::Queued, E::BeginUpload, S::Saving),
    (S::Saving, E::UploadSucceeded, S::Active),
    (S::Saving, E::UploadAborted, S::Queued),
    (S::Saving, E::UploadFailed, S::Killed),
    (S::Active, E::Deactivate, S::Deactivated),
    (S::Deactivated, E::Deactivate, S::Deactivated),
    (S::Deactivated, E::Reactivate, S::Active),
    (S::Active, E::Reactivate, S::Active),
    (S::Queued, E::Delete, S::Deleted),
    (S::Saving, E::Delete, S::Deleted),
    (S::Active, E::Delete, S::Deleted),
    (S::Killed, E::Delete, S::Deleted),
    (S::Deactivated, E::Delete, S::Deleted),
    (S::PendingDelete, E::Delete, S::Deleted),
    (S::Uploading, E::Delete, S::Deleted),
    (S::Importing, E::Delete, S::Deleted),
];

/// The status `ev` leads to from `from`, or why it is refused (see the module doc).
pub fn transition(from: ImageStatus, ev: ImageEvent) -> Result<ImageStatus, ImageError> {
    if let Some(&(_, _, to)) = TRANSITIONS.iter().find(|&&(f, e, _)| f == from && e == ev) {
        return Ok(to);
    }
    Err(match (from, ev) {
        (S::Deleted, _) => ImageError::NotFound("the image has been deleted".into()),
        (_, E::BeginUpload) => ImageError::Conflict(format!(
            "image data can only be uploaded to a queued image; this image is {from}"
        )),
        (_, E::UploadSucceeded | E::UploadAborted | E::UploadFailed) => {
            ImageError::Conflict(format!("no upload is in progress: the image is {from}"))
        }
        (_, E::Deactivate) => ImageError::Forbidden(format!(
            "Not allowed to deactivate image in status '{from}'"
        )),
        (_, E::Reactivate) => ImageError::Forbidden(format!(
            "Not allowed to reactivate image in status '{from}'"
        )),
        // Every status but `deleted` has a Delete row in the table.
        (_, E::Delete) => {
            ImageError::Conflict(format!("an image in status {from} can't be deleted"))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_happy_path() {
        let s = transition(S::Queued, E::BeginUpload).unwrap();
        assert_eq!(s, S::Saving);
        let s = transition(s, E::UploadSucceeded).unwrap();
        assert_eq!(s, S::Active);
        let s = transition(s, E::Deactivate).unwrap();
        assert_eq!(s, S::Deactivated);
        let s = transition(s, E::Reactivate).unwrap();
        assert_eq!(s, S::Active);
        assert_eq!(transition(s, E::Delete).unwrap(), S::Deleted);
    }

    #[test]
    fn failed_and_aborted_uploads() {
        assert_eq!(transition(S::Saving, E::UploadAborted), Ok(S::Queued));
        assert_eq!(transition(S::Saving, E::UploadFailed), Ok(S::Killed));
        // An aborted upload may be retried; a killed image may not.
        assert_eq!(transition(S::Queued, E::BeginUpload), Ok(S::Saving));
        assert!(matches!(
            transition(S::Killed, E::BeginUpload),
            Err(ImageError::Conflict(_))
        ));
    }

    #[test]
    fn upload_to_a_non_queued_image_is_409() {
        for from in ImageStatus::ALL {
            if from == S::Queued || from == S::Deleted {
                continue;
            }
            match transition(from, E::BeginUpload) {
                Err(ImageError::Conflict(m)) => assert!(m.contains(from.as_str()), "{m}"),
                other => panic!("{from}: {other:?}"),
            }
        }
    }

    #[test]
    fn deactivation_follows_glance() {
        assert_eq!(
            transition(S::Deactivated, E::Deactivate),
            Ok(S::Deactivated)
        );
        assert_eq!(transition(S::Active, E::Reactivate), Ok(S::Active));
        assert_eq!(
            transition(S::Queued, E::Deactivate),
            Err(ImageError::Forbidden(
                "Not allowed to deactivate image in status 'queued'".into()
            ))
        );
        assert!(matches!(
            transition(S::Killed, E::Reactivate),
            Err(ImageError::Forbidden(_))
        ));
    }

    #[test]
    fn the_table_is_a_function() {
        for (i, &(f, e, _)) in TRANSITIONS.iter().enumerate() {
            assert!(
                !TRANSITIONS[i + 1..]
                    .iter()
                    .any(|&(f2, e2, _)| f2 == f && e2 == e),
                "two rows for ({f}, {e:?})"
            );
        }
    }

    fn events() -> impl Strategy<Value = Vec<ImageEvent>> {
        prop::collection::vec(prop::sample::select(ImageEvent::ALL.to_vec()), 0..40)
    }

    /// What the upload path reaches from `queued`: the table's statuses, nothing of the
    /// import workflow (`uploading`, `importing`) or delayed delete.
    const REACHABLE: [ImageStatus; 6] = [
        S::Queued,
        S::Saving,
        S::Active,
        S::Killed,
        S::Deactivated,
        S::Deleted,
    ];

    proptest! {
        #[test]
        fn random_events_from_queued_stay_in_the_table(evs in events()) {
            let mut s = S::Queued;
            for ev in evs {
                match transition(s, ev) {
                    Ok(to) => {
                        prop_assert!(TRANSITIONS.contains(&(s, ev, to)));
                        prop_assert!(REACHABLE.contains(&to), "{s} --{ev:?}--> {to}");
                        s = to;
                    }
                    Err(_) => prop_assert!(
                        !TRANSITIONS.iter().any(|&(f, e, _)| f == s && e == ev)
                    ),
                }
            }
        }

        #[test]
        fn deleted_is_terminal(evs in events()) {
            for ev in evs {
                prop_assert!(matches!(transition(S::Deleted, ev), Err(ImageError::NotFound(_))));
            }
        }

        #[test]
        fn active_only_after_a_successful_upload(evs in events()) {
            let mut s = S::Queued;
            let mut uploaded = false;
            for ev in evs {
                if let Ok(to) = transition(s, ev) {
                    uploaded |= ev == E::UploadSucceeded;
                    if matches!(to, S::Active | S::Deactivated) {
                        prop_assert!(uploaded, "reached {to} without UploadSucceeded");
                    }
                    s = to;
                }
            }
        }

        #[test]
        fn delete_always_works_until_deleted(from in prop::sample::select(ImageStatus::ALL.to_vec())) {
            let r = transition(from, E::Delete);
            if from == S::Deleted {
                prop_assert!(r.is_err());
            } else {
                prop_assert_eq!(r, Ok(S::Deleted));
            }
        }

        #[test]
        fn upload_only_to_queued(from in prop::sample::select(ImageStatus::ALL.to_vec())) {
            let r = transition(from, E::BeginUpload);
            match from {
                S::Queued => prop_assert_eq!(r, Ok(S::Saving)),
                S::Deleted => prop_assert!(matches!(r, Err(ImageError::NotFound(_)))),
                _ => prop_assert!(matches!(r, Err(ImageError::Conflict(_)))),
            }
        }

        #[test]
        fn an_upload_never_ends_without_one_running(
            from in prop::sample::select(ImageStatus::ALL.to_vec()),
            ev in prop::sample::select(vec![E::UploadSucceeded, E::UploadAborted, E::UploadFailed]),
        ) {
            prop_assert_eq!(transition(from, ev).is_ok(), from == S::Saving);
        }
    }
}

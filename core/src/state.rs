//! [`AsyncState`] and [`AsyncStatus`]: the usual shape of "a value being loaded" in a
//! state.
//!
//! An `AsyncState<T, E>` is a status plus the last data and the last error. Its fields are
//! private so the invariants the original only hoped for always hold:
//!
//! * `Success` always has data (so [`AsyncState::when`] never has to force anything);
//! * `Failure` always has an error;
//! * `Initial` is the only state built without data or error.
//!
//! Transitions, as in the original (data is kept where the original keeps it):
//!
//! | transition | status | data | error |
//! |---|---|---|---|
//! | [`to_loading`](AsyncState::to_loading) | `Loading` | kept | cleared |
//! | [`to_refreshing`](AsyncState::to_refreshing) | `Refreshing` | kept | cleared |
//! | [`to_success(d)`](AsyncState::to_success) | `Success` | `d` | cleared |
//! | [`to_failure(e)`](AsyncState::to_failure) | `Failure` | **kept** | `e` |
//!
//! Each `to_*` consumes the state and returns the next one; the `set_*` twins do the same
//! in place, which is handy inside [`Context::update_state`](crate::Context::update_state).
//! Unlike the original, `AsyncState` implements `PartialEq` (when `T` and `E` do), so a
//! state containing it can be compared and de-duplicated.

use crate::error::JobError;

/// Where an asynchronous value stands.
///
/// ```
/// use orchestrator_core::AsyncStatus;
/// assert!(AsyncStatus::Refreshing.is_loading());
/// assert!(AsyncStatus::Failure.is_complete());
/// assert!(!AsyncStatus::Initial.is_complete());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum AsyncStatus {
    /// Nothing requested yet.
    #[default]
    Initial,
    /// Loading, with no data to show (or data kept from before).
    Loading,
    /// Loaded: data is available.
    Success,
    /// The last load failed (data from before may be kept).
    Failure,
    /// Loading again while showing the data already there.
    Refreshing,
}

impl AsyncStatus {
    /// `Initial`.
    pub fn is_initial(self) -> bool {
        self == Self::Initial
    }
    /// `Loading` or `Refreshing`.
    pub fn is_loading(self) -> bool {
        matches!(self, Self::Loading | Self::Refreshing)
    }
    /// `Refreshing` only.
    pub fn is_refreshing(self) -> bool {
        self == Self::Refreshing
    }
    /// `Success`.
    pub fn is_success(self) -> bool {
        self == Self::Success
    }
    /// `Failure`.
    pub fn is_failure(self) -> bool {
        self == Self::Failure
    }
    /// `Success` or `Failure`.
    pub fn is_complete(self) -> bool {
        matches!(self, Self::Success | Self::Failure)
    }
}

/// A status, the last data and the last error of a value loaded by jobs.
///
/// An `AsyncState<T, E>` is a status plus the last data and the last error. Its fields are
/// private so the invariants the original only hoped for always hold:
///
/// * `Success` always has data (so [`AsyncState::when`] never has to force anything);
/// * `Failure` always has an error;
/// * `Initial` is the only state built without data or error.
///
/// Transitions, as in the original (data is kept where the original keeps it):
///
/// | transition | status | data | error |
/// |---|---|---|---|
/// | [`to_loading`](AsyncState::to_loading) | `Loading` | kept | cleared |
/// | [`to_refreshing`](AsyncState::to_refreshing) | `Refreshing` | kept | cleared |
/// | [`to_success(d)`](AsyncState::to_success) | `Success` | `d` | cleared |
/// | [`to_failure(e)`](AsyncState::to_failure) | `Failure` | **kept** | `e` |
///
/// Each `to_*` consumes the state and returns the next one; the `set_*` twins do the same
/// in place, which is handy inside [`Context::update_state`](crate::Context::update_state).
/// Unlike the original, `AsyncState` implements `PartialEq` (when `T` and `E` do), so a
/// state containing it can be compared and de-duplicated.
///
/// ```
/// use orchestrator_core::{AsyncState, AsyncStatus, JobError};
///
/// let s: AsyncState<u32> = AsyncState::new();
/// assert_eq!(s.status(), AsyncStatus::Initial);
///
/// let s = s.to_loading().to_success(7);
/// assert_eq!(s.data(), Some(&7));
///
/// // A failed refresh keeps the data on screen, next to the error.
/// let s = s.to_refreshing().to_failure(JobError::msg("offline"));
/// assert!(s.status().is_failure());
/// assert_eq!(s.data(), Some(&7));
/// assert_eq!(s.error().map(JobError::message), Some("offline"));
///
/// let label = s.when(|| "-".to_string(), |_| "…".to_string(), |n| n.to_string(), |e| format!("error: {e}"));
/// assert_eq!(label, "error: offline");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AsyncState<T, E = JobError> {
    status: AsyncStatus,
    data: Option<T>,
    error: Option<E>,
}

impl<T, E> Default for AsyncState<T, E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T, E> AsyncState<T, E> {
    /// `Initial`, no data, no error.
    pub const fn new() -> Self {
        Self { status: AsyncStatus::Initial, data: None, error: None }
    }

    /// `Loading` with no data.
    pub const fn loading() -> Self {
        Self { status: AsyncStatus::Loading, data: None, error: None }
    }

    /// `Success` with `data`.
    pub const fn success(data: T) -> Self {
        Self { status: AsyncStatus::Success, data: Some(data), error: None }
    }

    /// `Failure` with `error` and no data.
    pub const fn failure(error: E) -> Self {
        Self { status: AsyncStatus::Failure, data: None, error: Some(error) }
    }

    /// The status.
    pub fn status(&self) -> AsyncStatus {
        self.status
    }

    /// The data, if any (always there in `Success`).
    pub fn data(&self) -> Option<&T> {
        self.data.as_ref()
    }

    /// The error, if any (always there in `Failure`, never elsewhere).
    pub fn error(&self) -> Option<&E> {
        self.error.as_ref()
    }

    /// Takes the data out, leaving the rest as it is.
    pub fn into_data(self) -> Option<T> {
        self.data
    }

    /// True when there is data.
    pub fn has_data(&self) -> bool {
        self.data.is_some()
    }

    /// True when there is an error.
    pub fn has_error(&self) -> bool {
        self.error.is_some()
    }

    /// `Loading` or `Refreshing`.
    pub fn is_loading(&self) -> bool {
        self.status.is_loading()
    }

    /// → `Loading`: data kept, error cleared.
    #[must_use]
    pub fn to_loading(mut self) -> Self {
        self.set_loading();
        self
    }

    /// → `Refreshing`: data kept, error cleared.
    #[must_use]
    pub fn to_refreshing(mut self) -> Self {
        self.set_refreshing();
        self
    }

    /// → `Success` with `data`, error cleared.
    #[must_use]
    pub fn to_success(mut self, data: T) -> Self {
        self.set_success(data);
        self
    }

    /// → `Failure` with `error`; the data is **kept** (a failed refresh still shows it).
    #[must_use]
    pub fn to_failure(mut self, error: E) -> Self {
        self.set_failure(error);
        self
    }

    /// In-place [`to_loading`](Self::to_loading).
    pub fn set_loading(&mut self) {
        self.status = AsyncStatus::Loading;
        self.error = None;
    }

    /// In-place [`to_refreshing`](Self::to_refreshing).
    pub fn set_refreshing(&mut self) {
        self.status = AsyncStatus::Refreshing;
        self.error = None;
    }

    /// In-place [`to_success`](Self::to_success).
    pub fn set_success(&mut self, data: T) {
        self.status = AsyncStatus::Success;
        self.data = Some(data);
        self.error = None;
    }

    /// In-place [`to_failure`](Self::to_failure).
    pub fn set_failure(&mut self, error: E) {
        self.status = AsyncStatus::Failure;
        self.error = Some(error);
    }

    /// Picks the branch for the status: `Refreshing` goes to `loading` (use
    /// [`when_refreshing`](Self::when_refreshing) to tell them apart). Never panics: the
    /// invariants guarantee the data of `Success` and the error of `Failure`.
    pub fn when<R>(
        &self,
        initial: impl FnOnce() -> R,
        loading: impl FnOnce(Option<&T>) -> R,
        success: impl FnOnce(&T) -> R,
        failure: impl FnOnce(&E) -> R,
    ) -> R {
        match (self.status, &self.data, &self.error) {
            (AsyncStatus::Success, Some(data), _) => success(data),
            (AsyncStatus::Failure, _, Some(error)) => failure(error),
            (AsyncStatus::Loading | AsyncStatus::Refreshing, data, _) => loading(data.as_ref()),
            // `Initial`, and (unreachable by construction) a success without data or a
            // failure without error.
            _ => initial(),
        }
    }

    /// Like [`when`](Self::when), with a separate `refreshing` branch that receives the
    /// data being refreshed.
    pub fn when_refreshing<R>(
        &self,
        initial: impl FnOnce() -> R,
        loading: impl FnOnce(Option<&T>) -> R,
        refreshing: impl FnOnce(Option<&T>) -> R,
        success: impl FnOnce(&T) -> R,
        failure: impl FnOnce(&E) -> R,
    ) -> R {
        if self.status == AsyncStatus::Refreshing {
            refreshing(self.data.as_ref())
        } else {
            self.when(initial, loading, success, failure)
        }
    }

    /// Maps the data, keeping status and error.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> AsyncState<U, E> {
        AsyncState { status: self.status, data: self.data.map(f), error: self.error }
    }

    /// Maps the error, keeping status and data.
    pub fn map_err<F>(self, f: impl FnOnce(E) -> F) -> AsyncState<T, F> {
        AsyncState { status: self.status, data: self.data, error: self.error.map(f) }
    }

    /// Borrows the data and error.
    pub fn as_ref(&self) -> AsyncState<&T, &E> {
        AsyncState { status: self.status, data: self.data.as_ref(), error: self.error.as_ref() }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use alloc::string::{String, ToString};

    type S = AsyncState<u32, &'static str>;

    fn parts(s: &S) -> (AsyncStatus, Option<u32>, Option<&'static str>) {
        (s.status(), s.data().copied(), s.error().copied())
    }

    #[test]
    fn status_helpers() {
        use AsyncStatus::*;
        let table = [
            // status, initial, loading, complete, success, failure, refreshing
            (Initial, true, false, false, false, false, false),
            (Loading, false, true, false, false, false, false),
            (Success, false, false, true, true, false, false),
            (Failure, false, false, true, false, true, false),
            (Refreshing, false, true, false, false, false, true),
        ];
        for (s, i, l, c, ok, f, r) in table {
            assert_eq!(
                (s.is_initial(), s.is_loading(), s.is_complete(), s.is_success(), s.is_failure(), s.is_refreshing()),
                (i, l, c, ok, f, r),
                "{s:?}"
            );
        }
        assert_eq!(AsyncStatus::default(), Initial);
    }

    #[test]
    fn transitions_table() {
        use AsyncStatus::*;
        let empty = S::new();
        let with_data = S::success(1);
        let failed_with_data = S::success(1).to_failure("e0");

        // to_loading: data kept, error cleared.
        assert_eq!(parts(&empty.clone().to_loading()), (Loading, None, None));
        assert_eq!(parts(&with_data.clone().to_loading()), (Loading, Some(1), None));
        assert_eq!(parts(&failed_with_data.clone().to_loading()), (Loading, Some(1), None));
        // to_refreshing: data kept, error cleared.
        assert_eq!(parts(&empty.clone().to_refreshing()), (Refreshing, None, None));
        assert_eq!(parts(&failed_with_data.clone().to_refreshing()), (Refreshing, Some(1), None));
        // to_success: new data, error cleared.
        assert_eq!(parts(&failed_with_data.clone().to_success(2)), (Success, Some(2), None));
        assert_eq!(parts(&empty.clone().to_success(3)), (Success, Some(3), None));
        // to_failure: data kept, error set.
        assert_eq!(parts(&with_data.clone().to_failure("e")), (Failure, Some(1), Some("e")));
        assert_eq!(parts(&empty.clone().to_failure("e")), (Failure, None, Some("e")));

        // The in-place twins agree with the consuming ones.
        let mut s = with_data.clone();
        s.set_failure("x");
        assert_eq!(s, with_data.clone().to_failure("x"));
        s.set_refreshing();
        assert_eq!(s, with_data.clone().to_failure("x").to_refreshing());
        s.set_success(9);
        assert_eq!(s, S::success(9));
        s.set_loading();
        assert_eq!(s, S::success(9).to_loading());
    }

    #[test]
    fn constructors_and_helpers() {
        assert_eq!(parts(&S::default()), (AsyncStatus::Initial, None, None));
        assert_eq!(parts(&S::loading()), (AsyncStatus::Loading, None, None));
        assert_eq!(parts(&S::failure("e")), (AsyncStatus::Failure, None, Some("e")));
        let s = S::success(4).to_failure("e");
        assert!(s.has_data() && s.has_error() && !s.is_loading());
        assert!(S::success(1).to_refreshing().is_loading());
        assert_eq!(s.clone().into_data(), Some(4));
        let mapped: AsyncState<String, usize> = s.clone().map(|n| n.to_string()).map_err(str::len);
        assert_eq!(mapped.data().map(String::as_str), Some("4"));
        assert_eq!(mapped.error(), Some(&1));
        assert_eq!(s.as_ref().data(), Some(&&4));
        assert_ne!(S::success(1), S::success(2));
    }

    #[test]
    fn when_picks_the_branch() {
        let f = |s: &S| {
            s.when(
                || "initial".to_string(),
                |d| alloc::format!("loading {d:?}"),
                |d| alloc::format!("success {d}"),
                |e| alloc::format!("failure {e}"),
            )
        };
        assert_eq!(f(&S::new()), "initial");
        assert_eq!(f(&S::loading()), "loading None");
        assert_eq!(f(&S::success(1).to_refreshing()), "loading Some(1)");
        assert_eq!(f(&S::success(5)), "success 5");
        assert_eq!(f(&S::success(5).to_failure("x")), "failure x");

        let g = |s: &S| s.when_refreshing(|| 0, |_| 1, |d| 10 + d.copied().unwrap_or(0), |_| 3, |_| 4);
        assert_eq!(g(&S::success(5).to_refreshing()), 15);
        assert_eq!(g(&S::loading()), 1);
        assert_eq!(g(&S::success(5)), 3);
    }
}

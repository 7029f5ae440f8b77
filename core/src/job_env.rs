//! [`JobEnv`]: what every job of one dispatcher shares.

use crate::sync::Arc;
use crate::sync::atomic::AtomicUsize;

use crate::bus::Bus;
use crate::cache::CacheProvider;
use crate::handle::Counters;
use crate::log::Logger;
use crate::retry_budget::RetryBudget;
use crate::runtime::Timer;

/// What every job of a dispatcher shares, behind one `Arc` per job (in its
/// [`JobContext`](crate::JobContext)) instead of one clone per field.
pub(crate) struct JobEnv {
    pub(crate) bus: Bus,
    pub(crate) timer: Option<Arc<dyn Timer>>,
    pub(crate) logger: Arc<dyn Logger>,
    /// Shared with the runners (which must not keep the bus open).
    pub(crate) counters: Arc<Counters>,
    pub(crate) cache: Option<Arc<dyn CacheProvider>>,
    pub(crate) cache_errors: AtomicUsize,
    /// The budget of jobs whose retry policy has none.
    pub(crate) retry_budget: Option<RetryBudget>,
    pub(crate) retries_refused: AtomicUsize,
}

//! With the `tracing` feature, an orchestrator's command handler and hooks run in a span
//! (`orchestrator_hook`, with the fields `orchestrator` and `hook`), so what they log and
//! the jobs they dispatch (whose spans are children of the span current at dispatch) show
//! under it. Without the feature, nothing.

/// Enters the span of one call of a hook or the command handler, until the guard drops.
#[cfg(feature = "tracing")]
pub(super) fn enter(orchestrator: &'static str, hook: &'static str) -> tracing::span::EnteredSpan {
    tracing::info_span!("orchestrator_hook", orchestrator, hook).entered()
}

/// Nothing without the `tracing` feature.
#[cfg(not(feature = "tracing"))]
#[inline(always)]
pub(super) fn enter(_: &'static str, _: &'static str) {}

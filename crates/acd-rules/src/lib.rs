//! Routing-rule files (work in progress).

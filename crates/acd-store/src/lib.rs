//! Versioned ruleset storage (work in progress).

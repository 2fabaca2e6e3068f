//! Cost of checking and compiling a ruleset (`acd rules check`, and every reload) at two sizes
//! of the synthetic ruleset (`acd_rules::synthetic`: N skills and agents, N/10 queues, N/5
//! routes). Near-linear growth is what matters: 10x the rules should cost about 10x the time.
//!
//! Run: `cargo bench --bench rules_check`

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use std::hint::black_box;

fn rules_check(c: &mut Criterion) {
    let mut group = c.benchmark_group("rules_check");
    group.sample_size(10);
    for n in [1_000usize, 10_000] {
        let files = acd_rules::synthetic::ruleset(n);
        let bytes: usize = files.iter().map(|f| f.text.len()).sum();
        group.throughput(Throughput::Bytes(bytes as u64));
        group.bench_function(format!("{n}_skills"), |b| {
            b.iter_batched(
                || files.clone(),
                |files| black_box(acd_rules::check_sources(files)),
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, rules_check);
criterion_main!(benches);

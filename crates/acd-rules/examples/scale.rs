//! `cargo run --release -p acd-rules --example scale -- N [N …]`: times `check_sources` on a
//! synthetic ruleset of each size (see `acd_rules::synthetic`) and prints size and time.
fn main() {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    for n in sizes {
        let files = acd_rules::synthetic::ruleset(n);
        let bytes: usize = files.iter().map(|f| f.text.len()).sum();
        let start = std::time::Instant::now();
        let checked = acd_rules::check_sources(files);
        let elapsed = start.elapsed();
        println!(
            "n={n:>7} bytes={bytes:>10} errors={} warnings={} time={:.3}s",
            checked.report.errors(),
            checked.report.warnings(),
            elapsed.as_secs_f64()
        );
        if checked.report.errors() > 0 && n <= 100 {
            print!("{}", checked.report.render());
        }
    }
}

//! `cargo run --release -p acd-rules --example scale -- N [N …]`: times `check_sources` on a
//! synthetic ruleset of each size (see `acd_rules::synthetic`) and prints size and time.
//!
//! With `--write DIR` first, each ruleset is also written to `DIR/rules-N/rules.toml`, to time
//! `acd rules check --dir DIR/rules-N` (which reads the files, so the size limit applies).
fn main() {
    let mut args = std::env::args().skip(1).peekable();
    let mut write_to = None;
    if args.peek().map(String::as_str) == Some("--write") {
        args.next();
        write_to = args.next().map(std::path::PathBuf::from);
    }
    let sizes: Vec<usize> = args.filter_map(|a| a.parse().ok()).collect();
    for n in sizes {
        let files = acd_rules::synthetic::ruleset(n);
        let bytes: usize = files.iter().map(|f| f.text.len()).sum();
        if let Some(dir) = &write_to {
            let dir = dir.join(format!("rules-{n}"));
            for f in &files {
                if let Err(e) = std::fs::create_dir_all(&dir)
                    .and_then(|()| std::fs::write(dir.join(&f.name), &f.text))
                {
                    eprintln!("cannot write {}: {e}", dir.display());
                    return;
                }
            }
        }
        let start = std::time::Instant::now();
        let checked = acd_rules::check_sources(files);
        let elapsed = start.elapsed();
        println!(
            "n={n:>7} bytes={bytes:>10} errors={} warnings={} time={:.3}s",
            checked.report.errors(),
            checked.report.warnings(),
            elapsed.as_secs_f64()
        );
        if checked.report.errors() > 0 && (n <= 100 || checked.report.errors() == 1) {
            print!("{}", checked.report.render());
        }
    }
}

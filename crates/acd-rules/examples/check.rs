//! `cargo run -p acd-rules --example check DIR`: prints the check report for a directory.
fn main() {
    let Some(dir) = std::env::args().nth(1) else {
        eprintln!("usage: check DIR");
        std::process::exit(2);
    };
    let out = acd_rules::commands::check(std::path::Path::new(&dir));
    print!("{}", out.text);
    std::process::exit(out.exit_code);
}

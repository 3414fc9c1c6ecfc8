//! `berth-shim --bundle DIR`: started by berthd once per container.
fn main() {
    let mut args = std::env::args().skip(1);
    let bundle = match (args.next().as_deref(), args.next()) {
        (Some("--bundle"), Some(dir)) => dir,
        _ => {
            eprintln!("usage: berth-shim --bundle DIR");
            std::process::exit(2);
        }
    };
    std::process::exit(berth_shim::start(std::path::Path::new(&bundle)));
}

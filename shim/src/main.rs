//! `berth-shim --bundle DIR`: started by berthd once per container.
//! `berth-shim pin --dir DIR --ns net,ipc,uts[,pid] [--hostname H] [--sysctl K=V]...`:
//! creates and pins a pod's namespaces (with `pid`, also forks the pod init),
//! prints `ok [INIT_PID]` or an error, and exits.
//! `berth-shim exec --bundle DIR --pid PID -- ARGS...`: runs ARGS in the
//! running container and exits with its status.
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("--bundle") if args.len() == 2 => {
            std::process::exit(berth_shim::start(std::path::Path::new(&args[1])))
        }
        Some("pin") => std::process::exit(berth_shim::pin(&args[1..])),
        Some("exec") => std::process::exit(berth_shim::exec(&args[1..])),
        _ => {
            eprintln!("usage: berth-shim --bundle DIR | berth-shim pin --dir DIR --ns LIST [--hostname H] [--sysctl K=V]... | berth-shim exec --bundle DIR --pid PID -- ARGS...");
            std::process::exit(2);
        }
    }
}

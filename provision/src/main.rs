//! ferrodis-provision: deploy a cluster (issue 11).
#![forbid(unsafe_code)]
fn main() {
    eprintln!("ferrodis-provision: not built yet (issue 11)");
    std::process::exit(2);
}

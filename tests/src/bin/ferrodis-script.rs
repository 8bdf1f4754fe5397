//! Prints what a server answers to differential scripts, to help write and debug them.
//!
//! ```text
//! cargo run -p ferrodis-tests --bin ferrodis-script -- [--ferrodis | --diff] FILE...
//! ```
//!
//! Default: transcript of stock redis-server. `--ferrodis`: transcript of ferrodis-server.
//! `--diff`: run differentially, like the tests do, and print the first mismatch.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use ferrodis_tests::diff::{run_differential, transcript};
use ferrodis_tests::script::parse_script;
use ferrodis_tests::Flavor;

enum Mode {
    Show(Flavor),
    Diff,
}

fn main() -> ExitCode {
    let mut mode = Mode::Show(Flavor::Stock);
    let mut files = Vec::new();
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--ferrodis" => mode = Mode::Show(Flavor::Ferrodis),
            "--diff" => mode = Mode::Diff,
            "-h" | "--help" => {
                eprintln!("usage: ferrodis-script [--ferrodis | --diff] FILE...");
                return ExitCode::SUCCESS;
            }
            _ => files.push(arg),
        }
    }
    if files.is_empty() {
        eprintln!("usage: ferrodis-script [--ferrodis | --diff] FILE...");
        return ExitCode::from(2);
    }
    let mut failed = false;
    for file in &files {
        let text = match std::fs::read_to_string(file) {
            Ok(text) => text,
            Err(e) => {
                eprintln!("{file}: {e}");
                failed = true;
                continue;
            }
        };
        let steps = match parse_script(&text) {
            Ok(steps) => steps,
            Err(e) => {
                eprintln!("{file}: {e}");
                failed = true;
                continue;
            }
        };
        match mode {
            Mode::Show(flavor) => {
                println!("# {file} on {}", flavor.name());
                print!("{}", transcript(flavor, &steps));
            }
            Mode::Diff => match run_differential(std::path::Path::new(file), &steps) {
                Ok(()) => println!("{file}: ok ({} steps)", steps.len()),
                Err(report) => {
                    println!("{report}");
                    failed = true;
                }
            },
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

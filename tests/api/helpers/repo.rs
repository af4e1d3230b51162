//! The repository's own files and the binary's --help, which the deployment
//! files are checked against.

use super::process::child_command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// A file of the repository, by its path from the root.
pub fn read(path: &str) -> String {
    std::fs::read_to_string(format!("{ROOT}/{path}")).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The port of an address such as `0.0.0.0:8080` (trailing non-digits ignored).
pub fn port_of(addr: &str) -> u16 {
    addr.rsplit(':')
        .next()
        .unwrap()
        .trim_end_matches(|c: char| !c.is_ascii_digit())
        .parse()
        .unwrap()
}

/// `authd --help`: every option and the variable that sets it.
pub fn help() -> String {
    let out = child_command(env!("CARGO_BIN_EXE_authd"))
        .arg("--help")
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap()
}

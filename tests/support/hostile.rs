//! Hostile catalog files: small inputs that once crashed, stalled or blew
//! up the catalog loader. `burnrate check` must refuse each with a clear
//! error, and `burnrate serve` must keep its last good catalog.

/// `{name}0: &{name}0 {first}`, then nine levels, each holding `fanout`
/// aliases of the level before, written by `wrap`.
pub fn alias_levels(name: &str, first: &str, fanout: usize, wrap: fn(&str) -> String) -> String {
    let mut out = format!("{name}0: &{name}0 {first}\n");
    for i in 1..10 {
        let refs = vec![format!("*{name}{}", i - 1); fanout].join(", ");
        out += &format!("{name}{i}: &{name}{i} {}\n", wrap(&refs));
    }
    out
}

/// One native SLO document around `slo_fields` (indented four spaces).
fn native(slo_fields: &str) -> Vec<u8> {
    format!(
        "version: burnrate/v1\nservice: hostile\nslos:\n  - name: a\n    indicator:\n      bool_gauge:\n        metric: up\n{slo_fields}"
    )
    .into_bytes()
}

/// Every hostile input, by file name: deep nesting, an alias bomb on keys,
/// billion laughs, a file over the size limit, a huge window, too many
/// decimals, non-UTF-8 and NUL bytes.
pub fn catalog_files() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("deep.yaml", "- ".repeat(200_000).into_bytes()),
        (
            "laughs.yaml",
            alias_levels("a", "lol", 10, |refs| format!("[{refs}]")).into_bytes(),
        ),
        (
            "keys.yaml",
            alias_levels("l", "x", 9, |refs| format!("{{? [{refs}] : 0}}")).into_bytes(),
        ),
        ("big.yaml", vec![b'#'; 11 << 20]),
        (
            "window.yaml",
            native("    objective: 99\n    window: 100000000y\n"),
        ),
        ("decimals.yaml", native("    objective: 99.123456789012\n")),
        (
            "latin1.yaml",
            b"version: burnrate/v1\nservice: caf\xe9\n".to_vec(),
        ),
        ("nul.yaml", b"version: burnrate/v1\n\0service: x\n".to_vec()),
    ]
}

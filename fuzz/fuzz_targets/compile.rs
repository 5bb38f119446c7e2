//! Compiles arbitrary UTF-8 as a condition and, when it compiles, evaluates it on a
//! small fixed document. Any panic, overflow or hang is a bug: compilation must reject
//! bad input with an error and evaluation must be total.

#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn document() -> &'static serde_json::Value {
    static DOC: OnceLock<serde_json::Value> = OnceLock::new();
    DOC.get_or_init(|| {
        serde_json::json!({
            "name": "logs-prod",
            "size": 3,
            "ratio": 1.5,
            "public": false,
            "tags": {"env": "prod", "team-name": "core"},
            "rules": [{"port": 22, "cidr": "0.0.0.0/0"}, {"port": 443}],
            "ports": [22, 443],
            "nothing": null
        })
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(source) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(program) = policycortex_lang::compile(source) {
        let value = program.evaluate(document());
        assert_eq!(
            program.holds(document()),
            value == serde_json::Value::Bool(true)
        );
    }
});

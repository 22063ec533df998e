//! The profile parser: any text is either a valid profile or an error with a location, never a panic,
//! a hang or an allocation blow-up.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Err(e) = surge_profile::parse(&text, "fuzz.toml") {
        // Rendering the error must not panic either (it quotes the offending value).
        let _ = e.to_string();
    }
});

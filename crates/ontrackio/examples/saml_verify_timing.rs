//! CPU cost of one SAML sign-in's protocol half: `auth::saml::response::verify` (base64,
//! parse, the signature check with its canonicalisation and digests, the claims) on an
//! Entra-shaped response — the assertion signed with RSA-2048 / SHA-256, 10 attributes and
//! 20 groups, ≈ 6.8 KB of XML. DESIGN §8 gives a whole sign-in 300 µs of CPU.
//!
//! Prints the mean wall time and the mean process CPU time (user + system, from
//! `/proc/self/stat`, so Linux only) over 2,000 verifications after one warm-up. Run it
//! optimised and pinned to one core, and note the machine's load (`uptime`) with the result:
//!
//! ```sh
//! cargo build --release -p ontrackio --example saml_verify_timing
//! taskset -c 1 target/release/examples/saml_verify_timing
//! ```

use base64::Engine;
use entra_emulator::saml::{Attribute, Groups, ResponseBuilder, SigningCredential};
use ontrackio::auth::saml::response::{Expected, verify};

const TENANT: &str = "4f1d6c2a-7b3e-4d5f-9a8b-1c2d3e4f5a6b";
const SP: &str = "https://acme.example.com/saml/metadata";
const ACS: &str = "https://acme.example.com/saml/acs";
const RUNS: u32 = 2000;

fn main() {
    let idp = SigningCredential::generate();
    let now = time::OffsetDateTime::now_utc();
    let mut builder = ResponseBuilder::new(&idp, TENANT, SP, ACS, "ada@acme.test", now)
        .in_response_to(Some("_req"));
    for i in 0..10 {
        builder = builder.attribute(Attribute::new(
            format!("http://schemas.example.com/claim{i}"),
            [format!("value {i}")],
        ));
    }
    builder = builder.groups(Groups::Listed(
        (0..20)
            .map(|i| format!("00000000-0000-4000-8000-{i:012}"))
            .collect(),
    ));
    let xml = builder.build().expect("the emulator signs the response");
    let encoded = base64::engine::general_purpose::STANDARD.encode(&xml);
    let certificates = vec![idp.certificate_der().to_vec()];
    let issuer = format!("https://sts.windows.net/{TENANT}/");
    let expected = Expected {
        idp_entity_id: &issuer,
        certificates: &certificates,
        sp_entity_id: SP,
        acs_url: ACS,
        request_id: Some("_req"),
        unsolicited_allowed: false,
        now: now.unix_timestamp(),
    };
    // Warm-up, and proof that what is timed is an accepted sign-in.
    verify(&encoded, &expected).expect("the response verifies");

    let wall_start = std::time::Instant::now();
    let cpu_start = cpu_seconds();
    for _ in 0..RUNS {
        verify(&encoded, &expected).expect("the response verifies");
    }
    let wall = wall_start.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu_start;
    println!(
        "xml {} bytes; {RUNS} verifications: {:.1} µs wall, {:.1} µs CPU each",
        xml.len(),
        wall * 1e6 / f64::from(RUNS),
        cpu * 1e6 / f64::from(RUNS),
    );
}

/// This process's user + system CPU time so far, in seconds (clock ticks of 1/100 s).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("Linux /proc");
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th.
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok());
    match (ticks(11), ticks(12)) {
        (Some(user), Some(system)) => (user + system) / 100.0,
        _ => panic!("unexpected /proc/self/stat: {stat}"),
    }
}

//! RS256 signature checks with ring (DESIGN §8: one RS256 verification per sign-in must
//! fit a 150 µs budget).
//!
//! jsonwebtoken's pure-Rust RSA backend rebuilds the public key from (n, e) and runs a
//! generic big-number exponentiation on every token: about 2.3 million instructions, more
//! than the rest of a sign-in together. ring (already the process's TLS crypto) checks the
//! same PKCS#1 v1.5 SHA-256 signature in a few tens of thousands. Everything else about
//! validation — claims, audience, times — stays with jsonwebtoken: this provider only
//! replaces the one RS256 verification primitive and hands every other algorithm to the
//! RustCrypto provider unchanged (the product accepts RS256 only anyway).

use std::sync::Once;

use jsonwebtoken::crypto::{CryptoProvider, JwtVerifier, rust_crypto};
use jsonwebtoken::signature::{self, Verifier};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, DecodingKeyKind};

/// A public key as (n, e), checked by ring. ring also refuses moduli under 2048 bits,
/// which Microsoft never uses.
struct RingRs256 {
    n: Vec<u8>,
    e: Vec<u8>,
}

impl Verifier<Vec<u8>> for RingRs256 {
    fn verify(&self, message: &[u8], sig: &Vec<u8>) -> Result<(), signature::Error> {
        ring::signature::RsaPublicKeyComponents {
            n: &self.n,
            e: &self.e,
        }
        .verify(&ring::signature::RSA_PKCS1_2048_8192_SHA256, message, sig)
        .map_err(|_| signature::Error::new())
    }
}

impl JwtVerifier for RingRs256 {
    fn algorithm(&self) -> Algorithm {
        Algorithm::RS256
    }
}

fn verifier_factory(
    alg: &Algorithm,
    key: &DecodingKey,
) -> jsonwebtoken::errors::Result<Box<dyn JwtVerifier>> {
    match (alg, key.family(), key.kind()) {
        (Algorithm::RS256, AlgorithmFamily::Rsa, DecodingKeyKind::RsaModulusExponent { n, e }) => {
            Ok(Box::new(RingRs256 {
                n: n.clone(),
                e: e.clone(),
            }))
        }
        _ => (rust_crypto::DEFAULT_PROVIDER.verifier_factory)(alg, key),
    }
}

/// Makes jsonwebtoken verify RS256 with ring in this process. Idempotent and cheap after
/// the first call, so every verification path calls it (tests and fuzzing included).
pub fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let provider: &'static CryptoProvider = Box::leak(Box::new(CryptoProvider {
            signer_factory: rust_crypto::DEFAULT_PROVIDER.signer_factory,
            verifier_factory,
            jwk_utils: rust_crypto::DEFAULT_PROVIDER.jwk_utils.clone(),
        }));
        // Err: a provider is already installed (nobody else installs one; if someone
        // did, theirs is a complete provider and stays).
        let _ = provider.install_default();
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    // An RSA-2048 key and a PKCS#1 v1.5 SHA-256 signature of MESSAGE, made with
    // `openssl dgst -sha256 -sign`: an independent implementation to agree with.
    const N: &str = "wBlh433gHL9WmkwPGwmVCha7tJhsgzhuc0e11GSgeGx6Iu2nfIXEe6lktlysha12ybJGhBJUho5h4hCTtYQD9v30auu02KB4d8qJRxZeRlYHKi5MJZlLfNQhRCGcPPC4Axhj-xTHA6GW_ObUYFkp514SfFp6kYOrLDcF87xMC3zPGEVlcM70bHfjj_LONjdVYceUEv_XDnMI6nssQpjrbaGoDhy_KZ8NCwskOHIVPOh3tqmZibZmgtd-h7K3hGeXc1mNbQ-yetBqq2drR9ZcHu5dUVavvQaiQJ4P6aMkojtA5ZlI8SSNe0M-FtdNkXRXzgqoyo0K0WdrXXCSMArU6Q";
    const SIG: &str = "FFCFL3-0Xg0T0bMFFKQOJHPhu90Zc5lt-EsHsW8PwKrlCXNjuDuRPcbkRWLpv1HibdzudUYapyJL4LqCPJno3CRYZDe7kGPPSd38daHaSy9hf_ICw7d0Rny5W0Th7fJDvsLEIfV3DAnfXCZZ6i3IP53AUgTy3hZ2mxjYyFymNHWavdhH9OjeDq6wGA44cF2Z2TyRN01vfLiXxcbjhc41g5zHa49IF5Y2Y-cFQFJpoPRn4p_7xI7_yTF5abwn5DuZn6Pv1aA2hlHE8Zq372Jt9mBWtlOnCbnV3O430zYpme9T9Yo7iAxzWRXNMX2J0S0wS0szCONe6ANSa76qg8tDow";
    const MESSAGE: &[u8] = b"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0";

    fn verify(sig: &str, message: &[u8], alg: Algorithm) -> bool {
        install();
        let key = DecodingKey::from_rsa_components(N, "AQAB").unwrap();
        jsonwebtoken::crypto::verify(sig, message, &key, alg).unwrap()
    }

    #[test]
    fn ring_accepts_a_genuine_signature_and_refuses_any_alteration() {
        assert!(verify(SIG, MESSAGE, Algorithm::RS256));
        let mut altered = MESSAGE.to_vec();
        altered[5] ^= 1;
        assert!(!verify(SIG, &altered, Algorithm::RS256));
        let mut sig = SIG.as_bytes().to_vec();
        sig[10] = if sig[10] == b'A' { b'B' } else { b'A' };
        assert!(!verify(
            std::str::from_utf8(&sig).unwrap(),
            MESSAGE,
            Algorithm::RS256
        ));
    }

    #[test]
    fn other_algorithms_still_go_to_rustcrypto_and_do_not_accept_an_rs256_signature() {
        assert!(!verify(SIG, MESSAGE, Algorithm::RS512));
        assert!(!verify(SIG, MESSAGE, Algorithm::PS256));
    }
}

//! The SAML verifier's crypto provider: xml-sec's RustCrypto provider, with RSA PKCS#1 v1.5
//! SHA-256/384/512 signature checks done by ring (DESIGN §8: a whole sign-in has 300 µs of
//! CPU).
//!
//! Why: RustCrypto's pure-Rust RSA (`crypto-bigint` Montgomery arithmetic) was ≈ 40 % of a
//! SAML response's verification — well over the budget by itself — and ring, already the
//! process's TLS and ID-token (`auth::oidc::rs256`) RSA verifier, does the same check in a
//! fraction of the cost: `examples/saml_verify_timing.rs` went from ≈ 335 to ≈ 185 µs of
//! CPU per Entra-shaped response.
//!
//! What is delegated: everything. Parsing, canonicalisation, reference digests, policy (key
//! size, exponent, signature framing, algorithm permissions), key candidates and the
//! evidence about which key verified stay xml-sec's and RustCrypto's, unchanged; every
//! [`CryptoProvider`] method forwards to [`RustCryptoProvider`]. The one exception is the
//! last step of `verify`, `verify_with_context` and `verify_with_key_receipt` (the three
//! doors the verification pipeline may use) for `rsa-sha256`/`-sha384`/`-sha512`: the key
//! handle is wrapped so that, when RustCrypto asks the leaf key to check the signature,
//! ring checks it against the key's SPKI instead. Every other algorithm (ECDSA included)
//! reaches RustCrypto with the caller's own key handle. There is no fallback: a key ring
//! cannot check (not an `rsaEncryption` SPKI, a modulus outside 2048–8192 bits) is an
//! error, never a second attempt with RustCrypto.

use std::borrow::Cow;

use ring::signature::{
    RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_2048_8192_SHA384, RSA_PKCS1_2048_8192_SHA512,
    RsaParameters, UnparsedPublicKey,
};
use x509_parser::asn1_rs::Tag;
use x509_parser::oid_registry::OID_PKCS1_RSAENCRYPTION;
use x509_parser::prelude::FromDer;
use x509_parser::public_key::PublicKey;
use x509_parser::x509::SubjectPublicKeyInfo;
use xml_sec::policy::EcdsaSignatureValueEncoding;
use xml_sec::provider::{
    CryptoProvider, DigestState, EncapsulatedKey, ExternalProviderError, KdfParameters,
    KeyAgreementKey, KeyAgreementParameters, KeyAssociation, KeyDecapsulationKey,
    KeyEncapsulationAlgorithm, KeyEncapsulationKey, KeyVerificationEvent, ProviderBinding,
    ProviderCapability, ProviderError, RustCryptoProvider, SignatureVerificationInput,
};
use xml_sec::xmldsig::{
    DigestAlgorithm, DsigError, SignatureAlgorithm, SignatureContext, SignatureVerificationError,
    SigningKey, SigningKeyError, VerificationScope, VerifyingKey,
};

/// ring's RSA range (`RSA_PKCS1_2048_8192_*`), checked before dispatch so that a key ring
/// cannot use is an error and not a "bad signature".
const RING_RSA_BITS: std::ops::RangeInclusive<usize> = 2048..=8192;

/// RustCrypto, with ring for RSA PKCS#1 v1.5 SHA-2 signature checks (see the module docs).
#[derive(Clone, Copy, Debug, Default)]
pub struct RingRsaProvider;

const RUST_CRYPTO: RustCryptoProvider = RustCryptoProvider;

/// The ring algorithm for the signature methods ring checks here; `None` → RustCrypto.
fn ring_parameters(algorithm: SignatureAlgorithm) -> Option<&'static RsaParameters> {
    match algorithm {
        SignatureAlgorithm::RsaSha256 => Some(&RSA_PKCS1_2048_8192_SHA256),
        SignatureAlgorithm::RsaSha384 => Some(&RSA_PKCS1_2048_8192_SHA384),
        SignatureAlgorithm::RsaSha512 => Some(&RSA_PKCS1_2048_8192_SHA512),
        _ => None,
    }
}

#[deny(clippy::missing_trait_methods)]
impl CryptoProvider for RingRsaProvider {
    fn binding(&self) -> Option<&ProviderBinding> {
        RUST_CRYPTO.binding()
    }

    fn name(&self) -> &'static str {
        "rustcrypto+ring-rsa"
    }

    fn import_signing_key(
        &self,
        algorithm: SignatureAlgorithm,
        pkcs8: &[u8],
    ) -> Result<Box<dyn SigningKey>, SigningKeyError> {
        RUST_CRYPTO.import_signing_key(algorithm, pkcs8)
    }

    fn supports(&self, capability: ProviderCapability<'_>) -> bool {
        // ring checks only methods RustCrypto also advertises, for the same keys or fewer:
        // what the policy compiler and `XmlSecurity::new` see is RustCrypto's surface.
        RUST_CRYPTO.supports(capability)
    }

    fn import_encapsulation_key(
        &self,
        algorithm: KeyEncapsulationAlgorithm,
        spki: &[u8],
    ) -> Result<std::sync::Arc<dyn KeyEncapsulationKey>, ProviderError> {
        RUST_CRYPTO.import_encapsulation_key(algorithm, spki)
    }

    fn import_decapsulation_key(
        &self,
        algorithm: KeyEncapsulationAlgorithm,
        pkcs8: &[u8],
    ) -> Result<std::sync::Arc<dyn KeyDecapsulationKey>, ProviderError> {
        RUST_CRYPTO.import_decapsulation_key(algorithm, pkcs8)
    }

    fn fill_random(&self, output: &mut [u8]) -> Result<(), ProviderError> {
        RUST_CRYPTO.fill_random(output)
    }

    fn encapsulate_key(
        &self,
        key: &dyn KeyEncapsulationKey,
    ) -> Result<EncapsulatedKey, ProviderError> {
        RUST_CRYPTO.encapsulate_key(key)
    }

    fn decapsulate_key(
        &self,
        key: &dyn KeyDecapsulationKey,
        ciphertext: &[u8],
    ) -> Result<zeroize::Zeroizing<[u8; 32]>, ProviderError> {
        RUST_CRYPTO.decapsulate_key(key, ciphertext)
    }

    fn begin_digest(
        &self,
        algorithm: DigestAlgorithm,
    ) -> Result<Box<dyn DigestState + '_>, ProviderError> {
        RUST_CRYPTO.begin_digest(algorithm)
    }

    fn digest(&self, algorithm: DigestAlgorithm, data: &[u8]) -> Result<Vec<u8>, ProviderError> {
        RUST_CRYPTO.digest(algorithm, data)
    }

    fn sign(
        &self,
        key: &dyn SigningKey,
        algorithm: SignatureAlgorithm,
        data: &[u8],
    ) -> Result<Vec<u8>, SigningKeyError> {
        RUST_CRYPTO.sign(key, algorithm, data)
    }

    fn verify(
        &self,
        key: &dyn VerifyingKey,
        algorithm: SignatureAlgorithm,
        data: &[u8],
        signature: &[u8],
    ) -> Result<bool, DsigError> {
        match ring_parameters(algorithm) {
            Some(_) => RUST_CRYPTO.verify(&RingRsaKey(key), algorithm, data, signature),
            None => RUST_CRYPTO.verify(key, algorithm, data, signature),
        }
    }

    fn sign_with_context(
        &self,
        key: &dyn SigningKey,
        algorithm: SignatureAlgorithm,
        context: &SignatureContext,
        data: &[u8],
    ) -> Result<Vec<u8>, SigningKeyError> {
        RUST_CRYPTO.sign_with_context(key, algorithm, context, data)
    }

    fn verify_with_context(
        &self,
        key: &dyn VerifyingKey,
        algorithm: SignatureAlgorithm,
        context: &SignatureContext,
        data: &[u8],
        signature: &[u8],
    ) -> Result<bool, DsigError> {
        match ring_parameters(algorithm) {
            Some(_) => RUST_CRYPTO.verify_with_context(
                &RingRsaKey(key),
                algorithm,
                context,
                data,
                signature,
            ),
            None => RUST_CRYPTO.verify_with_context(key, algorithm, context, data, signature),
        }
    }

    fn verify_with_key_receipt(
        &self,
        key: &dyn VerifyingKey,
        input: SignatureVerificationInput<'_>,
        observer: &mut dyn FnMut(KeyVerificationEvent<'_>) -> Result<(), DsigError>,
    ) -> Result<bool, DsigError> {
        // The receipt names the wrapper, which answers `association_spki` and
        // `provider_binding` as the key it wraps: the evidence is about the caller's key.
        match ring_parameters(input.algorithm) {
            Some(_) => RUST_CRYPTO.verify_with_key_receipt(&RingRsaKey(key), input, observer),
            None => RUST_CRYPTO.verify_with_key_receipt(key, input, observer),
        }
    }

    fn associate_verification_key(
        &self,
        actual: &[u8],
        expected: structured_pkix::path::WorkingKey<'_>,
        charge: &dyn Fn(u64) -> Result<(), structured_asn1::memory::MemoryError>,
    ) -> Result<KeyAssociation, DsigError> {
        RUST_CRYPTO.associate_verification_key(actual, expected, charge)
    }

    fn verify_x509_signature(
        &self,
        algorithm: xml_sec::provider::X509SignatureAlgorithm,
        signed_data: &[u8],
        signature: &[u8],
        issuer_spki_der: &[u8],
    ) -> Result<bool, ProviderError> {
        RUST_CRYPTO.verify_x509_signature(algorithm, signed_data, signature, issuer_spki_der)
    }

    fn agree_key(
        &self,
        key: &dyn KeyAgreementKey,
        parameters: &KeyAgreementParameters<'_>,
    ) -> Result<Vec<u8>, ProviderError> {
        RUST_CRYPTO.agree_key(key, parameters)
    }

    fn derive_key(
        &self,
        parameters: &KdfParameters<'_>,
        secret: &[u8],
    ) -> Result<Vec<u8>, ProviderError> {
        RUST_CRYPTO.derive_key(parameters, secret)
    }

    fn require_capability(&self, capability: ProviderCapability<'_>) -> Result<(), ProviderError> {
        RUST_CRYPTO.require_capability(capability)
    }
}

/// A verification key handed to RustCrypto for an RSA PKCS#1 v1.5 SHA-2 method: it answers
/// every question as the key it wraps, except that checking the signature itself is
/// ring's. Candidates of a composite key are wrapped too, so each leaf is checked by ring.
struct RingRsaKey<'a>(&'a dyn VerifyingKey);

#[deny(clippy::missing_trait_methods)]
impl VerifyingKey for RingRsaKey<'_> {
    fn association_spki(&self, algorithm: SignatureAlgorithm) -> Option<&[u8]> {
        self.0.association_spki(algorithm)
    }

    fn provider_binding(&self) -> Option<&ProviderBinding> {
        self.0.provider_binding()
    }

    fn verify_candidate_keys(
        &self,
        verify: &mut dyn FnMut(&dyn VerifyingKey) -> Result<bool, DsigError>,
    ) -> Result<Option<bool>, DsigError> {
        self.0
            .verify_candidate_keys(&mut |candidate| verify(&RingRsaKey(candidate)))
    }

    fn verification_spki(&self, algorithm: SignatureAlgorithm) -> Result<Option<&[u8]>, DsigError> {
        self.0.verification_spki(algorithm)
    }

    fn ecdsa_encoding(&self) -> EcdsaSignatureValueEncoding {
        self.0.ecdsa_encoding()
    }

    fn verify_with_context(
        &self,
        algorithm: SignatureAlgorithm,
        context: &SignatureContext,
        data: &[u8],
        signature: &[u8],
    ) -> Result<bool, DsigError> {
        match ring_parameters(algorithm) {
            Some(parameters) => ring_check(self.0, algorithm, parameters, context, data, signature),
            None => self
                .0
                .verify_with_context(algorithm, context, data, signature),
        }
    }

    fn validate_policy(&self, scope: &VerificationScope<'_>) -> Result<(), DsigError> {
        self.0.validate_policy(scope)
    }

    fn validate_signature_value(
        &self,
        algorithm: SignatureAlgorithm,
        signature_value: &[u8],
    ) -> Result<bool, DsigError> {
        self.0.validate_signature_value(algorithm, signature_value)
    }

    fn validate_signature_value_with_policy(
        &self,
        scope: &VerificationScope<'_>,
        algorithm: SignatureAlgorithm,
        signature_value: &[u8],
    ) -> Result<bool, DsigError> {
        self.0
            .validate_signature_value_with_policy(scope, algorithm, signature_value)
    }

    fn verify(
        &self,
        algorithm: SignatureAlgorithm,
        signed_data: &[u8],
        signature_value: &[u8],
    ) -> Result<bool, DsigError> {
        self.verify_with_context(
            algorithm,
            &SignatureContext::default(),
            signed_data,
            signature_value,
        )
    }

    fn verify_with_policy(
        &self,
        scope: &VerificationScope<'_>,
        algorithm: SignatureAlgorithm,
        context: &SignatureContext,
        signed_data: &[u8],
        signature_value: &[u8],
    ) -> Result<bool, DsigError> {
        match ring_parameters(algorithm) {
            Some(parameters) => ring_check(
                self.0,
                algorithm,
                parameters,
                context,
                signed_data,
                signature_value,
            ),
            None => {
                self.0
                    .verify_with_policy(scope, algorithm, context, signed_data, signature_value)
            }
        }
    }
}

#[cfg(test)]
thread_local! {
    /// Signatures ring checked on this thread: lets tests prove a path reached ring.
    static RING_CHECKS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// One leaf key's signature check by ring: the key's own execution domain (none: a software
/// key), an empty context (RSA has none) and the key's SPKI for this method, as xml-sec's
/// native providers require. The signature's framing is not re-read here, as RustCrypto's
/// leaf does not either: the pipeline checked it under the policy before dispatch (re-doing
/// it builds a RustCrypto key, ≈ 5 % of a verification), and ring itself refuses any
/// signature that is not exactly the modulus' length or not below the modulus.
fn ring_check(
    key: &dyn VerifyingKey,
    algorithm: SignatureAlgorithm,
    parameters: &'static RsaParameters,
    context: &SignatureContext,
    data: &[u8],
    signature: &[u8],
) -> Result<bool, DsigError> {
    if key.provider_binding().is_some() {
        return Err(ProviderError::External(ExternalProviderError::Binding).into());
    }
    if !context.as_bytes().is_empty() {
        return Err(unsupported(algorithm).into());
    }
    let spki = key
        .verification_spki(algorithm)?
        .ok_or_else(|| DsigError::Crypto(unsupported(algorithm)))?;
    let public_key = pkcs1_public_key(spki, algorithm).map_err(DsigError::Crypto)?;
    #[cfg(test)]
    RING_CHECKS.with(|n| n.set(n.get() + 1));
    Ok(UnparsedPublicKey::new(parameters, public_key)
        .verify(data, signature)
        .is_ok())
}

fn unsupported(algorithm: SignatureAlgorithm) -> SignatureVerificationError {
    SignatureVerificationError::UnsupportedAlgorithm {
        uri: algorithm.uri().to_owned(),
    }
}

/// The PKCS#1 `RSAPublicKey` (what ring's `UnparsedPublicKey` takes) inside an
/// `rsaEncryption` SPKI's BIT STRING, if ring can check signatures with it.
fn pkcs1_public_key(
    spki: &[u8],
    algorithm: SignatureAlgorithm,
) -> Result<&[u8], SignatureVerificationError> {
    let (rest, info) = SubjectPublicKeyInfo::from_der(spki)
        .map_err(|_| SignatureVerificationError::InvalidKeyDer)?;
    if !rest.is_empty() {
        return Err(SignatureVerificationError::InvalidKeyDer);
    }
    if info.algorithm.algorithm != OID_PKCS1_RSAENCRYPTION {
        return Err(SignatureVerificationError::KeyAlgorithmMismatch {
            uri: algorithm.uri().to_owned(),
        });
    }
    // RFC 3279 §2.3.1: the parameters are NULL (absent is tolerated, as by other readers).
    if info
        .algorithm
        .parameters
        .as_ref()
        .is_some_and(|p| p.tag() != Tag::Null || !p.data.is_empty())
    {
        return Err(SignatureVerificationError::InvalidKeyDer);
    }
    if info.subject_public_key.unused_bits != 0 {
        return Err(SignatureVerificationError::InvalidKeyDer);
    }
    let Ok(PublicKey::RSA(rsa)) = info.parsed() else {
        return Err(SignatureVerificationError::InvalidKeyDer);
    };
    // The policy already refused keys under its minimum (2048 bits in SecureSaml) before
    // dispatch; outside ring's range is "this engine cannot", never a mismatch.
    if !RING_RSA_BITS.contains(&modulus_bits(rsa.modulus)) {
        return Err(unsupported(algorithm));
    }
    match info.subject_public_key.data {
        Cow::Borrowed(pkcs1) => Ok(pkcs1),
        // Only a constructed (BER) BIT STRING is copied: not DER.
        Cow::Owned(_) => Err(SignatureVerificationError::InvalidKeyDer),
    }
}

/// Exact bit length of a big-endian unsigned integer (leading zero bytes allowed).
fn modulus_bits(modulus: &[u8]) -> usize {
    match modulus.iter().position(|b| *b != 0) {
        Some(first) => (modulus.len() - first) * 8 - modulus[first].leading_zeros() as usize,
        None => 0,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::LazyLock;

    use rsa::pkcs8::EncodePublicKey;
    use rsa::signature::{SignatureEncoding, Signer};
    use xml_sec::xmldsig::VerificationKey;

    use super::*;

    /// RSA keys made at test time by the `rsa` crate (neither ring nor xml-sec's RustCrypto
    /// stack), which also makes every signature: an independent signer for both verifiers.
    struct Rsa {
        private: rsa::RsaPrivateKey,
        spki: Vec<u8>,
    }

    fn rsa_key(bits: usize) -> Rsa {
        let private = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, bits).unwrap();
        let spki = private
            .to_public_key()
            .to_public_key_der()
            .unwrap()
            .as_bytes()
            .to_vec();
        Rsa { private, spki }
    }

    static KEY: LazyLock<Rsa> = LazyLock::new(|| rsa_key(2048));
    static OTHER_KEY: LazyLock<Rsa> = LazyLock::new(|| rsa_key(2048));
    static KEY_3072: LazyLock<Rsa> = LazyLock::new(|| rsa_key(3072));
    static WEAK_KEY: LazyLock<Rsa> = LazyLock::new(|| rsa_key(1024));

    const DATA: &[u8] =
        b"<ds:SignedInfo xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\">...</ds:SignedInfo>";

    fn sign(key: &Rsa, algorithm: SignatureAlgorithm, data: &[u8]) -> Vec<u8> {
        use rsa::pkcs1v15::SigningKey as K;
        let private = key.private.clone();
        match algorithm {
            SignatureAlgorithm::RsaSha256 => K::<sha2::Sha256>::new(private).sign(data).to_vec(),
            SignatureAlgorithm::RsaSha384 => K::<sha2::Sha384>::new(private).sign(data).to_vec(),
            SignatureAlgorithm::RsaSha512 => K::<sha2::Sha512>::new(private).sign(data).to_vec(),
            other => panic!("no test signer for {other:?}"),
        }
    }

    fn handle(algorithm: SignatureAlgorithm, spki: &[u8]) -> VerificationKey {
        VerificationKey {
            algorithm,
            public_key_bytes: spki.to_vec(),
            certificate_der: None,
            name: None,
        }
    }

    fn ring_checks() -> usize {
        RING_CHECKS.with(|n| n.get())
    }

    /// What one verification came to: only `Ok(true)` signs anybody in.
    #[derive(Debug, PartialEq, Eq, Clone, Copy)]
    enum Outcome {
        Accepted,
        /// `Ok(false)` or an error.
        Refused,
    }

    fn outcome(result: &Result<bool, DsigError>) -> Outcome {
        match result {
            Ok(true) => Outcome::Accepted,
            _ => Outcome::Refused,
        }
    }

    /// The same check through each of the three provider doors the pipeline uses, which
    /// must agree; returns their outcome and how many signatures ring checked per door.
    fn through_every_door(
        key: &dyn VerifyingKey,
        algorithm: SignatureAlgorithm,
        data: &[u8],
        signature: &[u8],
    ) -> (Outcome, usize) {
        let provider = RingRsaProvider;
        let before = ring_checks();
        let plain = provider.verify(key, algorithm, data, signature);
        let ring_used = ring_checks() - before;
        let context = SignatureContext::default();
        let with_context = provider.verify_with_context(key, algorithm, &context, data, signature);
        let mut verified = 0;
        let receipt = provider.verify_with_key_receipt(
            key,
            SignatureVerificationInput::new(algorithm, &context, data, signature),
            &mut |event| {
                if let KeyVerificationEvent::Verified(leaf) = event {
                    verified += 1;
                    // The receipt names the caller's key, not something else.
                    assert!(leaf.association_spki(algorithm).is_some());
                }
                Ok(())
            },
        );
        assert_eq!(
            ring_checks() - before,
            3 * ring_used,
            "every door reaches ring alike"
        );
        let result = outcome(&plain);
        assert_eq!(
            outcome(&with_context),
            result,
            "{plain:?} vs {with_context:?}"
        );
        assert_eq!(outcome(&receipt), result, "{plain:?} vs {receipt:?}");
        assert_eq!(verified, usize::from(result == Outcome::Accepted));
        (result, ring_used)
    }

    /// The outcome through ring (all doors), asserting RustCrypto reaches the same one.
    fn equivalent(
        algorithm: SignatureAlgorithm,
        spki: &[u8],
        data: &[u8],
        signature: &[u8],
    ) -> Outcome {
        let key = handle(algorithm, spki);
        let (ours, ring_used) = through_every_door(&key, algorithm, data, signature);
        let theirs = RustCryptoProvider.verify(&key, algorithm, data, signature);
        assert_eq!(
            ours,
            outcome(&theirs),
            "ring and RustCrypto disagree: {theirs:?}"
        );
        if ring_parameters(algorithm).is_none() {
            assert_eq!(ring_used, 0, "{algorithm:?} must stay RustCrypto's");
        }
        ours
    }

    const RSA_SHA2: [SignatureAlgorithm; 3] = [
        SignatureAlgorithm::RsaSha256,
        SignatureAlgorithm::RsaSha384,
        SignatureAlgorithm::RsaSha512,
    ];

    #[test]
    fn a_valid_signature_is_accepted_by_ring_as_by_rustcrypto() {
        for key in [&*KEY, &*KEY_3072] {
            for algorithm in RSA_SHA2 {
                let signature = sign(key, algorithm, DATA);
                let before = ring_checks();
                assert_eq!(
                    equivalent(algorithm, &key.spki, DATA, &signature),
                    Outcome::Accepted
                );
                assert_eq!(
                    ring_checks() - before,
                    3,
                    "{algorithm:?} is checked by ring"
                );
            }
        }
    }

    #[test]
    fn one_flipped_bit_in_the_signature_is_refused() {
        for algorithm in RSA_SHA2 {
            let signature = sign(&KEY, algorithm, DATA);
            for byte in [0, 1, signature.len() / 2, signature.len() - 1] {
                for bit in [0, 7] {
                    let mut flipped = signature.clone();
                    flipped[byte] ^= 1 << bit;
                    assert_eq!(
                        equivalent(algorithm, &KEY.spki, DATA, &flipped),
                        Outcome::Refused,
                        "{algorithm:?}, byte {byte}, bit {bit}"
                    );
                }
            }
        }
    }

    #[test]
    fn one_flipped_bit_in_the_signed_data_is_refused() {
        for algorithm in RSA_SHA2 {
            let signature = sign(&KEY, algorithm, DATA);
            for byte in [0, DATA.len() / 2, DATA.len() - 1] {
                let mut data = DATA.to_vec();
                data[byte] ^= 1;
                assert_eq!(
                    equivalent(algorithm, &KEY.spki, &data, &signature),
                    Outcome::Refused
                );
            }
            let mut longer = DATA.to_vec();
            longer.push(b' ');
            assert_eq!(
                equivalent(algorithm, &KEY.spki, &longer, &signature),
                Outcome::Refused
            );
        }
    }

    #[test]
    fn a_different_key_is_refused() {
        for algorithm in RSA_SHA2 {
            let signature = sign(&KEY, algorithm, DATA);
            assert_eq!(
                equivalent(algorithm, &OTHER_KEY.spki, DATA, &signature),
                Outcome::Refused
            );
        }
    }

    #[test]
    fn a_signature_with_another_digest_is_refused() {
        let signature = sign(&KEY, SignatureAlgorithm::RsaSha256, DATA);
        for algorithm in [SignatureAlgorithm::RsaSha384, SignatureAlgorithm::RsaSha512] {
            assert_eq!(
                equivalent(algorithm, &KEY.spki, DATA, &signature),
                Outcome::Refused
            );
        }
    }

    #[test]
    fn a_truncated_or_padded_signature_is_refused() {
        let algorithm = SignatureAlgorithm::RsaSha256;
        let signature = sign(&KEY, algorithm, DATA);
        for cut in [1, 2, signature.len() / 2, signature.len()] {
            let truncated = &signature[..signature.len() - cut];
            assert_eq!(
                equivalent(algorithm, &KEY.spki, DATA, truncated),
                Outcome::Refused,
                "{cut} bytes cut"
            );
        }
        let mut leading_zero = vec![0];
        leading_zero.extend_from_slice(&signature);
        let mut trailing = signature.clone();
        trailing.push(0);
        for padded in [leading_zero, trailing] {
            assert_eq!(
                equivalent(algorithm, &KEY.spki, DATA, &padded),
                Outcome::Refused
            );
        }
    }

    #[test]
    fn a_1024_bit_key_is_refused_even_with_its_own_valid_signature() {
        let signature = sign(&WEAK_KEY, SignatureAlgorithm::RsaSha256, DATA);
        for algorithm in RSA_SHA2 {
            let signature = sign(&WEAK_KEY, algorithm, DATA);
            let key = handle(algorithm, &WEAK_KEY.spki);
            let before = ring_checks();
            let (result, _) = through_every_door(&key, algorithm, DATA, &signature);
            assert_eq!(result, Outcome::Refused);
            // An error ("ring cannot check this key"), never a quiet RustCrypto retry.
            assert!(matches!(
                RingRsaProvider.verify(&key, algorithm, DATA, &signature),
                Err(DsigError::Crypto(
                    SignatureVerificationError::UnsupportedAlgorithm { .. }
                ))
            ));
            assert_eq!(ring_checks(), before, "ring is never handed the key");
        }
        // Stricter than RustCrypto on its own, which checks the bare signature; in the
        // pipeline the SecureSaml policy refuses the key before any provider sees it.
        let key = handle(SignatureAlgorithm::RsaSha256, &WEAK_KEY.spki);
        assert!(
            RustCryptoProvider
                .verify(&key, SignatureAlgorithm::RsaSha256, DATA, &signature)
                .unwrap()
        );
    }

    #[test]
    fn an_ecdsa_method_with_an_rsa_key_is_refused_by_rustcrypto_unchanged() {
        for algorithm in [
            SignatureAlgorithm::EcdsaSha256,
            SignatureAlgorithm::EcdsaSha384,
        ] {
            let rsa_signature = sign(&KEY, SignatureAlgorithm::RsaSha256, DATA);
            for signature in [rsa_signature, vec![1; 64], vec![1; 96]] {
                assert_eq!(
                    equivalent(algorithm, &KEY.spki, DATA, &signature),
                    Outcome::Refused
                );
            }
        }
    }

    #[test]
    fn ecdsa_is_verified_by_rustcrypto_unchanged() {
        use rcgen::{PublicKeyData as _, SigningKey as _};
        let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        // rcgen's ring signer writes ASN.1; XMLDSig's ECDSA is fixed-width r || s.
        let der = pair.sign(DATA).unwrap();
        let fixed = ecdsa_der_to_fixed(&der, 32);
        let spki = pair.subject_public_key_info();
        let algorithm = SignatureAlgorithm::EcdsaSha256;
        assert_eq!(
            equivalent(algorithm, &spki, DATA, &fixed),
            Outcome::Accepted
        );
        let mut flipped = fixed.clone();
        flipped[40] ^= 1;
        assert_eq!(
            equivalent(algorithm, &spki, DATA, &flipped),
            Outcome::Refused
        );
        // And an RSA method with this EC key: ring's path refuses the key, no fallback.
        let key = handle(SignatureAlgorithm::RsaSha256, &spki);
        let signature = sign(&KEY, SignatureAlgorithm::RsaSha256, DATA);
        let (result, ring_used) =
            through_every_door(&key, SignatureAlgorithm::RsaSha256, DATA, &signature);
        assert_eq!((result, ring_used), (Outcome::Refused, 0));
    }

    /// `SEQUENCE { INTEGER r, INTEGER s }` (short form, as P-256 is) → `r || s`.
    fn ecdsa_der_to_fixed(der: &[u8], width: usize) -> Vec<u8> {
        let mut out = Vec::new();
        let mut rest = &der[2..];
        for _ in 0..2 {
            assert_eq!(rest[0], 0x02);
            let len = usize::from(rest[1]);
            let value = &rest[2..2 + len];
            let value = &value[value.len().saturating_sub(width)..];
            out.extend(std::iter::repeat_n(0, width - value.len()));
            out.extend_from_slice(value);
            rest = &rest[2 + len..];
        }
        out
    }

    #[test]
    fn a_malformed_spki_is_an_error_without_fallback() {
        let algorithm = SignatureAlgorithm::RsaSha256;
        let signature = sign(&KEY, algorithm, DATA);
        let mut trailing = KEY.spki.clone();
        trailing.push(0);
        let mut truncated = KEY.spki.clone();
        truncated.pop();
        for spki in [trailing, truncated, Vec::new(), vec![0x30, 0x00]] {
            let key = handle(algorithm, &spki);
            let (result, ring_used) = through_every_door(&key, algorithm, DATA, &signature);
            assert_eq!((result, ring_used), (Outcome::Refused, 0));
        }
    }

    #[test]
    fn a_signature_context_is_refused_for_rsa() {
        let algorithm = SignatureAlgorithm::RsaSha256;
        let signature = sign(&KEY, algorithm, DATA);
        let key = handle(algorithm, &KEY.spki);
        let context = SignatureContext::new(b"ctx").unwrap();
        assert!(
            RingRsaProvider
                .verify_with_context(&key, algorithm, &context, DATA, &signature)
                .is_err()
        );
    }

    /// A resolver offering several keys (a certificate rollover): each leaf goes to ring,
    /// and the receipt names the one that verified.
    struct Candidates(Vec<VerificationKey>);

    impl VerifyingKey for Candidates {
        fn verify_candidate_keys(
            &self,
            verify: &mut dyn FnMut(&dyn VerifyingKey) -> Result<bool, DsigError>,
        ) -> Result<Option<bool>, DsigError> {
            for key in &self.0 {
                if verify(key)? {
                    return Ok(Some(true));
                }
            }
            Ok(Some(false))
        }
        fn verify(&self, _: SignatureAlgorithm, _: &[u8], _: &[u8]) -> Result<bool, DsigError> {
            Err(DsigError::InvalidRequest {
                reason: "a composite is never a leaf",
            })
        }
    }

    #[test]
    fn each_candidate_of_a_composite_key_is_checked_by_ring() {
        let algorithm = SignatureAlgorithm::RsaSha256;
        let signature = sign(&KEY, algorithm, DATA);
        let both = Candidates(vec![
            handle(algorithm, &OTHER_KEY.spki),
            handle(algorithm, &KEY.spki),
        ]);
        let (result, ring_used) = through_every_door(&both, algorithm, DATA, &signature);
        assert_eq!((result, ring_used), (Outcome::Accepted, 2));
        let mut winner = None;
        let context = SignatureContext::default();
        RingRsaProvider
            .verify_with_key_receipt(
                &both,
                SignatureVerificationInput::new(algorithm, &context, DATA, &signature),
                &mut |event| {
                    if let KeyVerificationEvent::Verified(leaf) = event {
                        winner = leaf.association_spki(algorithm).map(<[u8]>::to_vec);
                    }
                    Ok(())
                },
            )
            .unwrap();
        assert_eq!(winner.as_deref(), Some(KEY.spki.as_slice()));

        let neither = Candidates(vec![handle(algorithm, &OTHER_KEY.spki)]);
        let (result, ring_used) = through_every_door(&neither, algorithm, DATA, &signature);
        assert_eq!((result, ring_used), (Outcome::Refused, 1));
    }

    #[test]
    fn capabilities_are_rustcryptos() {
        for algorithm in RSA_SHA2.into_iter().chain([
            SignatureAlgorithm::EcdsaSha256,
            SignatureAlgorithm::RsaSha1,
            SignatureAlgorithm::RsaPssSha256,
            SignatureAlgorithm::HmacSha256,
        ]) {
            for capability in [
                ProviderCapability::Verify(algorithm),
                ProviderCapability::Sign(algorithm),
            ] {
                assert_eq!(
                    RingRsaProvider.supports(capability),
                    RustCryptoProvider.supports(capability)
                );
            }
        }
        assert!(RingRsaProvider.binding().is_none());
        let digest = RingRsaProvider
            .digest(DigestAlgorithm::Sha256, DATA)
            .unwrap();
        assert_eq!(
            digest,
            RustCryptoProvider
                .digest(DigestAlgorithm::Sha256, DATA)
                .unwrap()
        );
    }

    mod pipeline {
        use base64::Engine;
        use entra_emulator::saml::{ResponseBuilder, SigningCredential, SigningOption};

        use super::super::RING_CHECKS;
        use crate::auth::saml::response::{Expected, Rejection, verify};

        const TENANT: &str = "8c2b1e3f-2d41-4c0e-9a5b-0f3c1d2e4a6b";
        const SP: &str = "https://acme.example.com/saml/metadata";
        const ACS: &str = "https://acme.example.com/saml/acs";

        fn run(idp: &SigningCredential, xml: &str) -> (Result<String, Rejection>, usize) {
            let now = time::OffsetDateTime::now_utc();
            let certs = vec![idp.certificate_der().to_vec()];
            let expected = Expected {
                idp_entity_id: "https://sts.windows.net/8c2b1e3f-2d41-4c0e-9a5b-0f3c1d2e4a6b/",
                certificates: &certs,
                sp_entity_id: SP,
                acs_url: ACS,
                request_id: Some("_req"),
                unsolicited_allowed: false,
                now: now.unix_timestamp(),
            };
            let before = RING_CHECKS.with(|n| n.get());
            let encoded = base64::engine::general_purpose::STANDARD.encode(xml);
            let result = verify(&encoded, &expected).map(|a| a.name_id);
            (result, RING_CHECKS.with(|n| n.get()) - before)
        }

        fn build(idp: &SigningCredential, signing: SigningOption) -> String {
            let now = time::OffsetDateTime::now_utc();
            ResponseBuilder::new(idp, TENANT, SP, ACS, "ada@acme.com", now)
                .in_response_to(Some("_req"))
                .signing(signing)
                .build()
                .unwrap()
        }

        #[test]
        fn response_verify_checks_every_rsa_signature_with_ring() {
            let idp = SigningCredential::generate();
            let (result, checks) = run(&idp, &build(&idp, SigningOption::Assertion));
            assert_eq!(result.as_deref(), Ok("ada@acme.com"));
            assert_eq!(checks, 1);
            let (result, checks) = run(&idp, &build(&idp, SigningOption::Both));
            assert_eq!(result.as_deref(), Ok("ada@acme.com"));
            assert_eq!(checks, 2, "the Response's and the Assertion's signatures");
        }

        #[test]
        fn a_changed_signature_value_is_refused_by_ring_in_the_pipeline() {
            let idp = SigningCredential::generate();
            let xml = build(&idp, SigningOption::Assertion);
            let start = xml.find("<ds:SignatureValue>").unwrap() + "<ds:SignatureValue>".len();
            let end = start + xml[start..].find("</ds:SignatureValue>").unwrap();
            let mut signature = base64::engine::general_purpose::STANDARD
                .decode(xml[start..end].split_whitespace().collect::<String>())
                .unwrap();
            signature[100] ^= 0x10;
            let tampered = format!(
                "{}{}{}",
                &xml[..start],
                base64::engine::general_purpose::STANDARD.encode(&signature),
                &xml[end..]
            );
            let (result, checks) = run(&idp, &tampered);
            assert_eq!(result, Err(Rejection::SignatureInvalid));
            assert_eq!(checks, 1, "the digests matched: ring refused the signature");
        }
    }
}

/**
 * Sotto's end-to-end protocol in TypeScript, on WebCrypto only (`docs/protocol.md` is normative;
 * the Rust core `crates/sotto-proto` implements the same document, and both pass every vector in
 * `test-vectors/`). No UI, no I/O: bytes, keys, time and randomness in; bytes and verified values
 * out. Every refusal is a {@link ProtocolError} with a stable `code`.
 *
 * # Layout
 * - `errors`, `bytes`, `codec`, `domains`, `limits`, `signed`: the one canonical, bounded,
 *   domain-separated encoding and its error codes.
 * - `der`, `primitives`, `env`: WebCrypto primitives, RSA key checks, time and randomness.
 * - `ids`: branded identifiers and their text forms.
 * - `identity`, `auth`, `safety`: certificates and the verifier, login challenges, safety numbers.
 * - `group`: the signed, hash-chained group state log.
 * - `ratchet`, `distribution`, `sender`, `receiver`: sender chains, key distributions, key
 *   requests, and the receiver's ordered checks.
 * - `mlkem`, `prekey`, `prekey-ring`, `hybrid`: version 2 (§18): ML-KEM-768 (WebCrypto, else the
 *   one library D51 chose), prekeys and their signed forms, a device's prekey ring, and the
 *   hybrid RSA-OAEP + ECDH + ML-KEM combiner of version-2 distributions.
 * - `envelope`, `body`, `amend`: the signed, encrypted, padded message; the body kinds; the
 *   receiver's rules for edits, deletes and reactions.
 * - `attachment`: client-side encryption of attachment blobs.
 * - `recovery`, `bundle`, `backup`, `handover`, `archive`: the recovery key and its derived keys,
 *   key bundles, backup items, device hand-overs, and history keys for archived envelopes.
 */

export * from "./errors";
export * from "./bytes";
export * from "./codec";
export * from "./domains";
export * from "./limits";
export * from "./ids";
export * from "./primitives";
export * from "./env";
export * from "./signed";
export * from "./identity";
export * from "./auth";
export * from "./safety";
export * from "./group";
export * from "./ratchet";
export * from "./mlkem";
export * from "./prekey";
export * from "./prekey-ring";
export * from "./distribution";
export * from "./hybrid";
export * from "./envelope";
export * from "./body";
export * from "./amend";
export * from "./receiver";
export * from "./sender";
export * from "./attachment";
export * from "./recovery";
export * from "./bundle";
export * from "./backup";
export * from "./handover";
export * from "./archive";

/**
 * Every numeric bound of the protocol in one place (`docs/protocol.md` §11). A second
 * implementation must use the same values to accept and refuse the same inputs. Durations are in
 * milliseconds, as `bigint` like every timestamp.
 */

/** One second, hour and day in milliseconds. */
export const SECOND = 1_000n;
export const HOUR = 3_600n * SECOND;
export const DAY = 24n * HOUR;

/** How far ahead of the local clock a timestamp may be. */
export const MAX_CLOCK_SKEW_MS = 3n * HOUR;
/** Messages per chain (indexes 0..99); also the hard index bound. */
export const MAX_CHAIN_MESSAGES = 100;
/**
 * The longest a chain may be sent on (§7.2): what a receiver allows for another sender's chain
 * (a version-1 sender's lasts up to 7 days).
 */
export const MAX_CHAIN_AGE_MS = 7n * DAY;
/** This device, running version 2, starts a new sending chain 24 hours after one started (§18.8). */
export const MAX_SENDING_CHAIN_AGE_MS = DAY;
/** Skipped message keys kept across all chains. */
export const MAX_SKIPPED_KEYS = 2_000;
/** How long a skipped message key is kept. */
export const MAX_SKIPPED_KEY_AGE_MS = 30n * DAY;
/** A receiver forgets a chain this long after its distribution's `created_at`. */
export const CHAIN_RETENTION_MS = 180n * DAY;
/** Distributions older than this are refused. */
export const MAX_DISTRIBUTION_AGE_MS = 120n * DAY;
/** Longest exchange-key certificate validity. */
export const MAX_EXCHANGE_KEY_VALIDITY_MS = 30n * DAY;

/** RSA modulus bounds and the only public exponent. */
export const MIN_RSA_BITS = 3072;
export const MAX_RSA_BITS = 4096;
export const RSA_PUBLIC_EXPONENT = 65_537;
/** Largest SPKI / PKCS#8 encoding. */
export const MAX_SPKI_LEN = 1_024;
export const MAX_PKCS8_LEN = 4_096;
/** Largest signature or OAEP ciphertext (a 4096-bit modulus). */
export const MAX_RSA_OUTPUT_LEN = MAX_RSA_BITS / 8;
/** RSA-PSS salt length. */
export const PSS_SALT_LEN = 32;

/** Members per conversation. */
export const MAX_MEMBERS = 1_000;
/** Bytes of a group name, a username, a device name. */
export const MAX_GROUP_NAME_LEN = 128;
export const MAX_USERNAME_LEN = 64;
export const MAX_DEVICE_NAME_LEN = 64;
/** Bytes of a login challenge's origin. */
export const MAX_ORIGIN_LEN = 256;

/** Encoded message body; padded plaintext; smallest padding bucket. */
export const MAX_BODY_LEN = 65_536;
export const MAX_PADDED_LEN = 131_072;
export const MIN_PADDED_LEN = 256;
/** Envelope wire form; envelope header; distribution header. */
export const MAX_ENVELOPE_LEN = MAX_PADDED_LEN + 4_096;
export const MAX_ENVELOPE_HEADER_LEN = 256;
export const MAX_KDM_HEADER_LEN = 512;
/** Group change body. */
export const MAX_GROUP_CHANGE_LEN = 262_144;
/** Identity structures (certificates, revocations). */
export const MAX_CERTIFICATE_LEN = 4_096;
/** A signed key request's body: fixed-size (about 200 bytes); the bound leaves room (§11.1). */
export const MAX_KEY_REQUEST_BODY_LEN = 1_024;
/** Message ids one receipt may name. */
export const MAX_RECEIPT_IDS = 256;
/** Message ids a Message body's reply list may name (§8.4). */
export const MAX_REPLY_IDS = 1;
/** Accounts a Message or Edit body may mention, none twice (§8.4). */
export const MAX_MENTIONS = 64;
/** Bytes of a reaction's display text (§8.6). */
export const MAX_REACTION_LEN = 32;
/** Attachment reference fields. */
export const MAX_BLOB_ID_LEN = 64;
export const MAX_FILE_NAME_LEN = 255;
export const MAX_MEDIA_TYPE_LEN = 127;

/** SetRetention values (§6.7): 0 keeps for good, else 60 s to ten years, in seconds. */
export const RETENTION_FOREVER = 0n;
export const MIN_RETENTION_SECS = 60n;
export const MAX_RETENTION_SECS = 315_360_000n;

/** Recovery key (§14.1): 28 random bytes and a 2-byte checksum, 48 base32 characters. */
export const RECOVERY_SECRET_LEN = 28;
export const RECOVERY_CHECK_LEN = 2;
export const RECOVERY_TEXT_LEN = 48;
/** Random ids of a recovery set-up, a backup item, a hand-over. */
export const RECOVERY_ID_LEN = 16;
/** Shortest recovery passphrase, in characters (code points). */
export const MIN_PASSPHRASE_CHARS = 12;
/** Argon2id parameters (§14.2): 256 MiB, 3 passes, one lane, 32 bytes from a 16-byte salt. */
export const ARGON2_MEMORY_KIB = 262_144;
export const ARGON2_ITERATIONS = 3;
export const ARGON2_PARALLELISM = 1;
export const ARGON2_SALT_LEN = 16;
export const RECOVERY_KEY_LEN = 32;

/** Records of a key bundle (§15.1), and of the bundle inside one backup item (§15.2). */
export const MAX_BUNDLE_RECORDS = 20_000;
export const MAX_BACKUP_ITEM_RECORDS = 1_000;
/** Wire forms of a backup item and of a hand-over; a backup item's writer certificate. */
export const MAX_BACKUP_ITEM_LEN = 262_144;
export const MAX_HANDOVER_LEN = 4_194_304;
export const MAX_WRITER_CERTIFICATE_LEN = 8_192;

/** AES-256-GCM sizes. */
export const AES_KEY_LEN = 32;
export const GCM_NONCE_LEN = 12;
export const GCM_TAG_LEN = 16;

/** The largest `u64`. */
export const U64_MAX = 0xffff_ffff_ffff_ffffn;
/** The largest `u32`, also "no message sent" as a previous chain's final index. */
export const U32_MAX = 0xffff_ffff;

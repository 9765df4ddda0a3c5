/**
 * Domain-separation labels (`docs/protocol.md` §2.2): every signed, encrypted, hashed or derived
 * value starts with, or is keyed by, `domain(label) = u8 len ‖ ascii(label) ‖ u8 version`, so
 * bytes made for one purpose are never accepted for another.
 */

import type { Bytes } from "./bytes";
import { ProtocolError } from "./errors";

/** The version every v1 structure carries after its label. */
export const PROTOCOL_VERSION = 0x01;

/** The version of the structures protocol version 2 defines (§18.1). */
export const PROTOCOL_VERSION_2 = 0x02;

/** Every v1 label, by the structure it introduces. */
export const Domain = {
  /** Device certificate body (§4.3). */
  DeviceCertificate: "sotto/device-cert",
  /** Revocation body (§4.4). */
  Revocation: "sotto/revocation",
  /** Exchange-key certificate body (§4.5). */
  ExchangeKeyCertificate: "sotto/xkey-cert",
  /** Group change body (§6.1). */
  GroupChange: "sotto/group-change",
  /** Group change hash (§6.2). */
  GroupHash: "sotto/group-hash",
  /** Group name commitment (§6.5). */
  GroupName: "sotto/group-name",
  /** Key-distribution header (§7.3). */
  KeyDistribution: "sotto/kdm",
  /** Key-distribution plaintext (§7.3). */
  KeyDistributionPayload: "sotto/kdm-payload",
  /** Key-distribution OAEP label (§7.3). */
  KeyDistributionLabel: "sotto/kdm-label",
  /** One-time prekey body (§18.4; version 2 only). */
  Prekey: "sotto/prekey",
  /** RSA-OAEP plaintext of a hybrid distribution (§18.5; version 2 only). */
  KeyDistributionRsa: "sotto/kdm-rsa",
  /** HKDF info of a hybrid distribution's combiner (§18.5; version 2 only). */
  KeyDistributionHybrid: "sotto/kdm-hybrid",
  /** Envelope header (§8.1). */
  Envelope: "sotto/msg",
  /** Message body (§8.2). */
  MessageBody: "sotto/body",
  /** Key request (§7.6). */
  KeyRequest: "sotto/key-request",
  /** Login challenge (§4.7). */
  AuthChallenge: "sotto/auth-challenge",
  /** Key-derived identifiers (§4.2). */
  Identifier: "sotto/id",
  /** Safety-number fingerprint (§5). */
  SafetyNumber: "sotto/safety-number",
  /** Safety-number QR payload (§5). */
  SafetyQr: "sotto/safety-qr",
  /** Ratchet: message key (§7.1). */
  ChainMessageKey: "sotto/chain/message-key",
  /** Ratchet: next chain key (§7.1). */
  ChainNextKey: "sotto/chain/next",
  /** Receiver's chain-key fingerprint (§9.1). */
  ChainFingerprint: "sotto/chain/fingerprint",
  /** Message AES key and nonce (§7.1). */
  MessageAead: "sotto/msg-aead",
  /** Attachment key derivation (§10). */
  Attachment: "sotto/attachment",
  /** Attachment AES-GCM associated data (§10). */
  AttachmentCommitment: "sotto/attachment-commit",
  /** Recovery key checksum (§14.1). */
  RecoveryKey: "sotto/recovery-key",
  /** Recovery root key (§14.2). */
  RecoveryRoot: "sotto/recovery/root",
  /** Backup encryption key (§14.2). */
  RecoveryBackupKey: "sotto/recovery/backup-key",
  /** Recovery access key (§14.2). */
  RecoveryAccess: "sotto/recovery/access",
  /** Access-key verifier kept by the server (§14.2). */
  RecoveryVerifier: "sotto/recovery/verifier",
  /** Key bundle plaintext (§15.1). */
  KeyBundle: "sotto/key-bundle",
  /** Backup item header (§15.2). */
  BackupItem: "sotto/backup-item",
  /** Backup item AES key and nonce (§15.2). */
  BackupItemKey: "sotto/backup-item-key",
  /** Hand-over header (§16.1). */
  Handover: "sotto/handover",
  /** Hand-over wrapped key (§16.1). */
  HandoverKey: "sotto/handover-key",
  /** Hand-over OAEP label (§16.1). */
  HandoverLabel: "sotto/handover-label",
  /** Hand-over AES key and nonce (§16.1). */
  HandoverAead: "sotto/handover-aead",
  /** Local store: sender chain (§9.5, implementation-defined). */
  LocalSenderChain: "sotto/local/sender-chain",
  /** Local store: receiver state (§9.5, implementation-defined). */
  LocalReceiverState: "sotto/local/receiver-state",
  /** Local store: verified group state (§9.5, implementation-defined). */
  LocalGroupState: "sotto/local/group-state",
} as const;

/** One label. */
export type Domain = (typeof Domain)[keyof typeof Domain];

/** A structure version: `0x01`, or `0x02` for the structures §18.1 defines. */
export type DomainVersion = typeof PROTOCOL_VERSION | typeof PROTOCOL_VERSION_2;

/**
 * The versions each label exists at (§18.1). A label not listed exists at version 1 only; a
 * decoder refuses any other version with `decode/unsupported-version`.
 */
const VERSIONS: Partial<Record<Domain, readonly DomainVersion[]>> = {
  "sotto/xkey-cert": [PROTOCOL_VERSION, PROTOCOL_VERSION_2],
  "sotto/kdm": [PROTOCOL_VERSION, PROTOCOL_VERSION_2],
  "sotto/kdm-label": [PROTOCOL_VERSION, PROTOCOL_VERSION_2],
  "sotto/kdm-payload": [PROTOCOL_VERSION, PROTOCOL_VERSION_2],
  "sotto/prekey": [PROTOCOL_VERSION_2],
  "sotto/kdm-rsa": [PROTOCOL_VERSION_2],
  "sotto/kdm-hybrid": [PROTOCOL_VERSION_2],
};

/** The versions `domain` exists at. */
export function domainVersions(domain: Domain): readonly DomainVersion[] {
  return VERSIONS[domain] ?? [PROTOCOL_VERSION];
}

/**
 * `domain(label)` at `version`: the bytes a structure of this domain starts with. The label's
 * lowest version unless given; a version the label does not have is a programming error
 * (`invalid-input`).
 */
export function encodeDomain(domain: Domain, version?: DomainVersion): Bytes {
  const versions = domainVersions(domain);
  const v = version ?? versions[0] ?? PROTOCOL_VERSION;
  if (!versions.includes(v)) {
    throw new ProtocolError("invalid-input", `${domain} has no version ${v}`);
  }
  const out = new Uint8Array(domain.length + 2);
  out[0] = domain.length;
  for (let i = 0; i < domain.length; i++) out[i + 1] = domain.charCodeAt(i);
  out[domain.length + 1] = v;
  return out;
}

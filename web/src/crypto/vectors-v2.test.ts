/**
 * The protocol-version-2 vectors (`test-vectors/v2-prekey.json`, `test-vectors/v2-distribution.json`,
 * described in the "Version 2" section of `test-vectors/README.md`), checked as the Rust runner
 * (`crates/sotto-proto/tests/vectors_v2.rs`) checks them: a positive vector gives exactly its
 * `expected` values (for a distribution, also every intermediate value of §18.5, re-derived from
 * the primitives alone), a negative one fails with exactly its `expected_error`.
 */

import { describe, expect, it } from "vitest";

import { type Bytes, fromHex, toHex } from "./bytes";
import {
  DistributionHeader,
  KeyDistribution,
  decodePayload,
  splitHybridCiphertext,
} from "./distribution";
import { Domain, PROTOCOL_VERSION_2, encodeDomain } from "./domains";
import { decodeSignedChange, GroupState } from "./group";
import { AccountIdentity, type VerifiedDevice, decodeSignedIdentity } from "./identity";
import { AccountId, ChainId, DeviceId, ExchangeKeyId, PrekeyId, exchangeKeyIdOf } from "./ids";
import { PrekeyPair } from "./prekey";
import { PrekeyRing } from "./prekey-ring";
import { AeadKey, ExchangeKeyPair, hkdfSha256, sha256 } from "./primitives";
import { ReceiverState, localDevice } from "./receiver";
import { Signed } from "./signed";
import { J, expectCode, vectorFiles } from "./test-support";

const hex = (bytes: Uint8Array): string => toHex(bytes);

/** Signed wire forms of both files are read with a 4096-byte body bound, as the Rust runner does. */
const MAX_SIGNED_BODY = 4096;

/** The verified device with this id among the file's `devices` (README, "Common format"). */
async function device(file: J, id: string): Promise<VerifiedDevice> {
  const d = file
    .get("devices")
    .arr()
    .find((x) => x.get("device_id").str() === id);
  if (d === undefined) throw new Error(`no device ${id}`);
  const identity = await AccountIdentity.fromMasterSpki(d.get("master_spki").hex());
  expect(AccountId.toText(identity.account)).toBe(d.get("account_id").str());
  const verified = await identity.verifyDevice(
    decodeSignedIdentity(d.get("device_certificate").hex()),
    [],
  );
  expect(DeviceId.toText(verified.device)).toBe(id);
  return verified;
}

/**
 * Sets a vector up (devices, keys, ring: any failure there is the runner's, never the vector's
 * outcome) and returns the operation under test, whose outputs as JSON are compared whole with
 * `expected`, or whose refusal is compared with `expected_error`.
 */
type Run = (file: J, v: J) => Promise<() => Promise<unknown>>;

// ---------------------------------------------------------------------------------------------
// v2-prekey.json
// ---------------------------------------------------------------------------------------------

const runPrekey: Run = async (file, v) => {
  const verifier = await device(file, v.get("device").str());
  const now = v.get("now").big();
  const op = v.get("op").str();
  const wire = v.get("signed").hex();
  const seen = v.opt("highest_serial_seen");
  const v2Seen = v.opt("v2_seen");
  return async () => {
    const signed = Signed.decode(wire, MAX_SIGNED_BODY);
    switch (op) {
      case "one_time_prekey": {
        const prekey = await verifier.verifyOneTimePrekey(signed, now);
        return {
          prekey_id: PrekeyId.toText(prekey.id),
          created_at: Number(prekey.createdAt),
          ec_public: hex(prekey.publicPart.ec),
          kem_public: hex(prekey.publicPart.kem),
        };
      }
      case "exchange_key_certificate": {
        if (seen === undefined || v2Seen === undefined)
          throw new Error(`${v.path}: rollback state`);
        const key = await verifier.verifyExchangeKeyAfterV2(
          signed,
          now,
          seen.isNull() ? undefined : seen.big(),
          v2Seen.bool(),
        );
        const lastResort = key.lastResort;
        return {
          version: key.isV2 ? 2 : 1,
          serial: Number(key.serial),
          exchange_key_id: ExchangeKeyId.toText(key.keyId),
          last_resort:
            lastResort === undefined
              ? null
              : {
                  prekey_id: PrekeyId.toText(lastResort.id),
                  ec_public: hex(lastResort.ec),
                  kem_public: hex(lastResort.kem),
                },
        };
      }
      default:
        throw new Error(`${v.path}: unknown op ${op}`);
    }
  };
};

// ---------------------------------------------------------------------------------------------
// v2-distribution.json
// ---------------------------------------------------------------------------------------------

/** The P-256 base point: ECDH of a scalar with it is the x-coordinate of the scalar's public key. */
const P256_G = fromHex(
  "046b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296" +
    "4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5",
);

/** A prekey pair of the file's `prekeys` list, by id, its public keys checked against the list's. */
async function prekeyPair(file: J, id: string): Promise<PrekeyPair> {
  const p = file
    .get("prekeys")
    .arr()
    .find((x) => x.get("prekey_id").str() === id);
  if (p === undefined) throw new Error(`no prekey ${id}`);
  const ecPublic = p.get("ec_public").hex();
  const pair = await PrekeyPair.dangerFromExpanded(
    PrekeyId.parse(id),
    ecPublic,
    p.get("ec_private").hex(),
    p.get("kem_private").hex(),
  );
  // The public point is the scalar's: x(d·G) is the point's x (and ECDH below checks the rest).
  expect(hex(await pair.ecdh(P256_G))).toBe(hex(ecPublic.subarray(1, 33)));
  expect(hex(pair.publicPart.ec)).toBe(p.get("ec_public").str());
  expect(hex(pair.publicPart.kem)).toBe(p.get("kem_public").str());
  return pair;
}

/** The recipient's prekey ring as a vector describes it. */
async function ring(file: J, v: J, xkey: ExchangeKeyId): Promise<PrekeyRing> {
  const r = v.get("ring");
  const out = new PrekeyRing();
  const lastResort = r.get("last_resort");
  if (!lastResort.isNull()) out.addLastResort(xkey, await prekeyPair(file, lastResort.str()));
  for (const id of r.get("one_time").arr()) out.addOneTime(await prekeyPair(file, id.str()));
  for (const c of r.get("consumed").arr()) {
    const id = c.get("prekey_id").str();
    out.addOneTime(await prekeyPair(file, id));
    const hash = c.get("wire_hash").hex();
    expect(hash.length).toBe(32);
    out.consume(PrekeyId.parse(id), hash, c.get("consumed_at").big());
  }
  return out;
}

const runDistribution: Run = async (file, v) => {
  const recipient = file.get("recipient");
  const exchange = await ExchangeKeyPair.fromPkcs8(recipient.get("exchange_pkcs8").hex());
  const xkey = await exchangeKeyIdOf(exchange.encryptingKey.spki);
  expect(ExchangeKeyId.toText(xkey)).toBe(recipient.get("exchange_key_id").str());
  const prekeys = await ring(file, v, xkey);
  const alice = await device(file, file.get("group_signer").str());
  const group = await GroupState.genesis(
    decodeSignedChange(file.get("group_genesis").hex()),
    alice,
  );
  const sender = await device(file, v.get("sender").str());
  const base = await localDevice(
    AccountId.parse(recipient.get("account_id").str()),
    DeviceId.parse(recipient.get("device_id").str()),
    [exchange],
  );
  const me = { ...base, prekeys };
  const now = v.get("now").big();
  const wire = v.get("distribution").hex();

  return async () => {
    const kdm = KeyDistribution.decode(wire);
    const accepted = await new ReceiverState().acceptDistribution(kdm, sender, me, group, now);
    const chainKey = hex(accepted.record.key.dangerBytes());
    const out: Record<string, unknown> = {
      chain: ChainId.toText(accepted.chain),
      start_index: accepted.record.startIndex,
      chain_key: chainKey,
      consumed_prekey:
        accepted.consumedPrekey === undefined
          ? null
          : {
              prekey_id: PrekeyId.toText(accepted.consumedPrekey.id),
              wire_hash: hex(accepted.consumedPrekey.wireHash),
            },
    };
    const hybrid = kdm.header.hybrid;
    if (hybrid !== undefined) {
      try {
        // §18.5 re-derived step by step from the primitives, not through hybrid.ts.
        const header = kdm.sealed.header;
        const pair =
          hybrid.prekeyKind === "one-time"
            ? await prekeyPair(file, PrekeyId.toText(hybrid.prekey))
            : await prekeyPair(file, v.get("ring").get("last_resort").str());
        const { rsa: rsaCt, sealed } = splitHybridCiphertext(kdm.sealed.ciphertext);
        const label = await sha256(
          encodeDomain(Domain.KeyDistributionLabel, PROTOCOL_VERSION_2),
          header,
        );
        expect(hex(label)).toBe(
          hex(await DistributionHeader.oaepLabel(header, PROTOCOL_VERSION_2)),
        );
        const rsaPlain = await exchange.decrypt(rsaCt, label);
        const rsaDomain = encodeDomain(Domain.KeyDistributionRsa, PROTOCOL_VERSION_2);
        expect(hex(rsaPlain.subarray(0, rsaDomain.length))).toBe(hex(rsaDomain));
        const r = rsaPlain.subarray(rsaDomain.length);
        expect(r.length).toBe(32);
        const ssE = await pair.ecdh(hybrid.ephemeral);
        const ssK = await pair.decapsulate(hybrid.kemCiphertext);
        const parts: Bytes[] = [encodeDomain(Domain.KeyDistributionHybrid, PROTOCOL_VERSION_2)];
        for (const part of [
          header,
          rsaCt,
          exchange.encryptingKey.spki,
          pair.publicPart.ec,
          pair.publicPart.kem,
        ])
          parts.push(await sha256(part));
        const info = Uint8Array.from(parts.flatMap((p) => [...p]));
        const ikm = Uint8Array.from([...ssK, ...ssE, ...r]);
        const okm = await hkdfSha256(ikm, info, 44);
        const payload = await new AeadKey(okm.subarray(0, 32), okm.subarray(32)).open(
          header,
          sealed,
        );
        expect(hex(decodePayload(payload, PROTOCOL_VERSION_2).key.dangerBytes())).toBe(chainKey);
        Object.assign(out, {
          rsa_share: hex(r),
          oaep_label: hex(label),
          ss_e: hex(ssE),
          ss_k: hex(ssK),
          hkdf_info: hex(info),
          okm: hex(okm),
          payload: hex(payload),
        });
      } catch (error) {
        // As the Rust runner's unwraps: a failure here is the implementation's, not an outcome.
        throw new Error(`${v.path}: re-deriving §18.5 failed`, { cause: error });
      }
    }
    return out;
  };
};

// ---------------------------------------------------------------------------------------------
// The files
// ---------------------------------------------------------------------------------------------

interface Handler {
  readonly run: Run;
  /** At least this many positive and negative vectors (as the Rust runner asserts). */
  readonly positive: number;
  readonly negative: number;
}

const HANDLERS: Record<string, Handler> = {
  "v2-prekey.json": { run: runPrekey, positive: 4, negative: 20 },
  "v2-distribution.json": { run: runDistribution, positive: 3, negative: 20 },
};

const files = vectorFiles().filter((file) => file.startsWith("v2-"));

describe("version-2 test vectors", () => {
  it("exist, each with a handler", () => {
    expect(files).toEqual(Object.keys(HANDLERS).sort());
  });

  for (const file of files) {
    describe(file, () => {
      const root = J.file(file);
      const handler = HANDLERS[file];
      const vectors = root.get("vectors").arr();
      it("has a handler and the common format", () => {
        expect(handler, `no handler for ${file}`).toBeDefined();
        expect(root.get("protocol_version").num()).toBe(2);
        const names = vectors.map((x) => x.get("name").str());
        expect(new Set(names).size).toBe(names.length);
        for (const x of vectors) expect(x.has("expected") !== x.has("expected_error")).toBe(true);
        const negative = vectors.filter((x) => x.expectedError() !== undefined).length;
        expect(vectors.length - negative).toBeGreaterThanOrEqual(handler?.positive ?? 0);
        expect(negative).toBeGreaterThanOrEqual(handler?.negative ?? 0);
      });
      if (handler === undefined) return;
      for (const vector of vectors) {
        const name = vector.get("name").str();
        const code = vector.expectedError();
        it(`${name}${code === undefined ? "" : ` → ${code}`}`, async () => {
          const act = await handler.run(root, vector);
          if (code === undefined) expect(await act()).toEqual(vector.get("expected").value);
          else await expectCode(act, code);
        });
      }
    });
  }
});

/**
 * Token renewal under bad networks (`docs/api.md` "refresh", D21): a refresh whose answer was
 * lost is retried with the device's signature over a refresh challenge; an unreachable server
 * keeps the session; only the server ending it signs the tab out. The fake server below keeps
 * the token family the way the real one does (current token, the spent one the unused pair was
 * issued for, reuse ends the family) and checks the proof with the device's auth key.
 */

import "fake-indexeddb/auto";

import { beforeAll, describe, expect, it } from "vitest";

import { AuthChallenge, systemRandom } from "../../crypto";
import { type TestAccount, testAccount } from "../../crypto/test-support";
import { Database } from "../../storage/db";
import { SealedStore } from "../../storage/sealed";
import { ApiError, type ApiClient } from "../api";
import { fromB64, toB64 } from "../b64";
import type { SessionTokens } from "../schemas";
import { Session, type StoredSession } from "./session";

const ORIGIN = "https://localhost:8443";

class FakeServer {
  current = "rt-0";
  previous: string | undefined;
  pairUsed = false;
  /** Rotates on the next refresh, then loses the answer. */
  loseNextAnswer = false;
  down = false;
  proofsAccepted = 0;
  private issued = 0;
  private readonly challenges = new Map<string, AuthChallenge>();

  constructor(private readonly account: TestAccount) {}

  private rotate(): SessionTokens {
    this.current = `rt-${String(++this.issued)}`;
    this.pairUsed = false;
    return {
      session: "s1",
      access_token: `at-${String(this.issued)}`,
      expires_in: 900,
      refresh_token: this.current,
    };
  }

  refresh(token: string, proof?: { nonce: string; signature: string }): Promise<SessionTokens> {
    return this.answer(async () => {
      if (token === this.current) {
        this.previous = token;
        const tokens = this.rotate();
        if (this.loseNextAnswer) {
          this.loseNextAnswer = false;
          throw new ApiError("network", 0, "Failed to fetch");
        }
        return tokens;
      }
      if (token === this.previous && !this.pairUsed) {
        if (proof === undefined)
          throw new ApiError("refresh_proof_required", 401, "retry with a device proof");
        const challenge = this.challenges.get(proof.nonce);
        if (challenge === undefined) throw new ApiError("forbidden", 403, "unknown challenge");
        this.challenges.delete(proof.nonce);
        await AuthChallenge.verify(
          challenge,
          this.account.device.keys.auth.verifyingKey,
          fromB64(proof.signature),
        );
        this.proofsAccepted++;
        return this.rotate();
      }
      // Plain reuse: the family ends.
      this.current = "";
      throw new ApiError("unauthorized", 401, "authentication required");
    });
  }

  refreshChallenge(token: string): Promise<{ challenge: string; nonce: string }> {
    return this.answer(() => {
      if (token !== this.previous || this.pairUsed)
        throw new ApiError("unauthorized", 401, "authentication required");
      const challenge: AuthChallenge = {
        origin: ORIGIN,
        username: this.account.name,
        device: this.account.device.keys.device,
        nonce: systemRandom(32),
        issuedAt: 1n,
      };
      this.challenges.set(toB64(challenge.nonce), challenge);
      return Promise.resolve({
        challenge: toB64(AuthChallenge.encode(challenge)),
        nonce: toB64(challenge.nonce),
      });
    });
  }

  private answer<T>(run: () => Promise<T>): Promise<T> {
    return this.down ? Promise.reject(new ApiError("network", 0, "Failed to fetch")) : run();
  }
}

let alice: TestAccount;
let dbs = 0;

beforeAll(async () => {
  alice = await testAccount(0, "alice");
});

async function setup(
  withKeys = true,
): Promise<{ server: FakeServer; session: Session; store: SealedStore; ended: () => number }> {
  const server = new FakeServer(alice);
  const store = await SealedStore.open(await Database.open(`session-test-${String(++dbs)}`));
  await store.put([
    ["session", { session: "s1", refreshToken: server.current } satisfies StoredSession],
  ]);
  const session = new Session(store, ORIGIN);
  session.api = server as unknown as ApiClient;
  if (withKeys) session.prover = () => ({ keys: alice.device.keys, username: alice.name });
  let ended = 0;
  session.onEnded = () => {
    ended++;
  };
  return { server, session, store, ended: () => ended };
}

const storedToken = async (store: SealedStore) =>
  (await store.get<StoredSession>("session"))?.refreshToken;

describe("session renewal", () => {
  it("retries a refresh whose answer was lost with the device's proof, in the same session", async () => {
    const { server, session, store, ended } = await setup();
    server.loseNextAnswer = true;
    expect(await session.resume()).toBe("unreachable");
    expect(await storedToken(store)).toBe("rt-0"); // the tab never saw the new pair
    expect(await session.resume()).toBe("renewed");
    expect(server.proofsAccepted).toBe(1);
    expect(await storedToken(store)).toBe(server.current);
    expect(session.bearer()).toBe("at-2");
    expect(ended()).toBe(0);
  });

  it("keeps the session while the server cannot be reached", async () => {
    const { server, session, store, ended } = await setup();
    server.down = true;
    expect(await session.resume()).toBe("unreachable");
    expect(await session.renew()).toBe(false);
    expect(await storedToken(store)).toBe("rt-0");
    server.down = false;
    expect(await session.resume()).toBe("renewed");
    expect(ended()).toBe(0);
  });

  it("signs out only when the server ended the session", async () => {
    const { server, session, store, ended } = await setup();
    server.current = "rt-other"; // the stored token was spent elsewhere, and the pair used
    server.previous = "rt-0";
    server.pairUsed = true;
    expect(await session.resume()).toBe("ended");
    expect(await store.get("session")).toBeUndefined();
    expect(ended()).toBe(1);
  });

  it("without the device keys a proof-required refusal fails and keeps the session", async () => {
    const { server, session, store, ended } = await setup(false);
    server.loseNextAnswer = true;
    expect(await session.resume()).toBe("unreachable");
    expect(await session.resume()).toBe("failed");
    expect(await storedToken(store)).toBe("rt-0");
    expect(ended()).toBe(0);
  });
});

/**
 * Tokens and device login. The access token stays in memory; the refresh token is sealed in
 * IndexedDB and rotated under a Web Lock, so two tabs never present the same one twice (which
 * would end the session: `docs/api.md` "refresh"). A refresh whose answer was lost (the server
 * rotated, this tab never saw the new pair) is retried with a signature of the device's auth key
 * over a fresh challenge, the only way the server exchanges a spent token again.
 */

import { AuthChallenge, type DeviceKeys, DeviceId } from "../../crypto";
import { type ApiClient, isApiError, type TokenSource } from "../api";
import { fromB64, toB64 } from "../b64";
import type { Challenge, SessionTokens } from "../schemas";
import type { SealedStore } from "../../storage/sealed";
import { withLock } from "../../storage/locks";
import { isTransient } from "./delivery";

export type RenewOutcome = "renewed" | "ended" | "unreachable" | "failed";

export interface StoredSession {
  readonly session: string;
  readonly refreshToken: string;
}

export class Session implements TokenSource {
  private access: string | undefined;
  private loginToken: string | undefined;
  private renewing: Promise<RenewOutcome> | undefined;
  api!: ApiClient;
  onEnded: () => void = () => undefined;
  /** This device's keys and username, once loaded: they sign a refresh retry. */
  prover: () => { keys: DeviceKeys; username: string } | undefined = () => undefined;

  constructor(
    private readonly store: SealedStore,
    private readonly origin: string,
  ) {}

  bearer(): string | undefined {
    return this.access ?? this.loginToken;
  }

  setLoginToken(token: string | undefined): void {
    this.loginToken = token;
  }

  get signedIn(): boolean {
    return this.access !== undefined;
  }

  private async adopt(tokens: SessionTokens): Promise<void> {
    this.access = tokens.access_token;
    this.loginToken = undefined;
    await this.store.put([
      [
        "session",
        { session: tokens.session, refreshToken: tokens.refresh_token } satisfies StoredSession,
      ],
    ]);
  }

  async renew(): Promise<boolean> {
    return (await this.resume()) === "renewed";
  }

  /**
   * A fresh access token from the stored refresh token. `unreachable`: the server could not be
   * asked (or failed), the session is intact, try again later; `ended`: the server ended it, or
   * there is none; `failed`: refused otherwise, the stored session is kept.
   */
  resume(): Promise<RenewOutcome> {
    this.renewing ??= this.doRenew().finally(() => {
      this.renewing = undefined;
    });
    return this.renewing;
  }

  private async doRenew(): Promise<RenewOutcome> {
    return withLock(this.store.lockName("refresh"), async () => {
      const stored = await this.store.get<StoredSession>("session");
      if (stored === undefined) return "ended";
      try {
        await this.adopt(await this.refreshOrRetry(stored.refreshToken));
        return "renewed";
      } catch (e) {
        if (isApiError(e, "unauthorized")) {
          this.access = undefined;
          await this.store.put([], ["session"]);
          this.onEnded();
          return "ended";
        }
        return isTransient(e) ? "unreachable" : "failed";
      }
    });
  }

  private async refreshOrRetry(refreshToken: string): Promise<SessionTokens> {
    try {
      return await this.api.refresh(refreshToken);
    } catch (e) {
      const prover = this.prover();
      if (!isApiError(e, "refresh_proof_required") || prover === undefined) throw e;
      const c = await this.api.refreshChallenge(refreshToken);
      const proof = await this.checkAndSign(c, prover.keys, prover.username);
      return await this.api.refresh(refreshToken, proof);
    }
  }

  /** Signs the server's challenge with the auth key after checking it names us and this origin. */
  async signChallenge(
    keys: DeviceKeys,
    username: string,
    bearer?: string,
  ): Promise<{ nonce: string; signature: string }> {
    return this.checkAndSign(
      await this.api.challenge(DeviceId.toText(keys.device), bearer),
      keys,
      username,
    );
  }

  private async checkAndSign(
    c: Challenge,
    keys: DeviceKeys,
    username: string,
  ): Promise<{ nonce: string; signature: string }> {
    const challenge = AuthChallenge.decode(fromB64(c.challenge));
    if (challenge.origin !== this.origin)
      throw new Error(`challenge names origin ${challenge.origin}, not ${this.origin}`);
    if (challenge.username !== username.toLowerCase())
      throw new Error("challenge names another account");
    if (!DeviceId.equals(challenge.device, keys.device))
      throw new Error("challenge names another device");
    if (toB64(challenge.nonce) !== c.nonce) throw new Error("challenge nonce mismatch");
    return { nonce: c.nonce, signature: toB64(await AuthChallenge.sign(challenge, keys)) };
  }

  /** Device login with a login token (after a password login). */
  async deviceLogin(keys: DeviceKeys, username: string, loginToken: string): Promise<void> {
    const { nonce, signature } = await this.signChallenge(keys, username, loginToken);
    await this.adopt(await this.api.deviceLogin(nonce, signature, loginToken));
  }

  /** A single-use WebSocket ticket, proving possession of the auth key again. */
  async ticket(keys: DeviceKeys, username: string): Promise<string> {
    if (this.access === undefined && !(await this.renew())) throw new Error("signed out");
    const { nonce, signature } = await this.signChallenge(keys, username);
    return (await this.api.wsTicket(nonce, signature)).ticket;
  }

  async logout(): Promise<void> {
    try {
      if (this.access !== undefined) await this.api.logout();
    } catch {
      // the server may already have ended it
    }
    this.access = undefined;
    await this.store.put([], ["session"]);
  }
}

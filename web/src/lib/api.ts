/**
 * The server's HTTP API (`docs/api.md`). Every response body is validated by a schema in
 * `schemas.ts`; failures are {@link ApiError}s with the server's stable `code`, never its text.
 * Callers match codes, never HTTP status numbers: {@link apiError} is the one place a status is
 * read, for answers that carry no code of the server's (a proxy's 502).
 */

import type { z } from "zod";

import * as S from "./schemas";

export type ApiErrorCode =
  | "invalid_username"
  | "invalid_password"
  | "invalid_field"
  | "malformed_body"
  | "unauthorized"
  | "bad_credentials"
  | "refresh_proof_required"
  | "forbidden"
  | "origin_not_allowed"
  | "not_found"
  | "method_not_allowed"
  | "conflict"
  | "too_large"
  | "quota_exceeded"
  | "not_json"
  | "rejected"
  | "throttled"
  | "recovery_rejected"
  | "account_disabled"
  | "capacity"
  | "unavailable"
  | "internal"
  | "registration_closed"
  | "invite_invalid"
  | "network"
  | "bad_response";

const KNOWN: readonly string[] = [
  "invalid_username",
  "invalid_password",
  "invalid_field",
  "malformed_body",
  "unauthorized",
  "bad_credentials",
  "refresh_proof_required",
  "forbidden",
  "origin_not_allowed",
  "not_found",
  "method_not_allowed",
  "conflict",
  "too_large",
  "quota_exceeded",
  "not_json",
  "rejected",
  "throttled",
  "recovery_rejected",
  "account_disabled",
  "capacity",
  "unavailable",
  "internal",
  "registration_closed",
  "invite_invalid",
];

export class ApiError extends Error {
  constructor(
    readonly code: ApiErrorCode,
    readonly status: number,
    message: string,
    /** The protocol's code of a `rejected` refusal (`group/not-admin`, …). */
    readonly detail?: string,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

export function isApiError(e: unknown, code?: ApiErrorCode): e is ApiError {
  return e instanceof ApiError && (code === undefined || e.code === code);
}

/** The code an answer without one of the server's codes gets from its status alone. */
function codeForStatus(status: number): ApiErrorCode {
  if (status === 401) return "unauthorized";
  if (status === 404) return "not_found";
  if (status === 409) return "conflict";
  if (status === 429) return "throttled";
  // Request Timeout, Too Early and any 5xx: the same request may succeed later.
  if (status === 408 || status === 425 || status >= 500) return "unavailable";
  return "bad_response";
}

/**
 * The error for a failed answer: the server's code from its JSON error body, or, for an answer
 * that is not the server's (no such body, or a code this client does not know), the code its
 * status means.
 */
export function apiError(status: number, body: unknown): ApiError {
  const parsed = S.ErrorBody.safeParse(body);
  if (!parsed.success) return new ApiError(codeForStatus(status), status, `HTTP ${status}`);
  const { error, message, code } = parsed.data;
  const known = KNOWN.includes(error) ? (error as ApiErrorCode) : codeForStatus(status);
  return new ApiError(known, status, message, code);
}

/** Where tokens live; the session layer persists them. */
export interface TokenSource {
  /** The bearer for this request (access token, or a login token during setup). */
  bearer(): string | undefined;
  /** Called once on a 401 with an access token: renew it; `false` if that is impossible. */
  renew(): Promise<boolean>;
}

type Method = "GET" | "POST" | "PUT" | "DELETE";

export class ApiClient {
  constructor(
    private readonly base: string,
    private readonly tokens: TokenSource,
  ) {}

  private async raw(
    method: Method,
    path: string,
    body: unknown,
    bearer: string | undefined,
    retry: boolean,
  ): Promise<Response> {
    const headers: Record<string, string> = {};
    if (body !== undefined && !(body instanceof Uint8Array))
      headers["Content-Type"] = "application/json";
    if (body instanceof Uint8Array) headers["Content-Type"] = "application/octet-stream";
    const token = bearer ?? this.tokens.bearer();
    if (token !== undefined) headers["Authorization"] = `Bearer ${token}`;
    let res: Response;
    try {
      res = await fetch(this.base + path, {
        method,
        headers,
        credentials: "same-origin",
        body:
          body === undefined
            ? null
            : body instanceof Uint8Array
              ? new Blob([new Uint8Array(body)])
              : JSON.stringify(body),
      });
    } catch (e) {
      throw new ApiError("network", 0, e instanceof Error ? e.message : "network error");
    }
    if (res.ok) return res;
    let data: unknown = null;
    try {
      data = await res.json();
    } catch {
      // not JSON: the status alone says what happened
    }
    const error = apiError(res.status, data);
    if (
      error.code === "unauthorized" &&
      retry &&
      bearer === undefined &&
      (await this.tokens.renew())
    ) {
      return this.raw(method, path, body, bearer, false);
    }
    throw error;
  }

  private async json<T extends z.ZodType>(
    schema: T,
    method: Method,
    path: string,
    body?: unknown,
    bearer?: string,
  ): Promise<z.infer<T>> {
    const res = await this.raw(method, path, body, bearer, true);
    let data: unknown;
    try {
      data = await res.json();
    } catch {
      throw new ApiError("bad_response", res.status, "response is not JSON");
    }
    const parsed = schema.safeParse(data);
    if (!parsed.success)
      throw new ApiError("bad_response", res.status, `unexpected response for ${path}`);
    return parsed.data;
  }

  private async empty(
    method: Method,
    path: string,
    body?: unknown,
    bearer?: string,
  ): Promise<void> {
    await this.raw(method, path, body, bearer, true);
  }

  /** `POST /v1/accounts`; `invite` only when the server asks for one (sent as typed). */
  register(username: string, password: string, invite?: string) {
    const body = invite === undefined ? { username, password } : { username, password, invite };
    return this.json(S.Registered, "POST", "/v1/accounts", body);
  }
  /** `GET /v1/registration` (no token): whether sign-up is open, by invitation, or closed. */
  registration() {
    return this.json(S.RegistrationView, "GET", "/v1/registration");
  }
  login(username: string, password: string) {
    return this.json(S.LoginTokenView, "POST", "/v1/auth/login", { username, password });
  }
  challenge(device: string, bearer?: string) {
    return this.json(S.Challenge, "POST", "/v1/auth/challenge", { device }, bearer);
  }
  deviceLogin(nonce: string, signature: string, loginToken: string) {
    return this.json(S.SessionTokens, "POST", "/v1/auth/device", { nonce, signature }, loginToken);
  }
  /** `proof` answers a refresh challenge when a refresh whose answer was lost is retried. */
  refresh(refreshToken: string, proof?: { nonce: string; signature: string }) {
    const body =
      proof === undefined
        ? { refresh_token: refreshToken }
        : { refresh_token: refreshToken, proof };
    return this.json(S.SessionTokens, "POST", "/v1/auth/refresh", body, "");
  }
  refreshChallenge(refreshToken: string) {
    return this.json(
      S.Challenge,
      "POST",
      "/v1/auth/refresh/challenge",
      { refresh_token: refreshToken },
      "",
    );
  }
  logout() {
    return this.empty("POST", "/v1/auth/logout");
  }
  setMasterKey(masterKey: string, bearer?: string) {
    return this.json(
      S.AccountView,
      "PUT",
      "/v1/account/master-key",
      { master_key: masterKey },
      bearer,
    );
  }
  /** `exchangeKey`: the new device's exchange-key certificate, for the approver's hand-over. */
  addPending(
    signingKey: string,
    authKey: string,
    name: string,
    bearer?: string,
    exchangeKey?: string,
  ) {
    const body = { signing_key: signingKey, auth_key: authKey, name };
    return this.json(
      S.DeviceIdView,
      "POST",
      "/v1/devices/pending",
      exchangeKey === undefined ? body : { ...body, exchange_key: exchangeKey },
      bearer,
    );
  }
  certifyDevice(certificate: string, bearer?: string) {
    return this.json(S.DeviceIdView, "POST", "/v1/devices", { certificate }, bearer);
  }
  devices(bearer?: string) {
    return this.json(S.DeviceList, "GET", "/v1/devices", undefined, bearer);
  }
  revokeDevice(revocation: string) {
    return this.json(S.DeviceIdView, "POST", "/v1/devices/revoke", { revocation });
  }
  setExchangeKey(certificate: string) {
    return this.json(S.SerialView, "PUT", "/v1/devices/current/exchange-key", { certificate });
  }
  /** Uploads signed one-time prekeys; `replace` first drops every unclaimed one (re-key). */
  uploadPrekeys(prekeys: readonly string[], replace: boolean) {
    return this.json(S.PrekeyCount, "POST", "/v1/devices/current/prekeys", {
      prekeys,
      replace,
    });
  }
  /** How many of this device's one-time prekeys the server still holds. */
  prekeyCount() {
    return this.json(S.PrekeyCount, "GET", "/v1/devices/current/prekeys");
  }
  /** Claims one one-time prekey of each listed device, in one request (each handed out once). */
  claimPrekeys(devices: readonly string[]) {
    return this.json(S.PrekeyClaim, "POST", "/v1/prekeys/claim", { devices });
  }
  directory(who: string, bearer?: string) {
    return this.json(
      S.DirectoryView,
      "GET",
      `/v1/directory/${encodeURIComponent(who)}`,
      undefined,
      bearer,
    );
  }
  createConversation(genesis: string) {
    return this.json(S.ConversationCreated, "POST", "/v1/conversations", { genesis });
  }
  conversations() {
    return this.json(S.ConversationList, "GET", "/v1/conversations");
  }
  conversation(conv: string, since: number) {
    return this.json(S.ConversationLog, "GET", `/v1/conversations/${conv}?since=${since}`);
  }
  appendChange(conv: string, change: string) {
    return this.json(S.ConversationCreated, "POST", `/v1/conversations/${conv}/changes`, {
      change,
    });
  }
  sendMessage(conv: string, messageId: string, envelope: string, to?: string) {
    const body =
      to === undefined
        ? { message_id: messageId, envelope }
        : { message_id: messageId, envelope, to };
    return this.json(S.MessageSent, "POST", `/v1/conversations/${conv}/messages`, body);
  }
  /** Conversations this account was added to by someone who is not a contact yet. */
  async requests() {
    return (await this.json(S.RequestList, "GET", "/v1/requests")).requests;
  }
  acceptConversation(conv: string) {
    return this.empty("POST", `/v1/conversations/${conv}/accept`);
  }
  declineConversation(conv: string) {
    return this.empty("POST", `/v1/conversations/${conv}/decline`);
  }
  async blocks() {
    return (await this.json(S.BlockList, "GET", "/v1/blocks")).blocked;
  }
  block(username: string) {
    return this.empty("PUT", `/v1/blocks/${encodeURIComponent(username)}`);
  }
  unblock(username: string) {
    return this.empty("DELETE", `/v1/blocks/${encodeURIComponent(username)}`);
  }
  recovery(bearer?: string) {
    return this.json(S.RecoveryStatus, "GET", "/v1/recovery", undefined, bearer);
  }
  /** Replaces any previous set-up (its items are deleted). `salt` iff `method` is passphrase. */
  setRecovery(setup: {
    recovery_id: string;
    method: "key" | "passphrase";
    salt: string | null;
    verifier: string;
  }) {
    return this.empty("PUT", "/v1/recovery", setup);
  }
  deleteRecovery() {
    return this.empty("DELETE", "/v1/recovery");
  }
  /** At most 64 items per call; an item id already stored is ignored. */
  storeBackupItems(items: readonly string[]) {
    return this.json(S.ItemsStored, "POST", "/v1/recovery/items", { items });
  }
  /** The backup, one page after `after`, for the access key of protocol §14.2. */
  unlockRecovery(access: string, after: number, bearer?: string) {
    return this.json(S.BackupPage, "POST", "/v1/recovery/unlock", { access, after }, bearer);
  }
  postHandover(device: string, handover: string) {
    return this.json(S.HandoverCreated, "POST", `/v1/devices/${device}/handovers`, { handover });
  }
  async handovers() {
    return (await this.json(S.HandoverList, "GET", "/v1/handovers")).handovers;
  }
  deleteHandover(id: string) {
    return this.empty("DELETE", `/v1/handovers/${id}`);
  }
  /** Archived envelopes older than `before` (absent: the newest), newest first. */
  history(conv: string, before: number | undefined, limit: number) {
    const q = before === undefined ? `limit=${limit}` : `before=${before}&limit=${limit}`;
    return this.json(S.HistoryPage, "GET", `/v1/conversations/${conv}/history?${q}`);
  }
  policy() {
    return this.json(S.Policy, "GET", "/v1/policy");
  }
  wsTicket(nonce: string, signature: string) {
    return this.json(S.Ticket, "POST", "/v1/ws/ticket", { nonce, signature });
  }
  async downloadAttachment(id: string): Promise<Uint8Array<ArrayBuffer>> {
    const res = await this.raw("GET", `/v1/attachments/${id}`, undefined, undefined, true);
    return new Uint8Array(await res.arrayBuffer());
  }

  /** Uploads an encrypted blob with progress (XMLHttpRequest: fetch reports no upload progress). */
  uploadAttachment(
    conv: string,
    blob: Uint8Array,
    onProgress: (fraction: number) => void,
  ): Promise<string> {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open("POST", `${this.base}/v1/conversations/${conv}/attachments`);
      const token = this.tokens.bearer();
      if (token !== undefined) xhr.setRequestHeader("Authorization", `Bearer ${token}`);
      xhr.setRequestHeader("Content-Type", "application/octet-stream");
      xhr.upload.onprogress = (e) => {
        if (e.lengthComputable) onProgress(e.loaded / e.total);
      };
      xhr.onerror = () => {
        reject(new ApiError("network", 0, "upload failed"));
      };
      xhr.onload = () => {
        let data: unknown = null;
        try {
          data = JSON.parse(xhr.responseText);
        } catch {
          // handled below
        }
        if (xhr.status !== 201) {
          reject(apiError(xhr.status, data));
          return;
        }
        const parsed = S.AttachmentCreated.safeParse(data);
        if (parsed.success) resolve(parsed.data.attachment);
        else reject(new ApiError("bad_response", xhr.status, "unexpected upload response"));
      };
      xhr.send(new Blob([new Uint8Array(blob)]));
    });
  }
}

/**
 * Blocked users: nothing they send reaches this account (their messages are refused by the server,
 * and they see "Not delivered … (blocked)"), and their requests are declined. Listed from the
 * server; each can be unblocked, and any user can be blocked by name.
 */

import { useCallback, useEffect, useState } from "react";

import { ErrorText, Field } from "../../components/ui";
import type { BlockedView } from "../../lib/schemas";
import { useSotto } from "../../lib/sotto";

export function BlockedUsers({ onClose }: { onClose: () => void }) {
  const client = useSotto();
  const [blocked, setBlocked] = useState<readonly BlockedView[]>();
  const [name, setName] = useState("");
  const [error, setError] = useState<string>();
  const [status, setStatus] = useState<string>();

  const load = useCallback(async () => {
    try {
      setBlocked(await client.blocks());
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    }
  }, [client]);

  useEffect(() => {
    void load();
  }, [load]);

  const run = async (what: () => Promise<void>, done: string) => {
    setError(undefined);
    setStatus(undefined);
    try {
      await what();
      setStatus(done);
      await load();
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    }
  };

  return (
    <section className="page" aria-labelledby="blocked-title">
      <h2 id="blocked-title">Blocked users</h2>
      <p className="hint">
        Nothing a blocked user sends reaches you, and their requests are declined. They are told
        their messages were not delivered.
      </p>
      {blocked === undefined ? (
        <p>Loading…</p>
      ) : blocked.length === 0 ? (
        <p data-testid="no-blocked">You have blocked nobody.</p>
      ) : (
        <ul>
          {blocked.map((b) => (
            <li key={b.account} data-testid="blocked-row">
              <strong>{b.username}</strong>{" "}
              <button
                type="button"
                onClick={() =>
                  void run(() => client.unblock(b.username), `${b.username} unblocked`)
                }
              >
                Unblock
              </button>
            </li>
          ))}
        </ul>
      )}
      <form
        onSubmit={(e) => {
          e.preventDefault();
          const who = name.trim();
          if (who === "") return;
          void run(async () => {
            await client.block(who);
            setName("");
          }, `${who} blocked`);
        }}
      >
        <Field label="Block a user (username)" value={name} onChange={setName} />
        <button type="submit" className="danger">
          Block
        </button>
      </form>
      <ErrorText error={error} />
      {status !== undefined && <p role="status">{status}</p>}
      <button type="button" onClick={onClose}>
        Back
      </button>
    </section>
  );
}

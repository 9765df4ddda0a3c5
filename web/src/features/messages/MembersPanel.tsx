import { type SyntheticEvent, useState } from "react";

import { ErrorText, Field } from "../../components/ui";
import { useSotto, useSottoView } from "../../lib/sotto";
import type { ConversationView } from "../../lib/engine/model";
import { RETENTION_CHOICES, describeRetention } from "../../lib/engine/retention";

export function MembersPanel({
  conv,
  onClose,
  onVerify,
}: {
  conv: ConversationView;
  onClose: () => void;
  onVerify: (account: string) => void;
}) {
  const client = useSotto();
  const [username, setUsername] = useState("");
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const me = useSottoView().me?.account;

  const run = async (f: () => Promise<void>) => {
    setBusy(true);
    setError(undefined);
    try {
      await f();
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    } finally {
      setBusy(false);
    }
  };

  const add = (e: SyntheticEvent) => {
    e.preventDefault();
    void run(async () => {
      await client.addMember(conv.id, username);
      setUsername("");
    });
  };

  return (
    <section className="page" aria-labelledby="members-title">
      <h2 id="members-title">Members of {conv.name}</h2>
      <p className="hint">
        Epoch {conv.epoch}. Membership comes from the signed group log, verified on this device.
      </p>
      <table>
        <thead>
          <tr>
            <th scope="col">Member</th>
            <th scope="col">Role</th>
            <th scope="col">Identity</th>
            <th scope="col">
              <span className="visually-hidden">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {conv.members.map((m) => (
            <tr key={m.account}>
              <td>
                {m.username}
                {m.account === me ? " (you)" : ""}
              </td>
              <td>{m.admin ? "Admin" : "Member"}</td>
              <td>
                {m.trust === "verified"
                  ? "✓ Verified"
                  : m.trust === "changed"
                    ? "⚠ Changed"
                    : "Not verified"}
              </td>
              <td>
                {m.account !== me && (
                  <button
                    type="button"
                    className="link"
                    onClick={() => {
                      onVerify(m.account);
                    }}
                  >
                    Safety number
                  </button>
                )}
                {conv.amAdmin && m.account !== me && (
                  <button
                    type="button"
                    className="danger"
                    disabled={busy}
                    onClick={() => void run(() => client.removeMember(conv.id, m.account))}
                  >
                    Remove
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {conv.amAdmin && (
        <form onSubmit={add}>
          <Field
            label="Add a member (username)"
            name="add-member"
            value={username}
            onChange={setUsername}
            required
          />
          <div className="actions">
            <button type="submit" className="primary" disabled={busy}>
              Add
            </button>
          </div>
        </form>
      )}
      <RetentionSetting conv={conv} busy={busy} run={run} />
      <ErrorText error={error} />
      <div className="actions">
        <button type="button" onClick={onClose}>
          Back to chat
        </button>
      </div>
    </section>
  );
}

/** The conversation's retention (protocol §6.7), and the choice for those who may set it. */
function RetentionSetting({
  conv,
  busy,
  run,
}: {
  conv: ConversationView;
  busy: boolean;
  run: (f: () => Promise<void>) => Promise<void>;
}) {
  const client = useSotto();
  const current = conv.retention;
  return (
    <section aria-labelledby="retention-title">
      <h3 id="retention-title">Messages kept</h3>
      <p data-testid="retention-current">
        {current === undefined
          ? "As the server keeps them."
          : current === 0
            ? "Forever."
            : `For ${describeRetention(current)}, then deleted from the server and every member's devices.`}
      </p>
      {conv.canSetRetention && (
        <div>
          <label htmlFor="retention-choice">Keep messages for</label>
          <select
            id="retention-choice"
            data-testid="retention-choice"
            disabled={busy}
            value={current === undefined ? "" : String(current)}
            onChange={(e) => {
              const secs = Number(e.target.value);
              void run(() => client.setRetention(conv.id, secs));
            }}
          >
            {current === undefined && <option value="">Server default</option>}
            {RETENTION_CHOICES.map((c) => (
              <option key={c.secs} value={String(c.secs)}>
                {c.label}
              </option>
            ))}
            {current !== undefined && !RETENTION_CHOICES.some((c) => c.secs === current) && (
              <option value={String(current)}>{describeRetention(current)}</option>
            )}
          </select>
          <p className="hint">
            Applies to every message of this conversation, earlier ones included. It is a promise
            honest devices keep, not a guard against someone who copies what they were shown.
          </p>
        </div>
      )}
    </section>
  );
}

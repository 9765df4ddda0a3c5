import { type SyntheticEvent, useState } from "react";

import { ErrorText, Field } from "../../components/ui";
import { useSotto, useSottoView } from "../../lib/sotto";
import type { ConversationView } from "../../lib/engine/model";

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
      <ErrorText error={error} />
      <div className="actions">
        <button type="button" onClick={onClose}>
          Back to chat
        </button>
      </div>
    </section>
  );
}

/**
 * A conversation's members and what may be done with them (protocol §6.3): admins rename the
 * group, add and remove members and promote or demote admins; anyone leaves. The last admin
 * leaving while others remain first names a new admin (the server refuses otherwise,
 * `group/last-admin`). A removed or departed member sees that, and no actions: history stays.
 */

import { type SyntheticEvent, useState } from "react";

import { ErrorText, Field } from "../../components/ui";
import { Dialog } from "../../components/ui/Dialog";
import { useSotto, useSottoView } from "../../lib/sotto";
import type { ConversationView, MemberView } from "../../lib/engine/model";
import { CHOOSE_ADMIN } from "../../lib/engine/groupops";
import { RETENTION_CHOICES, describeRetention } from "../../lib/engine/retention";
import { removedText } from "./ChatView";

type Run = (f: () => Promise<void>) => Promise<boolean>;

/** Whether this account is the only admin of a group that has other members. */
export function isLastAdmin(conv: ConversationView, me: string | undefined): boolean {
  const admins = conv.members.filter((m) => m.admin);
  return (
    admins.length === 1 && admins[0]?.account === me && conv.members.some((m) => m.account !== me)
  );
}

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
  const [leaving, setLeaving] = useState(false);
  const me = useSottoView().me?.account;
  const member = conv.removed === undefined;
  const admin = member && conv.amAdmin;

  const run: Run = async (f) => {
    setBusy(true);
    setError(undefined);
    try {
      await f();
      return true;
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
      return false;
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

  const count = conv.members.length;
  return (
    <section className="page" aria-labelledby="members-title">
      <h2 id="members-title">Members of {conv.name}</h2>
      {conv.removed !== undefined && (
        <p className="banner" role="status" data-testid="removed-notice">
          {removedText(conv.removed)} You can still read what was said before; you receive nothing
          new and cannot send.
        </p>
      )}
      <p data-testid="member-count">{count === 1 ? "1 member" : `${count} members`}</p>
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
            <MemberRow
              key={m.account}
              conv={conv}
              member={m}
              me={me}
              admin={admin}
              busy={busy}
              run={run}
              onVerify={onVerify}
            />
          ))}
        </tbody>
      </table>
      {admin && !conv.direct && <RenameForm conv={conv} busy={busy} run={run} />}
      {admin && (
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
        {member && !conv.direct && (
          <button
            type="button"
            className="danger"
            disabled={busy}
            onClick={() => {
              setLeaving(true);
            }}
          >
            Leave group
          </button>
        )}
        <button type="button" onClick={onClose}>
          Back to chat
        </button>
      </div>
      {leaving && (
        <LeaveDialog
          conv={conv}
          me={me}
          onClose={() => {
            setLeaving(false);
          }}
        />
      )}
    </section>
  );
}

function MemberRow({
  conv,
  member: m,
  me,
  admin,
  busy,
  run,
  onVerify,
}: {
  conv: ConversationView;
  member: MemberView;
  me: string | undefined;
  admin: boolean;
  busy: boolean;
  run: Run;
  onVerify: (account: string) => void;
}) {
  const client = useSotto();
  const self = m.account === me;
  return (
    <tr data-testid="member-row">
      <td>
        {m.username}
        {self ? " (you)" : ""}
      </td>
      <td data-testid="member-role">{m.admin ? "Admin" : "Member"}</td>
      <td>
        {m.trust === "verified"
          ? "✓ Verified"
          : m.trust === "changed"
            ? "⚠ Changed"
            : "Not verified"}
      </td>
      <td className="row-actions">
        {!self && (
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
        {admin && !self && !conv.direct && (
          <button
            type="button"
            disabled={busy}
            onClick={() => void run(() => client.setAdmin(conv.id, m.account, !m.admin))}
          >
            {m.admin ? "Revoke admin" : "Make admin"}
          </button>
        )}
        {admin && !self && (
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
  );
}

function RenameForm({ conv, busy, run }: { conv: ConversationView; busy: boolean; run: Run }) {
  const client = useSotto();
  const [name, setName] = useState(conv.name);
  const trimmed = name.trim();
  return (
    <form
      onSubmit={(e) => {
        e.preventDefault();
        if (trimmed === "" || trimmed === conv.name) return;
        void run(() => client.renameGroup(conv.id, trimmed));
      }}
    >
      <Field label="Group name" name="group-name" value={name} onChange={setName} required />
      <div className="actions">
        <button type="submit" disabled={busy || trimmed === "" || trimmed === conv.name}>
          Rename
        </button>
      </div>
    </form>
  );
}

/**
 * Leaving: a confirmation, and for the last admin the choice of who takes over first (the
 * engine promotes them, then leaves).
 */
function LeaveDialog({
  conv,
  me,
  onClose,
}: {
  conv: ConversationView;
  me: string | undefined;
  onClose: () => void;
}) {
  const client = useSotto();
  const others = conv.members.filter((m) => m.account !== me);
  const [mustChoose, setMustChoose] = useState(isLastAdmin(conv, me));
  const [heir, setHeir] = useState(others[0]?.account ?? "");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const leave = async () => {
    setBusy(true);
    setError(undefined);
    try {
      await client.leaveGroup(conv.id, mustChoose ? heir : undefined);
      onClose();
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      // Another admin left meanwhile: now this account must name one first.
      if (message === CHOOSE_ADMIN) setMustChoose(true);
      setError(message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Dialog title={`Leave ${conv.name}?`} onClose={onClose}>
      <p>
        You will no longer receive its messages and cannot send to it. What was said before stays
        readable on this device.
      </p>
      {mustChoose && (
        <div>
          <p>You are its only admin: choose a new admin first.</p>
          <label htmlFor="new-admin">New admin</label>
          <select
            id="new-admin"
            value={heir}
            onChange={(e) => {
              setHeir(e.target.value);
            }}
          >
            {others.map((m) => (
              <option key={m.account} value={m.account}>
                {m.username}
              </option>
            ))}
          </select>
        </div>
      )}
      <ErrorText error={error} />
      <div className="actions">
        <button
          type="button"
          className="danger"
          disabled={busy || (mustChoose && heir === "")}
          onClick={() => void leave()}
        >
          {mustChoose ? "Make admin and leave" : "Leave"}
        </button>
        <button type="button" onClick={onClose}>
          Cancel
        </button>
      </div>
    </Dialog>
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
  run: Run;
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
      {conv.canSetRetention && conv.removed === undefined && (
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

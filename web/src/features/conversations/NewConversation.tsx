import { type SyntheticEvent, useState } from "react";

import { ErrorText, Field } from "../../components/ui";
import { useSotto } from "../../lib/sotto";

export function NewConversation({
  onCreated,
  onCancel,
}: {
  onCreated: (id: string) => void;
  onCancel: () => void;
}) {
  const client = useSotto();
  const [kind, setKind] = useState<"direct" | "group">("direct");
  const [username, setUsername] = useState("");
  const [name, setName] = useState("");
  const [members, setMembers] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();

  const submit = async (e: SyntheticEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const id =
        kind === "direct"
          ? await client.direct(username)
          : await client.createConversation(
              name.trim(),
              members.split(/[\s,]+/).filter((m) => m !== ""),
            );
      onCreated(id);
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section className="page" aria-labelledby="new-conv-title">
      <h2 id="new-conv-title">New conversation</h2>
      <div className="tabs" role="tablist" aria-label="Conversation kind">
        <button
          type="button"
          role="tab"
          aria-selected={kind === "direct"}
          onClick={() => {
            setKind("direct");
          }}
        >
          1:1
        </button>
        <button
          type="button"
          role="tab"
          aria-selected={kind === "group"}
          onClick={() => {
            setKind("group");
          }}
        >
          Group
        </button>
      </div>
      <form onSubmit={(e) => void submit(e)}>
        {kind === "direct" ? (
          <Field label="Username" name="peer" value={username} onChange={setUsername} required />
        ) : (
          <>
            <Field label="Group name" name="group-name" value={name} onChange={setName} required />
            <Field
              label="Members"
              name="members"
              value={members}
              onChange={setMembers}
              hint="Usernames separated by spaces or commas."
              required
            />
          </>
        )}
        <ErrorText error={error} />
        <div className="actions">
          <button type="submit" className="primary" disabled={busy}>
            {busy ? "Creating…" : "Start"}
          </button>
          <button type="button" onClick={onCancel}>
            Cancel
          </button>
        </div>
      </form>
    </section>
  );
}

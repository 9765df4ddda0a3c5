/**
 * After a recovery: the account's other devices may be the lost ones. Offers to revoke them all
 * (they stop receiving messages) or to keep them.
 */

import { useState } from "react";

import { ErrorText, Modal } from "../../components/ui";
import type { OtherDevice } from "../../lib/engine/model";
import { useSotto } from "../../lib/sotto";

export function RecoveredDialog({ others }: { others: readonly OtherDevice[] }) {
  const client = useSotto();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const revoke = async () => {
    setBusy(true);
    setError(undefined);
    try {
      await client.revokeOtherDevices(others.map((d) => d.device));
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <Modal title="Account recovered">
      <p>
        This browser is now one of your devices. Your account has {others.length} other{" "}
        {others.length === 1 ? "device" : "devices"}:
      </p>
      <ul data-testid="other-devices">
        {others.map((d) => (
          <li key={d.device}>{d.name}</li>
        ))}
      </ul>
      <p>
        If you lost them, revoke them: they will no longer receive your messages. What they sent
        before is read from the server first (it cannot be opened once they are revoked).
      </p>
      <ErrorText error={error} />
      <div className="actions">
        <button type="button" className="danger" disabled={busy} onClick={() => void revoke()}>
          {busy ? "Reading your history, then revoking…" : "Revoke the other devices"}
        </button>
        <button
          type="button"
          disabled={busy}
          onClick={() => {
            client.dismissRecovered();
          }}
        >
          Keep them
        </button>
      </div>
    </Modal>
  );
}

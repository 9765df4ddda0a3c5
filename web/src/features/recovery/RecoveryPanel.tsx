/**
 * Recovery on the Devices screen: whether it is set up (method, items backed up), and how to set
 * it up where this browser cannot (its master key is kept non-extractable, so it can be backed up
 * only when it is made).
 */

import { useEffect, useState } from "react";

import { ErrorText } from "../../components/ui";
import type { RecoveryStatus } from "../../lib/schemas";
import { useSotto } from "../../lib/sotto";

export function RecoveryPanel() {
  const client = useSotto();
  const [status, setStatus] = useState<RecoveryStatus>();
  const [error, setError] = useState<string>();
  useEffect(() => {
    void client.recoveryStatus().then(setStatus, (e: unknown) => {
      setError(e instanceof Error ? e.message : String(e));
    });
  }, [client]);
  return (
    <section aria-labelledby="recovery-title" data-testid="recovery-panel">
      <h3 id="recovery-title">Recovery</h3>
      {status === undefined ? (
        error === undefined && <p>Loading…</p>
      ) : status.configured ? (
        <p data-testid="recovery-status">
          Set up with a {status.method === "key" ? "recovery key" : "passphrase"}; {status.items}{" "}
          backup {status.items === 1 ? "item" : "items"} stored (encrypted, the server cannot read
          them).
        </p>
      ) : (
        <p data-testid="recovery-status">
          Not set up: losing every device loses the account. This browser keeps the account key
          locked, so set recovery up with the command line client (<code>sotto recovery setup</code>
          ) on a device that holds the account key.
        </p>
      )}
      <ErrorText error={error} />
    </section>
  );
}

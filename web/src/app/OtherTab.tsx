/**
 * Shown instead of the app while another tab of this browser holds the account: one tab at a
 * time owns the socket and writes the store, so two never overwrite each other's state. "Use
 * here" takes the account over (`SottoClient.takeOver`); the other tab then shows this notice.
 */

import { useState } from "react";

import { ErrorText } from "../components/ui";
import { useSotto } from "../lib/sotto";

export function OtherTab() {
  const client = useSotto();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  return (
    <main className="auth other-tab" aria-labelledby="other-tab-title">
      <h1 id="other-tab-title">Sotto</h1>
      <p role="status" data-testid="connection">
        Sotto is open in another tab.
      </p>
      <p className="hint">
        One tab at a time can use your account in this browser. Use it here, and the other tab steps
        aside.
      </p>
      <ErrorText error={error} />
      <div className="actions">
        <button
          type="button"
          className="primary"
          disabled={busy}
          onClick={() => {
            setBusy(true);
            setError(undefined);
            client
              .takeOver()
              .catch((e: unknown) => {
                setError(e instanceof Error ? e.message : String(e));
              })
              .finally(() => {
                setBusy(false);
              });
          }}
        >
          Use here
        </button>
      </div>
    </main>
  );
}

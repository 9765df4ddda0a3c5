/**
 * Accept, Decline and Block for a request: shared by the request list and the opened request
 * (two features), so it lives here. Accepting makes the sender a contact; declining stops further
 * copies; blocking also stops everything else they send.
 */

import { useState } from "react";

import type { RequestInfo } from "../../lib/engine/consent";
import { useSotto } from "../../lib/sotto";
import { ErrorText } from "./index";

export function RequestActions({
  info,
  onAccepted,
  onGone,
}: {
  info: RequestInfo;
  /** Accepted: open it as a conversation. */
  onAccepted: (conv: string) => void;
  /** Declined or blocked: it is listed nowhere now. */
  onGone: () => void;
}) {
  const client = useSotto();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const act = async (what: () => Promise<void>, then: () => void) => {
    setBusy(true);
    setError(undefined);
    try {
      await what();
      then();
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <div className="request-actions" role="group" aria-label={`Request from ${info.fromUsername}`}>
      <button
        type="button"
        className="primary"
        disabled={busy}
        onClick={() =>
          void act(
            () => client.acceptRequest(info.conversation),
            () => {
              onAccepted(info.conversation);
            },
          )
        }
      >
        Accept
      </button>
      <button
        type="button"
        disabled={busy}
        onClick={() => void act(() => client.declineRequest(info.conversation), onGone)}
      >
        Decline
      </button>
      <button
        type="button"
        className="danger"
        disabled={busy}
        onClick={() => void act(() => client.block(info.fromUsername), onGone)}
      >
        Block {info.fromUsername}
      </button>
      <ErrorText error={error} />
    </div>
  );
}

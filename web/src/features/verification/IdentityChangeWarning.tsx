import { Modal } from "../../components/ui";
import type { SottoClient } from "../../lib/engine/client";
import type { IdentityAlert } from "../../lib/engine/model";

/** Blocks the app until the user deals with a contact whose identity key changed. */
export function IdentityChangeWarning({ client, alert, onReview }: { client: SottoClient; alert: IdentityAlert; onReview: (account: string) => void }) {
  return (
    <Modal title={`${alert.username}'s identity changed`}>
      <p>
        The server now presents a different identity key for <strong>{alert.username}</strong>. This happens when they reinstall or
        reset their account — or when someone is trying to intercept your messages.
      </p>
      {alert.wasVerified && <p><strong>You had verified {alert.username}.</strong> Messages to them are stopped until you verify the new safety number.</p>}
      <p>Nothing is sent to {alert.username} until you decide.</p>
      <div className="actions">
        <button type="button" onClick={() => { onReview(alert.account); }}>
          Review safety number
        </button>
        <button
          type="button"
          className="danger"
          onClick={() => {
            void client.acceptIdentity(alert.account).then(() => {
              if (alert.wasVerified) onReview(alert.account);
            });
          }}
        >
          Accept the new identity
        </button>
      </div>
    </Modal>
  );
}

import { Modal } from "../../components/ui";
import { useSotto } from "../../lib/sotto";
import type { IdentityAlert } from "../../lib/engine/model";

/** Blocks the app until the user deals with a contact whose identity key changed. */
export function IdentityChangeWarning({
  alert,
  onReview,
}: {
  alert: IdentityAlert;
  onReview: (account: string) => void;
}) {
  const client = useSotto();
  return (
    <Modal title={`${alert.username}'s identity changed`}>
      <p>
        The server now presents a different identity key for <strong>{alert.username}</strong>. This
        happens when they reinstall or reset their account — or when someone is trying to intercept
        your messages.
      </p>
      {alert.wasVerified && (
        <p>
          <strong>You had verified {alert.username}.</strong> Messages to them are stopped until you
          verify the new safety number.
        </p>
      )}
      <p>
        Nothing is sent to {alert.username} until you decide, and messages from {alert.username} are
        held — not shown, not lost — until you review this change by comparing your safety number
        with {alert.username}
        {alert.held > 0 && (
          <>
            {" "}
            (
            <span data-testid="identity-held">
              {alert.held === 1 ? "1 message" : `${alert.held} messages`}
            </span>{" "}
            held so far)
          </>
        )}
        . Accepting the new identity releases them; messages from everyone else keep arriving.
      </p>
      <div className="actions">
        <button
          type="button"
          onClick={() => {
            onReview(alert.account);
          }}
        >
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

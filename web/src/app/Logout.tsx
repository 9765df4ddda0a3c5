/**
 * Log out, with the choice of keeping this account's data in this browser or removing it.
 */

import { useEffect, useState } from "react";
import { createPortal } from "react-dom";

import { Modal } from "../components/ui";
import { LogoutIcon } from "../components/ui/icons";
import { useSotto, useSottoView } from "../lib/sotto";

export function LogoutButton() {
  const [open, setOpen] = useState(false);
  return (
    <>
      <button
        type="button"
        className="icon-button"
        aria-label="Log out"
        title="Log out"
        onClick={() => {
          setOpen(true);
        }}
      >
        <LogoutIcon />
        <span className="label">Log out</span>
      </button>
      {/* Outside the shell, which the dialog makes inert while it is open. */}
      {open &&
        createPortal(
          <LogoutDialog
            onCancel={() => {
              setOpen(false);
            }}
          />,
          document.body,
        )}
    </>
  );
}

/**
 * Logging out asks whether this account's data stays in this browser: kept, the next login here
 * needs no approval and the messages stay (sealed); removed, this browser forgets the keys, which
 * loses the account when no other device and no recovery key remain (said when that is so).
 */
function LogoutDialog({ onCancel }: { onCancel: () => void }) {
  const client = useSotto();
  const view = useSottoView();
  const [remove, setRemove] = useState(false);
  const [busy, setBusy] = useState(false);
  const [advice, setAdvice] = useState<{ otherDevices: number; recovery: boolean | undefined }>();
  useEffect(() => {
    let live = true;
    client.logoutAdvice().then(
      (a) => {
        if (live) setAdvice(a);
      },
      () => undefined,
    );
    return () => {
      live = false;
    };
  }, [client]);
  const who = view.me?.username ?? "this account";
  const lastDevice = advice?.otherDevices === 0;
  return (
    <Modal title="Log out">
      <fieldset className="logout-choice">
        <legend>Remove this account&apos;s data from this browser?</legend>
        <label>
          <input
            type="radio"
            name="logout-choice"
            checked={!remove}
            onChange={() => {
              setRemove(false);
            }}
          />{" "}
          Keep {who}&apos;s data on this browser
        </label>
        <p className="hint">
          You can log in here again later without approving this browser from another device. Your
          messages stay on this browser, encrypted at rest; other accounts here cannot open them.
          Choose this on your own computer.
        </p>
        <label>
          <input
            type="radio"
            name="logout-choice"
            checked={remove}
            onChange={() => {
              setRemove(true);
            }}
          />{" "}
          Remove {who}&apos;s data from this browser
        </label>
        <p className="hint">
          This browser forgets {who}&apos;s keys and messages; other accounts on it are not touched.
          Choose this on a shared or public computer. Logging in here again makes this browser a new
          device that needs approval.
        </p>
      </fieldset>
      {lastDevice && (
        <p className={remove ? "error" : "hint"} role={remove ? "alert" : undefined}>
          <strong>This is the only device of {who}</strong>
          {advice.recovery === true
            ? ": after removing its data, only your recovery key can restore the account."
            : advice.recovery === false
              ? " and no recovery key is set up: removing its data loses the account for good."
              : ": unless you have a recovery key, removing its data loses the account for good."}
        </p>
      )}
      <div className="actions">
        <button
          type="button"
          className={remove ? "danger" : "primary"}
          disabled={busy}
          onClick={() => {
            setBusy(true);
            void client.logout(remove).finally(() => {
              setBusy(false);
            });
          }}
        >
          Log out
        </button>
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </Modal>
  );
}

/**
 * A recovery key shown once (protocol §14.1: never stored, shown when it is made): its 12 groups,
 * copy and print, and "I have saved it" before the dialog can close.
 */

import { useState } from "react";

export function RecoveryKeyShown({ keyText, onSaved }: { keyText: string; onSaved: () => void }) {
  const [saved, setSaved] = useState(false);
  const [copied, setCopied] = useState(false);
  const groups = keyText.split("-");
  return (
    <div>
      <p>
        This is your recovery key. It is shown <strong>once</strong>: write it down or print it and
        keep it somewhere safe, away from your devices. With it and your password you can get your
        account and its messages back on a new device. Sotto cannot show it again or reset it.
      </p>
      <p className="recovery-key digits" data-testid="recovery-key" aria-label="Recovery key">
        {groups.map((g, i) => (
          <span key={i}>
            {g}
            {i < groups.length - 1 ? "-" : ""}
          </span>
        ))}
      </p>
      <div className="actions">
        <button
          type="button"
          onClick={() => {
            void navigator.clipboard.writeText(keyText).then(
              () => {
                setCopied(true);
              },
              () => {
                setCopied(false);
              },
            );
          }}
        >
          {copied ? "Copied" : "Copy"}
        </button>
        <button
          type="button"
          onClick={() => {
            window.print();
          }}
        >
          Print
        </button>
      </div>
      <label className="check">
        <input
          type="checkbox"
          checked={saved}
          data-testid="recovery-saved"
          onChange={(e) => {
            setSaved(e.target.checked);
          }}
        />{" "}
        I have saved my recovery key
      </label>
      <div className="actions">
        <button type="button" className="primary" disabled={!saved} onClick={onSaved}>
          Done
        </button>
      </div>
    </div>
  );
}

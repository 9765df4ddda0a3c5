/**
 * "Set up recovery" (protocol §14, §15): offered right after Create account, while the new
 * master key can still be backed up; a recovery key (shown once) or a passphrase, with the
 * passphrase's risk said where the choice is made.
 */

import { type SyntheticEvent, useEffect, useState } from "react";

import { ErrorText, Field, Modal } from "../../components/ui";
import { isAcceptablePassphrase } from "../../crypto";
import { useSotto } from "../../lib/sotto";
import { RecoveryKeyShown } from "./RecoveryKeyShown";

const MIN_PASSPHRASE = 12;

export function RecoverySetupDialog({ onCancel }: { onCancel: () => void }) {
  const client = useSotto();
  const [method, setMethod] = useState<"key" | "passphrase">("key");
  const [passphrase, setPassphrase] = useState("");
  const [confirm, setConfirm] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const [keyText, setKeyText] = useState<string>();
  // Unknown until the WebAssembly probe answers: the choice waits, and the "not in this browser"
  // hint shows only once the probe said no.
  const [passphraseOk, setPassphraseOk] = useState<boolean>();
  useEffect(() => {
    void client.passphraseSupported().then(setPassphraseOk);
  }, [client]);

  const submit = async (e: SyntheticEvent) => {
    e.preventDefault();
    setError(undefined);
    if (method === "passphrase") {
      if (!isAcceptablePassphrase(passphrase)) {
        setError(`The passphrase needs at least ${String(MIN_PASSPHRASE)} characters.`);
        return;
      }
      if (passphrase !== confirm) {
        setError("The passphrases do not match.");
        return;
      }
    }
    setBusy(true);
    try {
      const made = await client.setUpRecovery(
        method === "key" ? { kind: "key" } : { kind: "passphrase", passphrase },
      );
      if (made.keyText === undefined) client.finishRecoveryOffer();
      else setKeyText(made.keyText);
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };

  if (keyText !== undefined) {
    return (
      <Modal title="Your recovery key">
        <RecoveryKeyShown
          keyText={keyText}
          onSaved={() => {
            setKeyText(undefined);
            client.finishRecoveryOffer();
          }}
        />
      </Modal>
    );
  }

  return (
    <Modal title="Set up recovery">
      <p>
        If you lose every device, a recovery key gets your account and your messages back. Set it up
        now: this browser keeps your account key locked once you leave this screen, so it can be
        backed up only now (later, from the command line client with{" "}
        <code>sotto recovery setup</code>).
      </p>
      <form onSubmit={(e) => void submit(e)} aria-busy={busy}>
        <fieldset>
          <legend>Recover with</legend>
          <label className="check">
            <input
              type="radio"
              name="recovery-method"
              checked={method === "key"}
              onChange={() => {
                setMethod("key");
              }}
            />{" "}
            A recovery key (recommended): 48 characters Sotto makes for you
          </label>
          <label className="check">
            <input
              type="radio"
              name="recovery-method"
              checked={method === "passphrase"}
              disabled={passphraseOk !== true}
              onChange={() => {
                setMethod("passphrase");
              }}
            />{" "}
            A passphrase you choose
            {passphraseOk === false && (
              <span className="hint">
                {" "}
                (not in this browser: this server's security policy does not allow the WebAssembly
                it needs; the command line client offers it)
              </span>
            )}
          </label>
        </fieldset>
        {method === "passphrase" && (
          <>
            <p className="hint" role="note">
              Whoever holds a copy of the server's data can try to guess a passphrase offline, as
              often as they like: it is only as strong as you make it. A recovery key cannot be
              guessed.
            </p>
            <Field
              label="Passphrase (at least 12 characters)"
              name="recovery-passphrase"
              type="password"
              value={passphrase}
              onChange={setPassphrase}
              autoComplete="new-password"
              required
            />
            <Field
              label="Confirm passphrase"
              name="recovery-passphrase-confirm"
              type="password"
              value={confirm}
              onChange={setConfirm}
              autoComplete="new-password"
              required
            />
          </>
        )}
        <ErrorText error={error} />
        <div className="actions">
          <button type="submit" className="primary" disabled={busy}>
            {busy ? "Setting up…" : "Set up recovery"}
          </button>
          <button type="button" disabled={busy} onClick={onCancel}>
            Back
          </button>
        </div>
      </form>
    </Modal>
  );
}

/**
 * "Recover account" on the login screen (protocol §14, §15): username, password and the
 * recovery key (or passphrase) give this browser the account back as a new, certified device.
 * A key with a typo is caught before anything is sent; a wrong key changes nothing.
 */

import { type SyntheticEvent, useEffect, useState } from "react";

import { ErrorText, Field } from "../../components/ui";
import { useSotto } from "../../lib/sotto";

export function RecoverScreen({ onCancel }: { onCancel: () => void }) {
  const client = useSotto();
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [method, setMethod] = useState<"key" | "passphrase">("key");
  const [secret, setSecret] = useState("");
  const [deviceName, setDeviceName] = useState("Recovered web");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const [passphraseOk, setPassphraseOk] = useState(true);
  useEffect(() => {
    void client.passphraseSupported().then(setPassphraseOk);
  }, [client]);

  const submit = async (e: SyntheticEvent) => {
    e.preventDefault();
    setError(undefined);
    setBusy(true);
    try {
      await client.recover(
        username,
        password,
        method === "key"
          ? { kind: "key", text: secret }
          : { kind: "passphrase", passphrase: secret },
        deviceName,
      );
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <main className="auth" id="main">
      <h1>Recover your account</h1>
      <p className="hint">
        Lost your devices? Your password and the recovery key you saved when you set up recovery
        make this browser one of your devices again, with your messages.
      </p>
      <form onSubmit={(e) => void submit(e)} aria-busy={busy} data-testid="recover-form">
        <Field
          label="Username"
          name="username"
          value={username}
          onChange={setUsername}
          autoComplete="username"
          required
        />
        <Field
          label="Password"
          name="password"
          type="password"
          value={password}
          onChange={setPassword}
          autoComplete="current-password"
          required
        />
        <fieldset>
          <legend>Recovery set up with</legend>
          <label className="check">
            <input
              type="radio"
              name="recover-method"
              checked={method === "key"}
              onChange={() => {
                setMethod("key");
              }}
            />{" "}
            A recovery key
          </label>
          <label className="check">
            <input
              type="radio"
              name="recover-method"
              checked={method === "passphrase"}
              onChange={() => {
                setMethod("passphrase");
              }}
            />{" "}
            A passphrase
          </label>
        </fieldset>
        {method === "passphrase" && !passphraseOk && (
          <p className="hint" role="note">
            This browser page cannot use a passphrase (this server's security policy does not allow
            the WebAssembly it needs): recover with the command line client,{" "}
            <code>sotto recover {username === "" ? "<username>" : username}</code>.
          </p>
        )}
        <Field
          label={method === "key" ? "Recovery key" : "Recovery passphrase"}
          name="recovery-secret"
          type={method === "key" ? "text" : "password"}
          value={secret}
          onChange={setSecret}
          autoComplete="off"
          required
          hint={method === "key" ? "48 characters in 12 groups, e.g. ABCD-EFGH-…" : undefined}
        />
        <Field
          label="Device name"
          name="device"
          value={deviceName}
          onChange={setDeviceName}
          hint="Shown in your device list."
        />
        <ErrorText error={error} />
        <div className="actions">
          <button type="submit" className="primary" disabled={busy}>
            {busy ? "Recovering…" : "Recover account"}
          </button>
          <button type="button" onClick={onCancel} disabled={busy}>
            Back to log in
          </button>
        </div>
      </form>
    </main>
  );
}

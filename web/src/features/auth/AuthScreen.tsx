import { type SyntheticEvent, useEffect, useState } from "react";

import { ErrorText, Field } from "../../components/ui";
import type { RegistrationMode } from "../../lib/schemas";
import { useSotto } from "../../lib/sotto";
import { signUpShape } from "./registration";
import { passwordStrength } from "./strength";

function defaultDeviceName(): string {
  const ua = navigator.userAgent;
  const browser = ua.includes("Firefox")
    ? "Firefox"
    : ua.includes("Chrom")
      ? "Chromium"
      : ua.includes("Safari")
        ? "Safari"
        : "Browser";
  return `${browser} web`;
}

export function AuthScreen({
  knownUsername,
  error,
  onRecover,
}: {
  knownUsername?: string | undefined;
  error?: string | undefined;
  /** "Recover account": lost every device, with a recovery key. */
  onRecover?: () => void;
}) {
  const client = useSotto();
  // Usernames only: each account's keys and data stay in its own namespace.
  const [accounts] = useState(() => client.accountsOnThisBrowser());
  const [mode, setMode] = useState<"login" | "register">(
    knownUsername === undefined && accounts.length === 0 ? "register" : "login",
  );
  const [username, setUsername] = useState(knownUsername ?? "");
  const [password, setPassword] = useState("");
  const [confirm, setConfirm] = useState("");
  const [deviceName, setDeviceName] = useState(defaultDeviceName());
  const [busy, setBusy] = useState(false);
  const [localError, setLocalError] = useState<string>();
  const [invite, setInvite] = useState("");
  // Unknown until the server answers: the form stays as for an open server meanwhile, and the
  // server's own refusal explains if it is not.
  const [registration, setRegistration] = useState<RegistrationMode>();
  const strength = passwordStrength(password, username);
  const shape = signUpShape(registration);

  useEffect(() => {
    let live = true;
    client.registrationMode().then(
      (m) => {
        if (live) setRegistration(m);
      },
      () => undefined,
    );
    return () => {
      live = false;
    };
  }, [client]);

  const submit = async (e: SyntheticEvent) => {
    e.preventDefault();
    setLocalError(undefined);
    if (mode === "register") {
      if (password !== confirm) {
        setLocalError("The passwords do not match.");
        return;
      }
      if (strength.score < 2) {
        setLocalError(`Password too weak: ${strength.advice}`);
        return;
      }
    }
    setBusy(true);
    try {
      if (mode === "register")
        await client.register(username, password, deviceName, shape.askInvite ? invite : undefined);
      else await client.login(username, password, deviceName);
    } catch {
      // shown through the view's error
    } finally {
      setBusy(false);
    }
  };

  return (
    <main className="auth" id="main">
      <h1>Sotto</h1>
      <p className="hint">
        End-to-end encrypted chat. Your keys are made in this browser and never leave it.
      </p>
      <div className="tabs" role="tablist" aria-label="Sign in or create an account">
        <button
          type="button"
          role="tab"
          aria-selected={mode === "login"}
          onClick={() => {
            setMode("login");
          }}
        >
          Log in
        </button>
        <button
          type="button"
          role="tab"
          aria-selected={mode === "register"}
          onClick={() => {
            setMode("register");
          }}
        >
          Create account
        </button>
      </div>
      {accounts.length > 0 && (
        <section className="known-accounts" aria-labelledby="known-accounts">
          <h2 id="known-accounts">Accounts on this browser</h2>
          <ul>
            {accounts.map((a) => (
              <li key={a}>
                <button
                  type="button"
                  data-testid="known-account"
                  aria-pressed={mode === "login" && username === a}
                  onClick={() => {
                    setMode("login");
                    setUsername(a);
                  }}
                >
                  {a}
                </button>
              </li>
            ))}
          </ul>
          <p className="hint">
            Each keeps its keys and messages here, encrypted and apart from the others: logging in
            to one or creating another account never shows or changes another&apos;s.
          </p>
        </section>
      )}
      {mode === "register" && !shape.signUp ? (
        <p className="hint" role="status" data-testid="registration-closed">
          This server does not accept new accounts; ask its administrator.
        </p>
      ) : (
        <form onSubmit={(e) => void submit(e)} aria-busy={busy}>
          <Field
            label="Username"
            name="username"
            value={username}
            onChange={setUsername}
            autoComplete="username"
            required
            hint="3–32 characters: a–z, 0–9, . _ -"
          />
          <Field
            label="Password"
            name="password"
            type="password"
            value={password}
            onChange={setPassword}
            autoComplete={mode === "register" ? "new-password" : "current-password"}
            required
            hint={
              mode === "register" ? (
                <span data-testid="strength">
                  <span className="meter" aria-hidden="true">
                    <span className={`s${strength.score}`} />
                  </span>
                  Strength: <strong>{strength.label}</strong>. {strength.advice}
                </span>
              ) : undefined
            }
          />
          {mode === "register" && (
            <Field
              label="Confirm password"
              name="confirm"
              type="password"
              value={confirm}
              onChange={setConfirm}
              autoComplete="new-password"
              required
            />
          )}
          {mode === "register" && shape.askInvite && (
            <Field
              label="Invitation code"
              name="invite"
              value={invite}
              onChange={setInvite}
              autoComplete="off"
              required
              hint="This server creates accounts by invitation: enter the code its administrator gave you."
            />
          )}
          <Field
            label="Device name"
            name="device"
            value={deviceName}
            onChange={setDeviceName}
            hint="Shown in your device list."
          />
          <ErrorText error={localError ?? error} />
          <div className="actions">
            <button type="submit" className="primary" disabled={busy}>
              {busy
                ? mode === "register"
                  ? "Creating keys…"
                  : "Logging in…"
                : mode === "register"
                  ? "Create account"
                  : "Log in"}
            </button>
          </div>
        </form>
      )}
      {onRecover !== undefined && (
        <p className="hint">
          Lost all your devices?{" "}
          <button type="button" className="link" onClick={onRecover}>
            Recover account
          </button>
        </p>
      )}
    </main>
  );
}

export function AwaitingApproval({ code, device }: { code: string; device: string }) {
  const client = useSotto();
  return (
    <main className="auth" id="main">
      <h1>Approve this device</h1>
      <p>
        On a device where you are already logged in, open <strong>Devices</strong> and approve the
        new device with this code:
      </p>
      <p
        className="digits"
        data-testid="approval-code"
        aria-label={`Approval code ${code.split("").join(" ")}`}
      >
        {code}
      </p>
      <p className="hint">
        Device <code>{device.slice(0, 20)}…</code>. Waiting for approval…
      </p>
      <button
        type="button"
        onClick={() => {
          client.cancelApproval();
        }}
      >
        Cancel
      </button>
    </main>
  );
}

import { useEffect, useState } from "react";

import { ErrorText, QrCode } from "../../components/ui";
import { useSotto } from "../../lib/sotto";

interface Loaded {
  digits: string[];
  qr: Uint8Array;
  username: string;
  verified: boolean;
  changed: boolean;
}

export function SafetyNumberScreen({ account, onClose }: { account: string; onClose: () => void }) {
  const client = useSotto();
  const [n, setN] = useState<Loaded>();
  const [error, setError] = useState<string>();
  const [tick, setTick] = useState(0);

  useEffect(() => {
    client
      .safetyNumber(account)
      .then(setN)
      .catch((e: unknown) => {
        setError(e instanceof Error ? e.message : String(e));
      });
  }, [client, account, tick]);

  const mark = async (v: boolean) => {
    await client.markVerified(account, v);
    setTick(tick + 1);
  };

  if (n === undefined)
    return (
      <section className="page">
        {error !== undefined ? <ErrorText error={error} /> : <p>Computing…</p>}
      </section>
    );
  return (
    <section className="page" aria-labelledby="safety-title">
      <h2 id="safety-title">Safety number with {n.username}</h2>
      <p>
        Compare these 60 digits with {n.username} in person or on a call, or scan the code. If they
        match, nobody is in the middle.
      </p>
      <p className="digits" data-testid="safety-digits" aria-label="Safety number">
        {n.digits.map((g, i) => (
          <span key={i}>{g}</span>
        ))}
      </p>
      <QrCode payload={n.qr} label={`QR code of the safety number with ${n.username}`} />
      <p role="status" data-testid="verified-state">
        {n.changed
          ? "⚠ This identity changed and has not been accepted."
          : n.verified
            ? "✓ Verified"
            : "Not verified"}
      </p>
      <div className="actions">
        {n.changed && (
          <button
            type="button"
            className="primary"
            onClick={() => void client.acceptIdentity(account).then(() => mark(true))}
          >
            Digits match: accept and mark verified
          </button>
        )}
        {!n.changed && !n.verified && (
          <button type="button" className="primary" onClick={() => void mark(true)}>
            Mark as verified
          </button>
        )}
        {!n.changed && n.verified && (
          <button type="button" onClick={() => void mark(false)}>
            Clear verification
          </button>
        )}
        <button type="button" onClick={onClose}>
          Back
        </button>
      </div>
    </section>
  );
}

import { useCallback, useEffect, useState } from "react";

import { ErrorText, formatTime } from "../../components/ui";
import { useSotto, useSottoView } from "../../lib/sotto";
import type { DeviceView } from "../../lib/schemas";

export function DevicesScreen({ onClose }: { onClose: () => void }) {
  const client = useSotto();
  const [devices, setDevices] = useState<DeviceView[]>();
  const [codes, setCodes] = useState<Record<string, string>>({});
  const [error, setError] = useState<string>();
  const [notice, setNotice] = useState<string>();
  const view = useSottoView();
  const me = view.me;

  const reload = useCallback(async () => {
    try {
      setDevices(await client.listDevices());
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    }
  }, [client]);

  useEffect(() => {
    void reload();
    const t = setInterval(() => void reload(), 5000);
    return () => {
      clearInterval(t);
    };
  }, [reload]);

  const act = async (f: () => Promise<void>, done: string) => {
    setError(undefined);
    setNotice(undefined);
    try {
      await f();
      setNotice(done);
      await reload();
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    }
  };

  return (
    <section className="page" aria-labelledby="devices-title">
      <h2 id="devices-title">Devices</h2>
      {me?.hasMaster !== true && (
        <p className="hint">
          This device does not hold the account's master key: approve and revoke from your first
          device.
        </p>
      )}
      {devices === undefined ? (
        <p>Loading…</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">State</th>
              <th scope="col">Added</th>
              <th scope="col">
                <span className="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {devices.map((d) => (
              <tr key={d.device} data-testid="device-row">
                <td>
                  {d.name}
                  {d.device === me?.device ? " (this device)" : ""}
                  <br />
                  <code className="hint">{d.device.slice(0, 20)}…</code>
                </td>
                <td>{d.state}</td>
                <td>{formatTime(d.created_at * (d.created_at < 1e12 ? 1000 : 1))}</td>
                <td>
                  {d.state === "pending" && me?.hasMaster === true && (
                    <form
                      onSubmit={(e) => {
                        e.preventDefault();
                        void act(
                          () => client.approve(d.device, codes[d.device] ?? ""),
                          "Device approved.",
                        );
                      }}
                    >
                      <label htmlFor={`code-${d.device}`}>Code shown on the new device</label>
                      <input
                        id={`code-${d.device}`}
                        inputMode="numeric"
                        autoComplete="off"
                        value={codes[d.device] ?? ""}
                        onChange={(e) => {
                          setCodes({ ...codes, [d.device]: e.target.value });
                        }}
                      />
                      <button type="submit" className="primary">
                        Approve
                      </button>
                    </form>
                  )}
                  {d.state === "active" && d.device !== me?.device && me?.hasMaster === true && (
                    <button
                      type="button"
                      className="danger"
                      onClick={() => {
                        if (confirm(`Revoke ${d.name}? It will no longer receive messages.`))
                          void act(() => client.revoke(d.device), "Device revoked.");
                      }}
                    >
                      Revoke
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {notice !== undefined && (
        <p role="status" className="ok">
          {notice}
        </p>
      )}
      <ErrorText error={error} />
      <p className="hint">
        Messages this device could not verify:{" "}
        <strong data-testid="undecryptable">{view.undecryptable}</strong>. Waiting for keys:{" "}
        {view.held}.
      </p>
      <div className="actions">
        <button type="button" onClick={onClose}>
          Back
        </button>
      </div>
    </section>
  );
}

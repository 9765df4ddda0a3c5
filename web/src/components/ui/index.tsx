/** Shared, accessible building blocks. */

import { type ReactNode, useEffect, useId, useRef } from "react";
import qrcode from "qrcode-generator";

import type { ConnectionState } from "../../lib/ws";

export function Field(props: {
  label: string;
  value: string;
  onChange: (v: string) => void;
  type?: string;
  autoComplete?: string;
  hint?: ReactNode;
  required?: boolean;
  name?: string;
}) {
  const id = useId();
  const hintId = `${id}-hint`;
  return (
    <div>
      <label htmlFor={id}>{props.label}</label>
      <input
        id={id}
        name={props.name}
        type={props.type ?? "text"}
        value={props.value}
        required={props.required}
        autoComplete={props.autoComplete}
        aria-describedby={props.hint === undefined ? undefined : hintId}
        onChange={(e) => {
          props.onChange(e.target.value);
        }}
      />
      {props.hint !== undefined && (
        <div id={hintId} className="hint">
          {props.hint}
        </div>
      )}
    </div>
  );
}

export function ErrorText({ error }: { error: string | undefined }) {
  if (error === undefined) return null;
  return (
    <p role="alert" className="error">
      {error}
    </p>
  );
}

function describe(state: ConnectionState, now: number): { cls: string; text: string } {
  switch (state.kind) {
    case "idle":
      return { cls: "connecting", text: "Not connected" };
    case "connecting":
      return { cls: "connecting", text: "Connecting…" };
    case "open":
      return { cls: "open", text: "Connected" };
    case "waiting":
      return {
        cls: "waiting",
        text: `Reconnecting in ${Math.max(0, Math.ceil((state.retryAt - now) / 1000))} s`,
      };
    case "offline":
      return { cls: "closed", text: "Offline" };
    case "closed":
      return { cls: "closed", text: "Disconnected" };
  }
}

export function ConnectionBadge({
  state,
  onRetry,
  secondary,
}: {
  state: ConnectionState;
  onRetry: () => void;
  secondary: boolean;
}) {
  if (secondary) {
    return (
      <span className="badge waiting" role="status" data-testid="connection">
        Open in another tab
      </span>
    );
  }
  const d = describe(state, Date.now());
  return (
    <span role="status" aria-live="polite">
      <span className={`badge ${d.cls}`} data-testid="connection" data-state={state.kind}>
        {d.text}
      </span>
      {(state.kind === "waiting" || state.kind === "offline") && (
        <button type="button" className="link" onClick={onRetry}>
          Retry now
        </button>
      )}
    </span>
  );
}

/** A blocking dialog: focus moves in, Tab stays in, the rest of the page is inert. */
export function Modal({
  title,
  children,
  labelledBy,
}: {
  title: string;
  children: ReactNode;
  labelledBy?: string;
}) {
  const ref = useRef<HTMLDivElement>(null);
  const id = useId();
  useEffect(() => {
    const el = ref.current;
    if (el === null) return;
    const first = el.querySelector<HTMLElement>("button, input, [tabindex]");
    first?.focus();
    const root = document.getElementById("app-shell");
    root?.setAttribute("inert", "");
    return () => {
      root?.removeAttribute("inert");
    };
  }, []);
  return (
    <div className="modal-backdrop">
      <div
        className="modal"
        role="alertdialog"
        aria-modal="true"
        aria-labelledby={labelledBy ?? id}
        ref={ref}
      >
        <h2 id={id}>{title}</h2>
        {children}
      </div>
    </div>
  );
}

/** A QR code drawn as SVG rectangles (qrcode-generator, bundled; byte mode over the raw payload). */
export function QrCode({ payload, label }: { payload: Uint8Array; label: string }) {
  const qr = qrcode(0, "M");
  qr.addData(String.fromCharCode(...payload), "Byte");
  qr.make();
  const n = qr.getModuleCount();
  const rects: ReactNode[] = [];
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < n; c++) {
      if (qr.isDark(r, c))
        rects.push(
          <rect key={`${r}-${c}`} className="dark" x={c} y={r} width={1.02} height={1.02} />,
        );
    }
  }
  return (
    <svg
      className="qr"
      viewBox={`0 0 ${n} ${n}`}
      role="img"
      aria-label={label}
      data-testid="safety-qr"
    >
      {rects}
    </svg>
  );
}

export function formatTime(ms: number): string {
  const d = new Date(ms);
  const today = new Date();
  const time = d.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
  return d.toDateString() === today.toDateString() ? time : `${d.toLocaleDateString()} ${time}`;
}

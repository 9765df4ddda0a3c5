/**
 * A modal dialog on the native `<dialog>`: `showModal()` makes the rest of the page inert, keeps
 * Tab inside and closes on Esc; focus goes back to where it was when the dialog closes.
 */

import { type ReactNode, useEffect, useId, useRef } from "react";

export function Dialog({
  title,
  onClose,
  children,
  className,
  testId,
}: {
  title: string;
  onClose: () => void;
  children: ReactNode;
  className?: string;
  testId?: string;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  const id = useId();
  const close = useRef(onClose);
  close.current = onClose;
  useEffect(() => {
    const el = ref.current;
    if (el === null) return;
    const before = document.activeElement;
    if (!el.open) el.showModal();
    return () => {
      if (el.open) el.close();
      if (before instanceof HTMLElement && before.isConnected) before.focus();
    };
  }, []);
  return (
    <dialog
      ref={ref}
      className={className === undefined ? "sheet" : `sheet ${className}`}
      aria-labelledby={id}
      data-testid={testId}
      onCancel={(e) => {
        e.preventDefault();
        close.current();
      }}
    >
      <div className="sheet-head">
        <h2 id={id}>{title}</h2>
        <button
          type="button"
          className="link"
          aria-label="Close"
          onClick={() => {
            close.current();
          }}
        >
          ✕
        </button>
      </div>
      {children}
    </dialog>
  );
}

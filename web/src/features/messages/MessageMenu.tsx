/**
 * A message's "More actions" menu (Reply, React, Edit, Delete, Copy text) and the reaction
 * picker it opens. The menu follows the ARIA menu-button pattern: ↑/↓ move, Home/End jump,
 * Esc closes and gives focus back to the button.
 */

import { type KeyboardEvent, useEffect, useRef, useState } from "react";

/** The reactions offered first; any other text of 1 to 32 bytes can be typed. */
export const COMMON_REACTIONS = ["👍", "❤️", "😂", "🎉", "😮", "😢", "🙏", "👀"];

export interface MenuItem {
  readonly label: string;
  readonly shortcut?: string;
  readonly danger?: boolean;
  readonly run: () => void;
}

export function MessageMenu({
  items,
  open,
  onOpenChange,
}: {
  items: readonly MenuItem[];
  open: boolean;
  onOpenChange: (open: boolean) => void;
}) {
  const button = useRef<HTMLButtonElement>(null);
  const menu = useRef<HTMLUListElement>(null);
  useEffect(() => {
    if (open) menu.current?.querySelector<HTMLElement>("[role=menuitem]")?.focus();
  }, [open]);

  const close = (refocus: boolean) => {
    onOpenChange(false);
    if (refocus) button.current?.focus();
  };

  const onKey = (e: KeyboardEvent<HTMLUListElement>) => {
    const all = [...(menu.current?.querySelectorAll<HTMLElement>("[role=menuitem]") ?? [])];
    const at = all.indexOf(document.activeElement as HTMLElement);
    const go = (i: number) => all[(i + all.length) % all.length]?.focus();
    switch (e.key) {
      case "ArrowDown":
        go(at + 1);
        break;
      case "ArrowUp":
        go(at - 1);
        break;
      case "Home":
        go(0);
        break;
      case "End":
        go(all.length - 1);
        break;
      case "Escape":
      case "Tab":
        close(e.key === "Escape");
        break;
      default:
        return;
    }
    e.preventDefault();
    e.stopPropagation();
  };

  return (
    <span className="msg-actions">
      <button
        ref={button}
        type="button"
        className="icon-button"
        aria-label="More actions"
        aria-haspopup="menu"
        aria-expanded={open}
        data-testid="message-actions"
        onClick={() => {
          onOpenChange(!open);
        }}
      >
        ⋯
      </button>
      {open && (
        <ul
          ref={menu}
          role="menu"
          aria-label="Message actions"
          className="menu"
          onKeyDown={onKey}
          onBlur={(e) => {
            if (!e.currentTarget.contains(e.relatedTarget)) onOpenChange(false);
          }}
        >
          {items.map((it) => (
            <li key={it.label} role="none">
              <button
                type="button"
                role="menuitem"
                tabIndex={-1}
                className={it.danger === true ? "danger" : undefined}
                aria-keyshortcuts={it.shortcut}
                onClick={() => {
                  onOpenChange(false);
                  it.run();
                }}
              >
                {it.label}
                {it.shortcut !== undefined && <kbd aria-hidden="true">{it.shortcut}</kbd>}
              </button>
            </li>
          ))}
        </ul>
      )}
    </span>
  );
}

/** Bytes of a reaction's display text, as the protocol bounds it (1 to 32). */
function reactionBytes(s: string): number {
  return new TextEncoder().encode(s).length;
}

/** The reaction picker: common reactions as buttons and a field for any other. */
export function ReactionPicker({
  onPick,
  onClose,
}: {
  onPick: (emoji: string) => void;
  onClose: () => void;
}) {
  const [other, setOther] = useState("");
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    box.current?.querySelector<HTMLElement>("button")?.focus();
  }, []);
  const t = other.trim();
  const valid = t !== "" && reactionBytes(t) <= 32;
  return (
    <div
      ref={box}
      className="reaction-picker"
      role="group"
      aria-label="Add a reaction"
      data-testid="reaction-picker"
      onBlur={(e) => {
        if (!e.currentTarget.contains(e.relatedTarget)) onClose();
      }}
      onKeyDown={(e) => {
        if (e.key === "Escape") {
          e.preventDefault();
          e.stopPropagation();
          onClose();
        }
      }}
    >
      {COMMON_REACTIONS.map((r) => (
        <button
          key={r}
          type="button"
          className="icon-button"
          aria-label={`React with ${r}`}
          onClick={() => {
            onPick(r);
          }}
        >
          {r}
        </button>
      ))}
      <form
        onSubmit={(e) => {
          e.preventDefault();
          if (valid) onPick(t);
        }}
      >
        <label>
          <span className="visually-hidden">Other reaction</span>
          <input
            value={other}
            size={6}
            placeholder="Other…"
            aria-invalid={t !== "" && !valid}
            onChange={(e) => {
              setOther(e.target.value);
            }}
          />
        </label>
        <button type="submit" disabled={!valid}>
          React
        </button>
        <button type="button" className="link" onClick={onClose}>
          Cancel
        </button>
      </form>
    </div>
  );
}

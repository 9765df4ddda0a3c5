/**
 * Keyboard shortcuts of the whole app, and their help dialog. A printable key ("/", "?") acts
 * only when the user is not typing in a field; a chord with Ctrl or Cmd acts everywhere.
 */

import { useEffect, useRef } from "react";

import { Dialog } from "../components/ui/Dialog";

export interface ShortcutActions {
  readonly switcher: () => void;
  readonly search: () => void;
  readonly help: () => void;
}

/** What each shortcut does, as the help dialog lists it. */
export const SHORTCUTS: readonly { keys: string; what: string }[] = [
  { keys: "Ctrl+K / ⌘K", what: "Go to a conversation" },
  { keys: "/ or Ctrl+F", what: "Search messages" },
  { keys: "? or Ctrl+/", what: "Show keyboard shortcuts" },
  { keys: "Esc", what: "Close a dialog" },
  { keys: "Enter / Shift+Enter", what: "Send / new line in a message" },
  { keys: "← →", what: "Move between the Chats and Requests tabs" },
];

function typing(target: EventTarget | null): boolean {
  if (typeof HTMLElement === "undefined" || !(target instanceof HTMLElement)) return false;
  return (
    target.isContentEditable ||
    target instanceof HTMLTextAreaElement ||
    target instanceof HTMLSelectElement ||
    (target instanceof HTMLInputElement && !["checkbox", "radio", "button"].includes(target.type))
  );
}

/** The action a key press asks for, if any. */
export function shortcutFor(
  e: Pick<KeyboardEvent, "key" | "ctrlKey" | "metaKey" | "altKey" | "target">,
): keyof ShortcutActions | undefined {
  if (e.altKey) return undefined;
  const chord = e.ctrlKey || e.metaKey;
  const key = e.key.toLowerCase();
  if (chord && key === "k") return "switcher";
  if (chord && key === "f") return "search";
  if (chord && key === "/") return "help";
  if (chord || typing(e.target)) return undefined;
  if (key === "/") return "search";
  if (key === "?") return "help";
  return undefined;
}

export function useShortcuts(actions: ShortcutActions, enabled: boolean): void {
  const latest = useRef(actions);
  latest.current = actions;
  useEffect(() => {
    if (!enabled) return;
    const onKey = (e: KeyboardEvent) => {
      const action = shortcutFor(e);
      if (action === undefined) return;
      e.preventDefault();
      latest.current[action]();
    };
    window.addEventListener("keydown", onKey);
    return () => {
      window.removeEventListener("keydown", onKey);
    };
  }, [enabled]);
}

export function ShortcutHelp({ onClose }: { onClose: () => void }) {
  return (
    <Dialog title="Keyboard shortcuts" onClose={onClose}>
      <table className="shortcuts">
        <thead>
          <tr>
            <th scope="col">Keys</th>
            <th scope="col">Action</th>
          </tr>
        </thead>
        <tbody>
          {SHORTCUTS.map((s) => (
            <tr key={s.keys}>
              <td>
                <kbd>{s.keys}</kbd>
              </td>
              <td>{s.what}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <div className="actions">
        <button type="button" onClick={onClose}>
          Close
        </button>
      </div>
    </Dialog>
  );
}

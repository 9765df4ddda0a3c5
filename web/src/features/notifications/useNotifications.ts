/**
 * Shows a system notification for each message from someone else (the engine's `onIncoming`)
 * while the page is hidden or that conversation is not open. A click focuses this tab and opens
 * the conversation at the message. Permission is never asked on load: `asking` turns true after
 * the first message arrives while the browser has not been asked yet, and the app then offers
 * "Turn on" (a click, so the browser's prompt follows a user gesture).
 */

import { useEffect, useRef, useState } from "react";

import { useSotto } from "../../lib/sotto";
import { notificationText, shouldNotify } from "./notify";
import { permission, readSettings } from "./settings";

export function useNotifications({
  openConv,
  onOpen,
}: {
  /** The conversation shown now, if any. */
  openConv: string | undefined;
  onOpen: (conv: string, message: string) => void;
}): { asking: boolean; dismiss: () => void } {
  const client = useSotto();
  const [asking, setAsking] = useState(false);
  // The listener is registered once; what it reads changes with every render.
  const latest = useRef({ openConv, onOpen });
  latest.current = { openConv, onOpen };

  useEffect(
    () =>
      client.onIncoming((conv, message) => {
        const settings = readSettings();
        const allowed = permission();
        if (!settings.enabled) return;
        if (allowed === "default") {
          setAsking(true);
          return;
        }
        if (allowed !== "granted") return;
        const hidden = document.visibilityState === "hidden";
        if (!shouldNotify({ hidden, openConv: latest.current.openConv, conv })) return;
        const view = client.getView().conversations.find((c) => c.id === conv);
        const { title, body } = notificationText(message, view, settings.content);
        try {
          // The tag makes a conversation's next notification replace its last one.
          const n = new Notification(title, { body, tag: conv });
          n.onclick = () => {
            window.focus();
            latest.current.onOpen(conv, message.id);
            n.close();
          };
        } catch {
          // Some browsers allow notifications only from a service worker: none shown then.
        }
      }),
    [client],
  );

  return {
    asking,
    dismiss: () => {
      setAsking(false);
    },
  };
}

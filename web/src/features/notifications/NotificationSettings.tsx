/**
 * The notification settings (Settings screen) and the one-time offer to turn notifications on
 * (shown after the first message arrives, never on load).
 */

import { useState } from "react";

import { type Permission, permission, useNotificationSettings, writeSettings } from "./settings";

/** Asks the browser; resolves to what it answered. */
async function ask(): Promise<Permission> {
  if (typeof Notification === "undefined") return "unsupported";
  return Notification.requestPermission();
}

export function NotificationSettings() {
  const settings = useNotificationSettings();
  const [allowed, setAllowed] = useState<Permission>(permission);
  const unsupported = allowed === "unsupported";
  return (
    <fieldset className="settings-group">
      <legend>Notifications</legend>
      <label className="check">
        <input
          type="checkbox"
          checked={settings.enabled && allowed === "granted"}
          disabled={unsupported || allowed === "denied"}
          onChange={(e) => {
            const on = e.target.checked;
            writeSettings({ enabled: on });
            if (on && allowed === "default") void ask().then(setAllowed);
          }}
        />
        Notify me of new messages
      </label>
      <label className="check">
        <input
          type="checkbox"
          checked={settings.content}
          onChange={(e) => {
            writeSettings({ content: e.target.checked });
          }}
        />
        Show message content in notifications
      </label>
      <p className="hint" data-testid="notification-permission">
        {unsupported
          ? "This browser does not show notifications."
          : allowed === "denied"
            ? "Notifications are blocked for this site in the browser's settings."
            : allowed === "default"
              ? "The browser will ask you to allow notifications."
              : "Shown when Sotto is in the background or another conversation is open."}
      </p>
    </fieldset>
  );
}

/** "Get notified?" after the first message: the browser's prompt follows this click. */
export function NotificationOffer({ onDone }: { onDone: () => void }) {
  return (
    <div className="banner" role="region" aria-label="Notifications" data-testid="notify-offer">
      <p>Get a notification when a message arrives while Sotto is in the background?</p>
      <div className="actions">
        <button
          type="button"
          className="primary"
          onClick={() => {
            writeSettings({ enabled: true });
            void ask().finally(onDone);
          }}
        >
          Turn on notifications
        </button>
        <button
          type="button"
          onClick={() => {
            writeSettings({ enabled: false });
            onDone();
          }}
        >
          Not now
        </button>
      </div>
    </div>
  );
}

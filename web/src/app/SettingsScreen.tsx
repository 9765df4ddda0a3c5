/** Settings kept on this browser: notifications, the theme, and the ways to the rest. */

import { navigate } from "../components/route";
import { NotificationSettings } from "../features/notifications/NotificationSettings";
import { ThemeToggle } from "./theme";

export function SettingsScreen({ onHelp }: { onHelp: () => void }) {
  return (
    <section className="page" aria-labelledby="settings-title">
      <h2 id="settings-title">Settings</h2>
      <NotificationSettings />
      <fieldset className="settings-group">
        <legend>Appearance</legend>
        <ThemeToggle />
      </fieldset>
      <div className="actions">
        <button
          type="button"
          onClick={() => {
            navigate({ kind: "blocked" });
          }}
        >
          Blocked users
        </button>
        <button type="button" onClick={onHelp}>
          Keyboard shortcuts
        </button>
        <button
          type="button"
          onClick={() => {
            navigate({ kind: "home" });
          }}
        >
          Close
        </button>
      </div>
    </section>
  );
}

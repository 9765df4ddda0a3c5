/**
 * The top bar: the app's name, the connection, and the actions. Each action is an icon whose name
 * is its accessible name and tooltip ("New chat" also shows it beside the icon, except at phone
 * width), so the bar keeps to one row. At phone width Blocked users, the theme and the shortcut
 * help are reached from Settings instead.
 */

import type { ReactNode } from "react";

import { ConnectionBadge } from "../components/ui";
import { navigate, type Route } from "../components/route";
import {
  BlockIcon,
  DevicesIcon,
  KeyboardIcon,
  PlusIcon,
  SearchIcon,
  SettingsIcon,
} from "../components/ui/icons";
import { useSotto, useSottoView } from "../lib/sotto";
import { LogoutButton } from "./Logout";
import { ThemeToggle } from "./theme";

function Action({
  label,
  icon,
  to,
  onClick,
  primary,
  wideOnly,
  current,
}: {
  label: string;
  icon: ReactNode;
  to?: Route;
  onClick?: () => void;
  primary?: boolean;
  /** Hidden at phone width (reachable from Settings there). */
  wideOnly?: boolean;
  current?: boolean;
}) {
  const cls = [
    "icon-button",
    primary === true ? "primary" : "",
    wideOnly === true ? "wide-only" : "",
  ]
    .filter((c) => c !== "")
    .join(" ");
  return (
    <button
      type="button"
      className={cls}
      aria-label={label}
      title={label}
      aria-current={current === true ? "page" : undefined}
      onClick={() => {
        if (to !== undefined) navigate(to);
        onClick?.();
      }}
    >
      {icon}
      <span className="label">{label}</span>
    </button>
  );
}

export function TopBar({ route, onHelp }: { route: Route; onHelp: () => void }) {
  const client = useSotto();
  const view = useSottoView();
  return (
    <header className="topbar">
      <h1>Sotto</h1>
      <ConnectionBadge
        state={view.connection}
        secondary={view.secondaryTab}
        onRetry={() => {
          client.retryConnection();
        }}
      />
      {view.held > 0 && <span className="badge wide-only">{view.held} waiting for keys</span>}
      <span className="hint wide-only" data-testid="me">
        {view.me?.username}
      </span>
      <Action label="New chat" icon={<PlusIcon />} to={{ kind: "new" }} primary />
      <Action
        label="Search"
        icon={<SearchIcon />}
        to={{ kind: "search" }}
        current={route.kind === "search"}
      />
      <Action
        label="Devices"
        icon={<DevicesIcon />}
        to={{ kind: "devices" }}
        current={route.kind === "devices"}
      />
      <Action
        label="Blocked users"
        icon={<BlockIcon />}
        to={{ kind: "blocked" }}
        wideOnly
        current={route.kind === "blocked"}
      />
      <Action
        label="Settings"
        icon={<SettingsIcon />}
        to={{ kind: "settings" }}
        current={route.kind === "settings"}
      />
      <Action label="Keyboard shortcuts" icon={<KeyboardIcon />} onClick={onHelp} wideOnly />
      <span className="wide-only">
        <ThemeToggle />
      </span>
      <LogoutButton />
    </header>
  );
}

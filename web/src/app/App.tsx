/**
 * The application shell: the screen comes from the address (`components/route.ts`, one hash per
 * screen and per conversation), so Back/Forward and a reload keep the user where they were. It
 * reaches the engine through the hooks of `lib/sotto` like every feature; `main.tsx` mounts the
 * one `SottoProvider` around it.
 */

import { useEffect, useState } from "react";

import { ErrorText } from "../components/ui";
import { goBack, navigate, type Route, routeHash, useRoute } from "../components/route";
import { AuthScreen, AwaitingApproval } from "../features/auth/AuthScreen";
import { NewConversation } from "../features/conversations/NewConversation";
import { Switcher } from "../features/conversations/Switcher";
import { DevicesScreen } from "../features/devices/DevicesScreen";
import { ChatView } from "../features/messages/ChatView";
import { MembersPanel } from "../features/messages/MembersPanel";
import { NotificationOffer } from "../features/notifications/NotificationSettings";
import { useNotifications } from "../features/notifications/useNotifications";
import { RecoverScreen } from "../features/recovery/RecoverScreen";
import { RecoveredDialog } from "../features/recovery/RecoveredDialog";
import { RecoveryPanel } from "../features/recovery/RecoveryPanel";
import { RecoveryOffer } from "../features/recovery/RecoveryOffer";
import { BlockedUsers } from "../features/requests/BlockedUsers";
import { RequestList } from "../features/requests/RequestList";
import { SearchScreen } from "../features/search/SearchScreen";
import { IdentityChangeWarning } from "../features/verification/IdentityChangeWarning";
import { SafetyNumberScreen } from "../features/verification/SafetyNumber";
import type { AppView } from "../lib/engine/model";
import { useSottoView } from "../lib/sotto";
import { OtherTab } from "./OtherTab";
import { SettingsScreen } from "./SettingsScreen";
import { ShortcutHelp, useShortcuts } from "./shortcuts";
import { Sidebar } from "./Sidebar";
import { TopBar } from "./TopBar";
import { useScrollToMessage } from "./scrollToMessage";
import { useDocumentTitle } from "./title";

/**
 * How long after the app is ready an unknown conversation id still counts as loading: the
 * conversations come from the sealed store just after the phase turns ready.
 */
const SETTLE_MS = 1500;

/** The conversation a route is about, if any. */
function routeConv(route: Route): string | undefined {
  return route.kind === "chat" || route.kind === "members" ? route.conv : undefined;
}

export function App() {
  const view = useSottoView();
  const route = useRoute();
  const [recovering, setRecovering] = useState(false);
  const [switcher, setSwitcher] = useState(false);
  const [help, setHelp] = useState(false);
  /** The search box's words: in memory only (see the search route), for this page's life. */
  const [searchQuery, setSearchQuery] = useState("");
  const ready = view.phase.kind === "ready" && !view.secondaryTab;

  const me = view.me?.account;
  // Another account on this browser never sees the last one's search words.
  useEffect(() => {
    setSearchQuery("");
  }, [me]);
  const convId = routeConv(route);
  const unread = view.conversations.reduce((n, c) => n + c.unread, 0);
  useDocumentTitle(ready ? unread : 0);

  useScrollToMessage(ready && route.kind === "chat" ? route.m : undefined);

  // Signed out, the address forgets the last account's screen: whoever signs in next (another
  // account on a shared computer) starts from their own list, not "Conversation not found".
  const signedOut = view.phase.kind === "signed-out";
  useEffect(() => {
    if (signedOut) navigate({ kind: "home" }, { replace: true });
  }, [signedOut]);

  const notifications = useNotifications({
    openConv: route.kind === "chat" ? route.conv : undefined,
    onOpen: (conv, m) => {
      navigate({ kind: "chat", conv, m });
    },
  });

  useShortcuts(
    {
      switcher: () => {
        setHelp(false);
        setSwitcher((open) => !open);
      },
      search: () => {
        setSwitcher(false);
        setHelp(false);
        navigate({ kind: "search" });
        document.getElementById("search-box")?.focus();
      },
      help: () => {
        setSwitcher(false);
        setHelp(true);
      },
    },
    ready,
  );

  switch (view.phase.kind) {
    case "loading":
      return (
        <main className="auth" aria-busy="true">
          <p>Opening Sotto…</p>
          {view.error !== undefined && (
            <p role="status" data-testid="boot-status">
              {view.error}
            </p>
          )}
        </main>
      );
    case "signed-out":
      return recovering ? (
        <RecoverScreen
          onCancel={() => {
            setRecovering(false);
          }}
        />
      ) : (
        <AuthScreen
          knownUsername={view.phase.knownUsername}
          error={view.error}
          onRecover={() => {
            setRecovering(true);
          }}
        />
      );
    case "awaiting-approval":
      return <AwaitingApproval code={view.phase.code} device={view.phase.device} />;
    case "ready":
      break;
  }
  if (view.secondaryTab) return <OtherTab />;

  const reviewing = route.kind === "safety" ? route.account : undefined;
  const alert = view.alerts.find((a) => a.account !== reviewing);
  const inContent = route.kind !== "home";
  return (
    <>
      <a href="#content" className="skip-link">
        Skip to content
      </a>
      <div className="shell" id="app-shell">
        <TopBar
          route={route}
          onHelp={() => {
            setHelp(true);
          }}
        />
        {/* One main landmark for both panes: at phone width only one of them shows. */}
        <main className={inContent ? "main has-chat" : "main"}>
          <div className="sidebar">
            <Sidebar
              conversations={view.conversations}
              requests={view.requests}
              selected={convId}
              me={me}
              onRequestsRoute={route.kind === "requests" || route.kind === "request"}
              onRequests={() => {
                navigate({ kind: "requests" });
              }}
            />
          </div>
          <div className="content" id="content" tabIndex={-1}>
            <ErrorText error={view.error} />
            {view.recovery.offer && <RecoveryOffer />}
            {notifications.asking && <NotificationOffer onDone={notifications.dismiss} />}
            <Screen
              route={route}
              view={view}
              onHelp={() => {
                setHelp(true);
              }}
              search={{ query: searchQuery, onQuery: setSearchQuery }}
            />
          </div>
        </main>
      </div>
      {switcher && (
        <Switcher
          conversations={view.conversations}
          me={me}
          onClose={() => {
            setSwitcher(false);
          }}
          onOpen={(conv) => {
            setSwitcher(false);
            navigate({ kind: "chat", conv });
          }}
        />
      )}
      {help && (
        <ShortcutHelp
          onClose={() => {
            setHelp(false);
          }}
        />
      )}
      {alert !== undefined && (
        <IdentityChangeWarning
          alert={alert}
          onReview={(account) => {
            navigate({ kind: "safety", account });
          }}
        />
      )}
      {alert === undefined && view.recovery.recovered !== undefined && (
        <RecoveredDialog others={view.recovery.recovered} />
      )}
    </>
  );
}

/** The content pane for a route. */
function Screen({
  route,
  view,
  onHelp,
  search,
}: {
  route: Route;
  view: AppView;
  onHelp: () => void;
  search: { readonly query: string; readonly onQuery: (q: string) => void };
}) {
  const settled = useSettled();
  useFocusOnNavigation(route);
  const verify = (account: string) => {
    navigate({ kind: "safety", account });
  };
  const home = () => {
    navigate({ kind: "home" });
  };

  switch (route.kind) {
    case "home":
      return <p className="page hint">Select a conversation, or start a new one.</p>;
    case "new":
      return (
        <NewConversation
          onCreated={(conv) => {
            navigate({ kind: "chat", conv }, { replace: true });
          }}
          onCancel={home}
        />
      );
    case "chat":
    case "members": {
      const conv = view.conversations.find((c) => c.id === route.conv);
      if (conv === undefined) {
        // A request is not a conversation yet: its own screen shows it.
        if (view.requests.some((r) => r.info.conversation === route.conv))
          return <Redirect to={{ kind: "request", conv: route.conv }} />;
        return settled ? (
          <NotFound />
        ) : (
          <p className="page" role="status">
            Loading conversation…
          </p>
        );
      }
      if (route.kind === "members")
        return (
          <MembersPanel
            conv={conv}
            onClose={() => {
              navigate({ kind: "chat", conv: conv.id });
            }}
            onVerify={verify}
          />
        );
      return (
        <ChatView
          key={conv.id}
          conv={conv}
          onBack={home}
          onMembers={() => {
            navigate({ kind: "members", conv: conv.id });
          }}
          onVerify={verify}
        />
      );
    }
    case "requests":
      return (
        <RequestList
          requests={view.requests}
          onOpen={(conv) => {
            navigate({ kind: "request", conv });
          }}
          onAccepted={(conv) => {
            navigate({ kind: "chat", conv }, { replace: true });
          }}
        />
      );
    case "request": {
      const opened = view.requests.find((r) => r.info.conversation === route.conv);
      if (opened === undefined)
        // Accepted elsewhere (another device, or "New chat" with them): a conversation now.
        return view.conversations.some((c) => c.id === route.conv) ? (
          <Redirect to={{ kind: "chat", conv: route.conv }} />
        ) : (
          <p className="page">This request is no longer pending.</p>
        );
      if (opened.conversation === undefined) return <p className="page">Loading the request…</p>;
      return (
        <ChatView
          key={route.conv}
          conv={opened.conversation}
          request={opened.info}
          onBack={() => {
            navigate({ kind: "requests" });
          }}
          onMembers={() => undefined}
          onVerify={verify}
          onAccepted={(conv) => {
            navigate({ kind: "chat", conv }, { replace: true });
          }}
        />
      );
    }
    case "blocked":
      return <BlockedUsers onClose={home} />;
    case "devices":
      return (
        <>
          <DevicesScreen onClose={home} />
          <div className="page">
            <RecoveryPanel />
          </div>
        </>
      );
    case "settings":
      return <SettingsScreen onHelp={onHelp} />;
    case "search":
      return <SearchScreen query={search.query} onQuery={search.onQuery} />;
    case "safety":
      return (
        <SafetyNumberScreen
          account={route.account}
          onClose={() => {
            goBack({ kind: "home" });
          }}
        />
      );
  }
}

function NotFound() {
  return (
    <section className="page" aria-labelledby="not-found-title">
      <h2 id="not-found-title">Conversation not found</h2>
      <p>
        This browser holds no conversation at this address: it may have been removed, or it belongs
        to another account.
      </p>
      <p>
        <a href={routeHash({ kind: "home" })}>Back to your conversations</a>
      </p>
    </section>
  );
}

/** Rewrites the address (no history entry): the same thing lives at another one. */
function Redirect({ to }: { to: Route }) {
  useEffect(() => {
    navigate(to, { replace: true });
  }, [to]);
  return null;
}

/** False for a moment after the shell mounts: an id not found yet may still be loading. */
function useSettled(): boolean {
  const [settled, setSettled] = useState(false);
  useEffect(() => {
    const t = setTimeout(() => {
      setSettled(true);
    }, SETTLE_MS);
    return () => {
      clearTimeout(t);
    };
  }, []);
  return settled;
}

/**
 * Focus follows navigation: the new screen's heading (the chat view focuses its composer, the
 * search screen its box), so a screen reader announces where the user went.
 */
function useFocusOnNavigation(route: Route): void {
  const hash = routeHash(route);
  useEffect(() => {
    if (route.kind === "chat" || route.kind === "home" || route.kind === "search") return;
    const heading = document.querySelector<HTMLElement>("#content h2");
    if (heading !== null) {
      heading.tabIndex = -1;
      heading.focus();
    }
    // Once per address, not on every render.
  }, [hash]);
}
